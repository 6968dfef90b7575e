namespace TritonOps.Kernels.Tensors;

/// <summary>
/// <c>destination[i] = narrow(widen(source[i]))</c> between float32, float16 and bfloat16, dense on both sides: the
/// conversion behind <c>Tensor.To(dtype)</c> (PyTorch's <c>x.to(dtype)</c>: widening is exact, narrowing rounds to nearest
/// even, NaN stays NaN, overflow goes to ±Inf). One element a thread in a grid-stride loop; a conversion moves few bytes
/// a model step (tables, biases, scales), so it is not packed.
/// </summary>
internal static class CastKernel
{
    /// <summary>Threads per block.</summary>
    public const int Threads = 256;

    [GlobalMemoryOnly]
    public static void Cast<TFrom, TTo>(ArrayView<byte> source, ArrayView<byte> destination, long count)
        where TFrom : struct, IElementType
        where TTo : struct, IElementType
    {
        for (long i = Grid.GlobalIndex.X; i < count; i += (long)Grid.DimX * Group.DimX)
            TTo.StoreBits(destination, i, TTo.Narrow(TFrom.Widen(TFrom.LoadBits(source, i))));
    }

    /// <summary>The conversion from <paramref name="from"/> to <paramref name="to"/> (element types of <see cref="ElementTypes.Floats"/>).</summary>
    public static MethodInfo Variant(Type from, Type to) => KernelMethods.Get(typeof(CastKernel), nameof(Cast), from, to);

    /// <summary>Every conversion between two different float dtypes, for the PTX codegen test.</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        from f in ElementTypes.Floats from t in ElementTypes.Floats where f != t select Variant(f, t);
}
