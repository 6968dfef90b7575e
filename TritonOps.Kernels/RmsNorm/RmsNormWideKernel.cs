namespace TritonOps.Kernels.RmsNorm;

/// <summary>
/// <see cref="RmsNormRowKernel"/>'s formulas for rows too wide to hold in registers (more than 1024 threads ×
/// 8 runs: above 65 536 16-bit or 32 768 float32 elements packed, 8 192 scalar): one block per row walks it
/// twice, first for the sum of squares (storing the new residual as it goes), then re-reading the row (from
/// cache, or the residual this thread just stored) to normalize it. Each element is read and written by one
/// thread, read before written, so the output may be x itself here too.
/// </summary>
internal static class RmsNormWideKernel
{
    /// <summary>Block size (fewer when the kernel's registers do not allow it).</summary>
    public const int Threads = 1024;

    [GlobalMemoryOnly]
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape)
        where TAccess : struct, IRunAccess =>
        Row<TAccess>(x, residual, weight, output, shape, addResidual: false);

    [GlobalMemoryOnly]
    public static void RunAddResidual<TAccess>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape)
        where TAccess : struct, IRunAccess =>
        Row<TAccess>(x, residual, weight, output, shape, addResidual: true);

    private static void Row<TAccess>(
        ArrayView<byte> x, ArrayView<byte> residual, ArrayView<byte> weight, ArrayView<byte> output, RmsNormShape shape, bool addResidual)
        where TAccess : struct, IRunAccess
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        long rowRun = (long)Grid.IdxX * shape.RowRuns;
        float sumOfSquares = 0f;
        for (int r = Group.IdxX; r < shape.RowRuns; r += Group.DimX)
        {
            Vec4U raw = TAccess.LoadRaw(x, rowRun + r);
            if (addResidual)
            {
                raw = TAccess.Pack(RmsNormMath.Add(TAccess.Unpack(raw), TAccess.Unpack(TAccess.LoadRaw(residual, rowRun + r))));
                TAccess.StoreRaw(residual, rowRun + r, raw);
            }
            sumOfSquares += TAccess.Unpack(raw).SumOfSquares();
        }
        float rstd = PtxMath.Rsqrt(BlockReduce.Sum(sumOfSquares, scratch) * shape.InvHidden + shape.Eps);
        var source = addResidual ? residual : x;
        for (int r = Group.IdxX; r < shape.RowRuns; r += Group.DimX)
        {
            TAccess.Store(output, rowRun + r, RmsNormMath.Normalize<TAccess>(
                TAccess.Unpack(TAccess.LoadRaw(source, rowRun + r)), TAccess.Unpack(TAccess.LoadRaw(weight, r)), rstd, shape));
        }
    }

    /// <summary>The instantiation for a dtype, access form and residual add or not.</summary>
    public static MethodInfo Variant(Type element, bool packed, bool addResidual) =>
        KernelMethods.Get(typeof(RmsNormWideKernel), addResidual ? nameof(RunAddResidual) : nameof(Run), RunAccess.Of(element, packed));

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats from packed in new[] { true, false } from addResidual in new[] { false, true }
        select Variant(element, packed, addResidual);
}
