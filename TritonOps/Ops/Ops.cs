using TritonOps.Kernels.Elements;

namespace TritonOps;

/// <summary>The ops: each validates its arguments (typed exceptions, before any allocation or
/// launch), allocates its output on the inputs' device and launches one kernel (FP8 ops a few).
/// One file per op; this one holds what they share.</summary>
public static partial class Ops
{
    /// <summary>A caller-provided destination: on x's device, x's dtype, exactly <paramref name="shape"/>, dense.</summary>
    private static void CheckOutput(Tensor output, Tensor x, int[] shape)
    {
        Check.SameDevice(output, nameof(output), x, nameof(x));
        Check.SameDType(output, nameof(output), x, nameof(x));
        Check.Shape(output.Shape.SequenceEqual(shape), nameof(output), $"[{string.Join(", ", shape)}]", output);
        Check.Contiguous(output, nameof(output));
    }

    /// <summary>The kernels' element operator struct for a float dtype.</summary>
    private static Type ElementTypeOf(DType dtype) => dtype switch
    {
        DType.Float32 => typeof(Float32Element),
        DType.Float16 => typeof(Float16Element),
        DType.BFloat16 => typeof(BFloat16Element),
        _ => throw new UnsupportedDtypeException($"No kernel element type for {DTypes.Name(dtype)}."),
    };
}
