using ILGPU;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Kernels.Elements;

/// <summary>How a thread reads and writes a run of <see cref="Width"/> consecutive elements.
/// Row kernels are generic over this: the packed form moves 16 bytes per access (the only way
/// to approach the copy rate), the scalar form serves shapes whose runs are not 16-byte aligned.</summary>
public interface IRunAccess
{
    static abstract int Width { get; }

    /// <summary>Elements [index, index + Width) into the first Width lanes; index is a multiple of Width.</summary>
    static abstract Vec8F Load(ArrayView<byte> data, long index);

    static abstract void Store(ArrayView<byte> data, long index, in Vec8F values);
}

/// <summary>One 16-byte pack per access.</summary>
public struct PackedRun<TElement> : IRunAccess where TElement : struct, IElementType
{
    public static int Width => TElement.PackWidth;

    public static Vec8F Load(ArrayView<byte> data, long index) =>
        TElement.Unpack(data.Cast<Vec4U>()[index / TElement.PackWidth]);

    public static void Store(ArrayView<byte> data, long index, in Vec8F values) =>
        data.Cast<Vec4U>()[index / TElement.PackWidth] = TElement.Pack(values);
}

/// <summary>One element per access (lanes 1–7 are zero).</summary>
public struct ScalarRun<TElement> : IRunAccess where TElement : struct, IElementType
{
    public static int Width => 1;

    public static Vec8F Load(ArrayView<byte> data, long index) => new() { E0 = TElement.Load(data, index) };

    public static void Store(ArrayView<byte> data, long index, in Vec8F values) =>
        TElement.Store(data, index, values.E0);
}
