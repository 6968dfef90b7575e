using ILGPU;
using ILGPU.Runtime;

namespace TritonOps;

/// <summary>
/// Every copy between host memory and a device buffer. ILGPU's <c>CopyFromCPU</c> / <c>CopyToCPU(ref T, long)</c> take
/// the raw address of the host data ("the base address of the pinned CPU buffer"): a managed array the GC moves
/// mid-copy would leave the copy reading, or writing, where the array used to be. These pin the span for the call.
/// </summary>
internal static unsafe class HostCopy
{
    /// <summary><paramref name="source"/> into the first <c>source.Length</c> bytes of <paramref name="target"/>.</summary>
    public static void ToDevice(ArrayView<byte> target, ReadOnlySpan<byte> source)
    {
        if (source.IsEmpty)
            return;
        fixed (byte* host = source)
            target.SubView(0, source.Length).CopyFromCPU(ref *host, source.Length);
    }

    /// <summary>The first <c>target.Length</c> bytes of <paramref name="source"/> into <paramref name="target"/>.</summary>
    public static void ToHost(ArrayView<byte> source, Span<byte> target)
    {
        if (target.IsEmpty)
            return;
        fixed (byte* host = target)
            source.SubView(0, target.Length).CopyToCPU(ref *host, target.Length);
    }
}
