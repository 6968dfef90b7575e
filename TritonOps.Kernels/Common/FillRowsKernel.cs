namespace TritonOps.Kernels.Common;

/// <summary>The result of a product with nothing to sum (K = 0): every row is the bias, or zeros.</summary>
internal static class FillRowsKernel
{
    public const int Threads = 256;

    /// <summary>output[r, c] = bias[c] (or 0 without a bias), rounded once into <typeparamref name="TElement"/>;
    /// a grid-stride loop over the <paramref name="count"/> elements of the row-major [count / cols, cols] output.</summary>
    [GlobalMemoryOnly]
    public static void Run<TElement>(ArrayView<byte> output, ArrayView<float> bias, int cols, long count, int hasBias)
        where TElement : struct, IElementType
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < count; i += stride)
            TElement.StoreBits(output, i, TElement.Narrow(hasBias != 0 ? bias[(int)(i % cols)] : 0f));
    }

    public static MethodInfo Variant(Type element) => KernelMethods.Get(typeof(FillRowsKernel), nameof(Run), element);

    public static IEnumerable<MethodInfo> AllVariants() => ElementTypes.Floats.Select(Variant);
}
