namespace TritonOps.Kernels.RmsNorm;

/// <summary>
/// RMSNorm, plain or after a residual add, one row per block, the row held in registers between its one
/// load and its one store (the structure of <c>RmsNormRopeRowKernel</c>):
///   plain:        y = x · rsqrt(mean(x²) + eps) · (w + offset)
///   residual add: r ← round(r + x);  y = r · rsqrt(mean(r²) + eps) · (w + offset)
/// Blocks are small (≤ 128 threads for rows up to <see cref="MaxRunsPerThread"/> · 128 runs) and short-lived,
/// so an SM keeps a dozen or more of them, and their rows' loads, in flight at once. Thread t holds runs
/// t, t + blockDim, … (<c>TRuns</c>): every load it will need (x, the residual, the weight) is issued before
/// the first is used; the new residual is stored before the reduction, the output after it. The sum of
/// squares is a fixed-order block reduction (the same bits on every run); its reciprocal square root is the
/// hardware <c>rsqrt.approx</c> on CUDA (relative error below 2⁻²²).
/// A thread reads each of its elements before it writes the same element, and no thread touches
/// another's, so the output may be x itself (vLLM's in-place form).
/// </summary>
internal static class RmsNormRowKernel
{
    /// <summary>The most runs one thread holds (<see cref="RunTypes"/>' last).</summary>
    public const int MaxRunsPerThread = 8;

    /// <summary>Block size aimed for, as the RoPE row kernel's sweep chose; wider rows take bigger blocks, up to 1024 threads.</summary>
    public const int TargetThreads = 128;

    [GlobalMemoryOnly]
    [ProgrammaticLaunch]
    public static void Run<TAccess, TRuns>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape)
        where TAccess : struct, IRunAccess
        where TRuns : struct, IRowRuns<TRuns> =>
        Row<TAccess, TRuns>(x, residual, weight, output, shape, addResidual: false);

    /// <summary><see cref="Run"/> after <c>residual ← residual + x</c> (stored in place); the norm reads the stored sum.</summary>
    [GlobalMemoryOnly]
    [ProgrammaticLaunch]
    public static void RunAddResidual<TAccess, TRuns>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape)
        where TAccess : struct, IRunAccess
        where TRuns : struct, IRowRuns<TRuns> =>
        Row<TAccess, TRuns>(x, residual, weight, output, shape, addResidual: true);

    private static void Row<TAccess, TRuns>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape, bool addResidual)
        where TAccess : struct, IRunAccess
        where TRuns : struct, IRowRuns<TRuns>
    {
        PtxGridDependency.AtEntry();
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int first = Group.IdxX, step = Group.DimX;
        long rowRun = (long)Grid.IdxX * shape.RowRuns;
        // Every load before any use: the row's x (and residual) from DRAM, then the weight (cache hits).
        TRuns values = TRuns.Load<TAccess, PaddedRows>(x, rowRun, first, step, shape.RowRuns);
        TRuns weights;
        if (addResidual)
        {
            TRuns old = TRuns.Load<TAccess, PaddedRows>(residual, rowRun, first, step, shape.RowRuns);
            weights = TRuns.Load<TAccess, PaddedRows>(weight, 0, first, step, shape.RowRuns);
            values = TRuns.AddAndStore<TAccess>(values, old, residual, rowRun, first, step, shape.RowRuns);
        }
        else
        {
            weights = TRuns.Load<TAccess, PaddedRows>(weight, 0, first, step, shape.RowRuns);
        }
        float sumOfSquares = BlockReduce.Sum(TRuns.SumOfSquares<TAccess>(values), scratch);
        float rstd = PtxMath.Rsqrt(sumOfSquares * shape.InvHidden + shape.Eps);
        TRuns.NormalizeAndStore<TAccess>(values, weights, output, rowRun, first, step, rstd, shape);
    }

    /// <summary>Register holders of 1, 2, 4 and 8 runs.</summary>
    public static readonly Type[] RunTypes = [typeof(OneRun), typeof(Twice<OneRun>), typeof(Twice<Twice<OneRun>>), typeof(Twice<Twice<Twice<OneRun>>>)];

    /// <summary>Runs per thread and block size for a row of <paramref name="runs"/> runs (the fewest runs a thread
    /// that keep the block within <see cref="TargetThreads"/>, or <paramref name="runsPerThread"/> when given), or
    /// null when the row needs more than 1024 threads × <see cref="MaxRunsPerThread"/> (<see cref="RmsNormWideKernel"/>'s case).</summary>
    public static (int RunsPerThread, int Threads)? Plan(int runs, int runsPerThread = 0)
    {
        int perThread = 1;
        if (runsPerThread > 0)
            perThread = runsPerThread;
        else
            while (perThread < MaxRunsPerThread && (runs + perThread - 1) / perThread > TargetThreads)
                perThread *= 2;
        int threads = Math.Max(32, ((runs + perThread - 1) / perThread + 31) / 32 * 32);
        return threads <= 1024 ? (perThread, threads) : null;
    }

    /// <summary>The instantiation for a dtype, access form, residual add or not, and runs per thread (1, 2, 4 or 8).</summary>
    public static MethodInfo Variant(Type element, bool packed, bool addResidual, int runsPerThread) =>
        KernelMethods.Get(typeof(RmsNormRowKernel), addResidual ? nameof(RunAddResidual) : nameof(Run),
            RunAccess.Of(element, packed), RunTypes[System.Numerics.BitOperations.Log2((uint)runsPerThread)]);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
            foreach (bool packed in new[] { true, false })
                foreach (bool addResidual in new[] { false, true })
                    for (int perThread = 1; perThread <= MaxRunsPerThread; perThread *= 2)
                        yield return Variant(element, packed, addResidual, perThread);
    }
}
