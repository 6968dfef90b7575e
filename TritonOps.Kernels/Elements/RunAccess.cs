using System.Collections.Concurrent;

namespace TritonOps.Kernels.Elements;

/// <summary>
/// How a thread reads and writes run <c>i</c>, the elements [i·Width, (i+1)·Width). Row kernels
/// are generic over this: the packed form moves 16 bytes per access (the only way to approach
/// the copy rate), the scalar form serves shapes whose runs are not 16-byte aligned. Loading is
/// split into a raw load and an unpack so a kernel can issue its loads early and convert late.
/// </summary>
internal interface IRunAccess
{
    static abstract int Width { get; }

    /// <summary>Bytes a run (16 packed; one element's scalar).</summary>
    static abstract int Bytes { get; }

    static abstract Vec4U LoadRaw(ArrayView<byte> data, long run);

    /// <summary>Runs [first, first + count) of <paramref name="data"/> as a view of their own (index 0 = run first).</summary>
    static abstract ArrayView<byte> Runs(ArrayView<byte> data, long first, long count);

    /// <summary>The run's elements in the first Width lanes.</summary>
    static abstract Vec8F Unpack(Vec4U raw);

    static abstract void Store(ArrayView<byte> data, long run, in Vec8F values);

    /// <summary>The first Width lanes rounded into the storage dtype, as <see cref="LoadRaw"/> returns them:
    /// a kernel that stores a value and keeps computing with it (the fused residual add) rounds once.</summary>
    static abstract Vec4U Pack(in Vec8F values);

    /// <summary>Stores what <see cref="Pack"/> returned.</summary>
    static abstract void StoreRaw(ArrayView<byte> data, long run, Vec4U raw);

    /// <summary>The largest |element| of a raw run (<see cref="IElementType.AbsMaxOfPack"/>).</summary>
    static abstract float AbsMax(Vec4U raw);
}

/// <summary>One 16-byte pack per access.</summary>
internal struct PackedRun<TElement> : IRunAccess where TElement : struct, IElementType
{
    public static int Width => TElement.PackWidth;

    public static int Bytes => 16;

    public static Vec4U LoadRaw(ArrayView<byte> data, long run) => data.Cast<Vec4U>()[run];

    // Taken on the 16-byte view, so the 128-bit loads stay 128-bit (ILGPU proves their alignment from the element type;
    // a byte offset gave two 64-bit loads).
    public static ArrayView<byte> Runs(ArrayView<byte> data, long first, long count) => data.Cast<Vec4U>().SubView(first, count).Cast<byte>();

    public static Vec8F Unpack(Vec4U raw) => TElement.Unpack(raw);

    public static void Store(ArrayView<byte> data, long run, in Vec8F values) =>
        data.Cast<Vec4U>()[run] = TElement.Pack(values);

    public static Vec4U Pack(in Vec8F values) => TElement.Pack(values);

    public static void StoreRaw(ArrayView<byte> data, long run, Vec4U raw) => data.Cast<Vec4U>()[run] = raw;

    public static float AbsMax(Vec4U raw) => TElement.AbsMaxOfPack(raw);
}

/// <summary>One element per access (lanes 1–7 are zero).</summary>
internal struct ScalarRun<TElement> : IRunAccess where TElement : struct, IElementType
{
    public static int Width => 1;

    public static int Bytes => 16 / TElement.PackWidth;

    public static Vec4U LoadRaw(ArrayView<byte> data, long run) => new(TElement.LoadBits(data, run), 0, 0, 0);

    public static ArrayView<byte> Runs(ArrayView<byte> data, long first, long count) => data.SubView(first * Bytes, count * Bytes);

    public static Vec8F Unpack(Vec4U raw) => new() { E0 = TElement.Widen(raw.X) };

    public static void Store(ArrayView<byte> data, long run, in Vec8F values) =>
        TElement.StoreBits(data, run, TElement.Narrow(values.E0));

    public static Vec4U Pack(in Vec8F values) => new(TElement.Narrow(values.E0), 0, 0, 0);

    public static void StoreRaw(ArrayView<byte> data, long run, Vec4U raw) => TElement.StoreBits(data, run, raw.X);

    public static float AbsMax(Vec4U raw) => TElement.AbsMaxOfPack(raw); // one element's bits in X, zeros beside
}

internal static class RunAccess
{
    /// <summary><see cref="PackedRun{TElement}"/> or <see cref="ScalarRun{TElement}"/> of <paramref name="element"/>,
    /// memoized like <see cref="KernelMethods"/> (a row kernel's variant is picked on every launch).</summary>
    public static Type Of(Type element, bool packed) => s_types.GetOrAdd((element, packed),
        static key => (key.Packed ? typeof(PackedRun<>) : typeof(ScalarRun<>)).MakeGenericType(key.Element));

    private static readonly ConcurrentDictionary<(Type Element, bool Packed), Type> s_types = new();
}
