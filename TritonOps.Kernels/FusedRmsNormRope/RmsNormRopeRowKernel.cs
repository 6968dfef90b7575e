using ILGPU.Algorithms;

using TritonOps.Kernels.QkNormRope;

namespace TritonOps.Kernels.FusedRmsNormRope;

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRope"/>), one row per block, the
/// row held in registers between its one load and its one store. Blocks are small (≤ 128 threads
/// for rows up to <see cref="MaxPairsPerThread"/> · 128 pairs) and short-lived, so an SM keeps a dozen
/// or more of them, and their rows' loads, in flight at once (a persistent kernel one row ahead at 3 blocks an SM,
/// since removed: 2.89 TB/s at bf16 [4, 2048, 4096] on the H200).
/// Thread i holds pairs i, i + blockDim, … (<c>TPairs</c>): its loads are issued together, the sum of
/// squares is a fixed-order block reduction (bit-reproducible), and weight, cos and sin (cache hits)
/// are read before it (<see cref="RunRotationEarly"/>, up to two pairs a thread) or after it.
/// </summary>
internal static class RmsNormRopeRowKernel
{
    /// <summary>The most pairs one thread holds (<see cref="PairTypes"/>' last).</summary>
    public const int MaxPairsPerThread = 8;

    /// <summary>Block size the op aims for; rows of more than <see cref="MaxPairsPerThread"/> × this many
    /// pairs take bigger blocks, up to 1024 threads (H200 sweep, bf16 [4, 2048, 4096]: 3.17 TB/s, 2.82–3.01 at 32, 64, 256).</summary>
    public const int TargetThreads = 128;

    /// <summary>The most pairs per thread for which <see cref="RunRotationEarly"/> is chosen.</summary>
    public const int EarlyRotationMaxPairs = 2;

    [GlobalMemoryOnly]
    public static void Run<TAccess, TPairs>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs> =>
        Row<TAccess, TPairs>(x, weight, cos, sin, output, shape, rotationEarly: false);

    /// <summary><see cref="Run"/> with each pair's weight, cos and sin issued before the reduction: their
    /// latency hides behind it, at the cost of registers. Worth it up to <see cref="EarlyRotationMaxPairs"/>
    /// pairs per thread (H200, 2 pairs: 46.5 → 44.4 µs; at 4 the registers go 70 → 167).</summary>
    [GlobalMemoryOnly]
    public static void RunRotationEarly<TAccess, TPairs>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs> =>
        Row<TAccess, TPairs>(x, weight, cos, sin, output, shape, rotationEarly: true);

    private static void Row<TAccess, TPairs>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, bool rotationEarly)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs>
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int row = Grid.IdxX;
        long rowRun = (long)row * shape.RowRuns;
        TPairs pairs = TPairs.Load<TAccess>(x, rowRun, Group.IdxX, Group.DimX, shape);
        int ropeRun = row % shape.Seq * shape.HeadRuns; // after the x loads are issued: the modulo is slow
        if (rotationEarly)
            pairs = TPairs.LoadRotation<TAccess>(pairs, weight, cos, sin, ropeRun, Group.IdxX, Group.DimX, shape);
        float sumOfSquares = BlockReduce.Sum(TPairs.SumOfSquares<TAccess>(pairs), scratch);
        float rstd = XMath.Rsqrt(sumOfSquares * shape.InvHidden + shape.Eps);
        TPairs.RotateAndStore<TAccess>(pairs, weight, cos, sin, output, rowRun, ropeRun, Group.IdxX, Group.DimX, rstd, rotationEarly, shape);
    }

    /// <summary>Register holders of 1, 2, 4 and 8 pairs.</summary>
    public static readonly Type[] PairTypes = [typeof(OnePair), typeof(TwoOf<OnePair>), typeof(TwoOf<TwoOf<OnePair>>), typeof(TwoOf<TwoOf<TwoOf<OnePair>>>)];

    /// <summary>Pairs per thread and block size for a row of <paramref name="pairs"/> pairs, or null when
    /// the row needs more than 1024 threads × <see cref="MaxPairsPerThread"/> (the op then takes the general q/k kernel).</summary>
    public static (int PairsPerThread, int Threads)? Plan(int pairs)
    {
        int perThread = 1;
        while (perThread < MaxPairsPerThread && (pairs + perThread - 1) / perThread > TargetThreads)
            perThread *= 2;
        int threads = ((pairs + perThread - 1) / perThread + 31) / 32 * 32;
        return threads <= 1024 ? (perThread, threads) : null;
    }

    /// <summary>The instantiation for a dtype, access form and pairs per thread (the schedule follows from the latter).</summary>
    public static MethodInfo Variant(Type element, bool packed, int pairsPerThread) =>
        KernelMethods.Get(typeof(RmsNormRopeRowKernel), pairsPerThread <= EarlyRotationMaxPairs ? nameof(RunRotationEarly) : nameof(Run),
            RunAccess.Of(element, packed), PairTypes[System.Numerics.BitOperations.Log2((uint)pairsPerThread)]);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
            foreach (bool packed in new[] { true, false })
                for (int perThread = 1; perThread <= MaxPairsPerThread; perThread *= 2)
                    yield return Variant(element, packed, perThread);
    }
}
