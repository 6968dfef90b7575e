namespace TritonOps.Kernels.Tensors;

/// <summary>
/// Sizes and strides (in elements) of one strided copy, up to <see cref="StridedCopyShape.MaxRank"/>
/// dimensions. Both sides share the sizes; each has its own strides and element offset. Unused leading
/// dimensions have size 1 (the caller pads), so the kernel walks all eight without a rank.
/// </summary>
internal struct StridedCopyShape
{
    /// <summary>Dimensions a launch can describe (after the caller merges the ones it can).</summary>
    public const int MaxRank = 8;

    /// <summary>Elements to copy (the product of the sizes).</summary>
    public long Count;
    /// <summary>Element offset of the first source element.</summary>
    public long SourceOffset;
    /// <summary>Element offset of the first destination element.</summary>
    public long DestinationOffset;

    /// <summary>Sizes, outermost first (Size7 varies fastest).</summary>
    public long Size0, Size1, Size2, Size3, Size4, Size5, Size6, Size7;
    /// <summary>Source strides, same order.</summary>
    public long Source0, Source1, Source2, Source3, Source4, Source5, Source6, Source7;
    /// <summary>Destination strides, same order.</summary>
    public long Destination0, Destination1, Destination2, Destination3, Destination4, Destination5, Destination6, Destination7;
}

/// <summary>
/// <c>destination[offsetD + Σ iₖ·dₖ] = source[offsetS + Σ iₖ·sₖ]</c> for every index (i₀ … i₇) of the
/// shape: the gather behind <c>Tensor.Contiguous()</c> (a dense destination) and the scatter behind
/// <c>CopyFrom</c> into a strided view (a dense source). One element per thread in a grid-stride loop;
/// the element type only sets the width of each load and store (1, 2, 4 or 8 bytes).
/// </summary>
internal static class StridedCopyKernel
{
    /// <summary>Threads per block.</summary>
    public const int Threads = 256;

    /// <summary>The copy; <typeparamref name="T"/> is byte, ushort, uint or ulong by element size.</summary>
    [GlobalMemoryOnly]
    public static void Copy<T>(ArrayView<byte> source, ArrayView<byte> destination, StridedCopyShape shape)
        where T : unmanaged
    {
        var from = source.Cast<T>();
        var to = destination.Cast<T>();
        for (long i = Grid.GlobalIndex.X; i < shape.Count; i += (long)Grid.DimX * Group.DimX)
        {
            long rest = i, s = shape.SourceOffset, d = shape.DestinationOffset;
            // Innermost first; a padded dimension (size 1) skips its 64-bit division.
            if (shape.Size7 != 1) { long q = rest / shape.Size7; long r = rest - q * shape.Size7; s += r * shape.Source7; d += r * shape.Destination7; rest = q; }
            if (shape.Size6 != 1) { long q = rest / shape.Size6; long r = rest - q * shape.Size6; s += r * shape.Source6; d += r * shape.Destination6; rest = q; }
            if (shape.Size5 != 1) { long q = rest / shape.Size5; long r = rest - q * shape.Size5; s += r * shape.Source5; d += r * shape.Destination5; rest = q; }
            if (shape.Size4 != 1) { long q = rest / shape.Size4; long r = rest - q * shape.Size4; s += r * shape.Source4; d += r * shape.Destination4; rest = q; }
            if (shape.Size3 != 1) { long q = rest / shape.Size3; long r = rest - q * shape.Size3; s += r * shape.Source3; d += r * shape.Destination3; rest = q; }
            if (shape.Size2 != 1) { long q = rest / shape.Size2; long r = rest - q * shape.Size2; s += r * shape.Source2; d += r * shape.Destination2; rest = q; }
            if (shape.Size1 != 1) { long q = rest / shape.Size1; long r = rest - q * shape.Size1; s += r * shape.Source1; d += r * shape.Destination1; rest = q; }
            s += rest * shape.Source0;
            d += rest * shape.Destination0;
            to[d] = from[s];
        }
    }

    /// <summary>The element types by size: 1, 2, 4 and 8 bytes.</summary>
    public static readonly Type[] Elements = [typeof(byte), typeof(ushort), typeof(uint), typeof(ulong)];

    /// <summary>The instantiation that moves <paramref name="elementSize"/>-byte elements.</summary>
    public static MethodInfo Variant(int elementSize) => KernelMethods.Get(typeof(StridedCopyKernel), nameof(Copy), elementSize is 1 or 2 or 4 or 8
        ? Elements[System.Numerics.BitOperations.Log2((uint)elementSize)]
        : throw new ArgumentOutOfRangeException(nameof(elementSize), elementSize, "expected 1, 2, 4 or 8 bytes"));

    /// <summary>Every instantiation, for the PTX codegen test.</summary>
    public static IEnumerable<MethodInfo> AllVariants() => Elements.Select(t => KernelMethods.Get(typeof(StridedCopyKernel), nameof(Copy), t));
}
