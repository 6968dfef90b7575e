using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;

namespace TritonOps;

/// <summary>The ops: each validates its arguments (typed exceptions, before any allocation or
/// launch), allocates its output on the inputs' device and launches one kernel (FP8 ops a few).
/// One file per op; this one holds what they share.</summary>
public static partial class Ops
{
    // Host paths of the ops are [MethodImpl(AggressiveOptimization)]: a decode-sized call is a few µs of GPU work,
    // and until tiered compilation promotes them (delayed while the program keeps JIT-compiling new methods) their
    // tier-0 code cost more than the kernel. H200, fused_rmsnorm_rope [64,1,4096] bf16, host-issued time per call:
    // 13.0 µs with tiering, 7.6 µs with DOTNET_TieredCompilation=0, in the same benchmark position.

    /// <summary>A caller-provided destination: on x's device, x's dtype, exactly <paramref name="shape"/>, dense.</summary>
    private static void CheckOutput(Tensor output, Tensor x, int[] shape, string name = "output", string xName = "x", bool rowStrided = false)
    {
        Check.SameDevice(output, name, x, xName);
        Check.SameDType(output, name, x, xName);
        Check.Shape(output.Shape.SequenceEqual(shape), name, $"[{string.Join(", ", shape)}]", output);
        if (rowStrided)
            Check.RowStrided(output, name); // dense, or rows of one stride (a slice of a wider row)
        else
            Check.Contiguous(output, name);
    }

    /// <summary>Every row of a dense [rows, cols] <paramref name="output"/> set to <paramref name="bias"/> (float32 [cols]),
    /// or to zeros: the defined result of a product over K = 0.</summary>
    private static void FillRows(Tensor output, Tensor? bias)
    {
        var device = output.Device;
        using var gate = device.Enter();
        long count = output.ElementCount;
        if (count == 0)
            return;
        int cols = output.Shape[^1];
        int blocks = (int)Math.Min((count + FillRowsKernel.Threads - 1) / FillRowsKernel.Threads, 4096);
        device.Launch(FillRowsKernel.Variant(ElementTypeOf(output.DType)), new KernelConfig(blocks, FillRowsKernel.Threads), output.Bytes, (bias ?? output).Bytes.Cast<float>(), cols, count, bias is null ? 0 : 1);
    }

    /// <summary>The kernels' element operator struct for a float dtype (<see cref="DTypes.ElementTypeOf"/>).</summary>
    private static Type ElementTypeOf(DType dtype) => DTypes.ElementTypeOf(dtype);
}
