namespace TritonOps.Kernels.Linear;

/// <summary>
/// x · Wᵀ (+ bias) (+ residual) with one thread per output, float32 sums: the general path of Linear, for float32,
/// GPUs before sm_80 (no 16-bit m16n8k16 <c>mma.sync</c>) and K = 0 (an empty sum: the bias plus the residual). Correct
/// for every shape, not fast; 16-bit products take the tensor-core kernels of <c>Gemm/</c> (see <c>LinearPlan</c>).
/// </summary>
internal static class LinearRowsKernel
{
    public const int Side = 16;

    [GlobalMemoryOnly]
    public static void Run<TElement>(ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> output, GatedMlpShape s, EpilogueArgs e)
        where TElement : struct, IElementType
    {
        int n = Grid.IdxX * Group.DimX + Group.IdxX, m = Grid.IdxY * Group.DimY + Group.IdxY;
        if (n >= s.N || m >= s.M)
            return;
        long xRow = (long)m * s.K, wRow = (long)n * s.K, at = (long)m * s.N + n;
        float sum = 0f;
        for (int k = 0; k < s.K; k++)
            sum += TElement.Widen(TElement.LoadBits(x, xRow + k)) * TElement.Widen(TElement.LoadBits(weight, wRow + k));
        if (e.HasBias != 0)
            sum += TElement.Widen(TElement.LoadBits(e.Bias, n));
        if (e.HasResidual != 0)
            sum = (e.RoundBeforeResidual != 0 ? TElement.Widen(TElement.Narrow(sum)) : sum) + TElement.Widen(TElement.LoadBits(e.Residual, at));
        TElement.StoreBits(output, at, TElement.Narrow(sum));
    }

    public static MethodInfo Variant(Type element) => KernelMethods.Get(typeof(LinearRowsKernel), nameof(Run), element);

    public static IEnumerable<MethodInfo> AllVariants() => ElementTypes.Floats.Select(Variant);
}
