using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.GatedActivation;

namespace TritonOps;

/// <summary>Where a 16-bit gated activation rounds (float32 tensors round nowhere but float32 either way).</summary>
public enum ActivationRounding
{
    /// <summary><c>act(gate) · up</c> in float32, rounded once (FlashInfer's <c>silu_and_mul</c>): the more accurate form.</summary>
    Once,
    /// <summary><c>act(gate)</c> rounded into the dtype, then the product rounded again: what PyTorch eager computes for
    /// <c>act_fn(gate) * up</c> in bf16 (every Hugging Face MLP) and vLLM's <c>silu_and_mul</c>. An FP8 model quantizes
    /// this output for its down projection, where one ulp moves an E4M3 code a whole step.</summary>
    PerOp,
}

/// <summary>How a gated activation runs, from validated sizes (pure: tests call it without a GPU): 16-byte packs when a
/// row of the output is whole packs, gate and up start on 16-byte boundaries, and up's columns start on a pack
/// (<paramref name="Packed"/>, else one element an access), the runs of a row, and the grid.</summary>
internal readonly record struct GatedActivationPlan(bool Packed, GatedActivationShape Shape, int BlocksX, int BlocksY)
{
    /// <param name="rows">Rows (the product of the leading dimensions).</param>
    /// <param name="cols">Output columns d.</param>
    /// <param name="elementBytes">Bytes of the dtype.</param>
    /// <param name="aligned16">Every tensor's first element on a 16-byte boundary.</param>
    /// <param name="fused">gate and up are the two halves of one <c>[…, 2d]</c> tensor.</param>
    /// <param name="roundActivation">Round act(gate) into the dtype before the product (<see cref="ActivationRounding.PerOp"/>, 16-bit).</param>
    public static GatedActivationPlan For(int rows, int cols, int elementBytes, bool aligned16, bool fused, bool roundActivation = false)
    {
        int packWidth = 16 / elementBytes;
        bool packed = cols % packWidth == 0 && aligned16;
        int width = packed ? packWidth : 1, rowRuns = cols / width;
        var shape = new GatedActivationShape
        {
            Rows = rows,
            RowRuns = rowRuns,
            GateRowRuns = fused ? 2 * rowRuns : rowRuns,
            UpRowRuns = fused ? 2 * rowRuns : rowRuns,
            UpColumnRun = fused ? rowRuns : 0,
            RoundActivation = roundActivation && elementBytes < 4 ? 1 : 0,
        };
        int blocksX = (rowRuns + GatedActivationKernel.Threads - 1) / GatedActivationKernel.Threads;
        return new GatedActivationPlan(packed, shape, blocksX, Math.Min(rows, GatedActivationKernel.MaxGridRows));
    }
}

public static partial class Ops
{

    /// <summary>
    /// <c>output = act(gate) ⊙ up</c> elementwise, the activation and product in float32 and one rounding into the dtype
    /// (FlashInfer <c>silu_and_mul</c> / <c>gelu_and_mul</c> / <c>gelu_tanh_and_mul</c>), or two with
    /// <see cref="ActivationRounding.PerOp"/> (vLLM <c>silu_and_mul</c>, Liger <c>LigerSiLUMulFunction</c>, PyTorch eager):
    /// the gated MLP's middle when its two projections ran apart (e.g. as FP8 GEMMs);
    /// for <c>[…, 2d]</c> input as vLLM takes it, see <see cref="GatedActivation(Tensor, Activation, Tensor?, ActivationRounding)"/>.
    /// </summary>
    /// <param name="gate"><c>[…, d]</c> (rank ≥ 1), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="up">gate's shape and dtype, contiguous.</param>
    /// <param name="activation">Applied to gate.</param>
    /// <param name="output">Optional destination of gate's shape and dtype; it may be gate or up itself (in place), but
    /// must not otherwise overlap them. A new tensor is returned when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor of gate's shape and dtype on gate's device.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">up of another shape than gate, gate of rank 0, output of another shape.</exception>
    /// <exception cref="UnsupportedDtypeException">Not float32/float16/bfloat16, or dtypes differ.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <param name="rounding"><see cref="ActivationRounding.Once"/> (the default), or <see cref="ActivationRounding.PerOp"/>
    /// to round as PyTorch eager and vLLM do (the activation into the dtype, then the product).</param>
    /// <exception cref="InvalidArgumentException">An undefined activation or rounding, or output partly overlapping an input.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor GatedActivation(Tensor gate, Tensor up, Activation activation = Activation.Silu, Tensor? output = null,
        ActivationRounding rounding = ActivationRounding.Once)
    {
        var (rows, cols) = ValidateGatedActivation(gate, up, activation);
        Check.Defined(rounding, nameof(rounding));
        if (output is not null)
        {
            CheckOutput(output, gate, gate.Shape.ToArray(), xName: nameof(gate));
            Check.NoOverlap(output, nameof(output), gate, nameof(gate), inPlaceAllowed: true);
            Check.NoOverlap(output, nameof(output), up, nameof(up), inPlaceAllowed: true);
        }
        using var entered = gate.Device.Enter();
        output ??= Tensor.Empty(gate.Shape.ToArray(), gate.DType, gate.Device);
        LaunchGatedActivation(gate, up, output, rows, cols, activation, fused: false, rounding);
        return output;
    }

    /// <summary><see cref="GatedActivation(Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/> with the activation by
    /// name (a config's <c>hidden_act</c>: <see cref="ParseActivation"/>).</summary>
    public static Tensor GatedActivation(Tensor gate, Tensor up, string activation, Tensor? output = null,
        ActivationRounding rounding = ActivationRounding.Once) =>
        GatedActivation(gate, up, ParseActivation(activation), output, rounding);

    /// <summary>
    /// <c>output = act(x[…, :d]) ⊙ x[…, d:]</c> for x <c>[…, 2d]</c>, the gate projection's columns first (vLLM's
    /// <c>silu_and_mul(out, x)</c> over a merged gate_up projection); arithmetic as
    /// <see cref="GatedActivation(Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/>.
    /// </summary>
    /// <param name="gateUp"><c>[…, 2d]</c> (rank ≥ 1, last dimension even), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="activation">Applied to the first half.</param>
    /// <param name="output">Optional destination <c>[…, d]</c> of x's dtype, not overlapping x. A new tensor when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor <c>[…, d]</c>.</returns>
    /// <exception cref="DeviceException">output on another device, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">Rank 0, an odd last dimension, or output of another shape.</exception>
    /// <exception cref="UnsupportedDtypeException">Not float32/float16/bfloat16, or output of another dtype.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <param name="rounding">As in <see cref="GatedActivation(Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/>.</param>
    /// <exception cref="InvalidArgumentException">An undefined activation or rounding, or output overlapping x.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor GatedActivation(Tensor gateUp, Activation activation = Activation.Silu, Tensor? output = null,
        ActivationRounding rounding = ActivationRounding.Once)
    {
        var (rows, cols) = ValidateGatedActivation(gateUp, null, activation);
        Check.Defined(rounding, nameof(rounding));
        Check.Shape(cols % 2 == 0, nameof(gateUp), "[…, 2d] (an even last dimension: gate's columns, then up's)", gateUp);
        int[] shape = gateUp.Shape.ToArray();
        shape[^1] = cols / 2;
        if (output is not null)
        {
            CheckOutput(output, gateUp, shape, xName: nameof(gateUp));
            Check.NoOverlap(output, nameof(output), gateUp, nameof(gateUp), inPlaceAllowed: false);
        }
        using var entered = gateUp.Device.Enter();
        output ??= Tensor.Empty(shape, gateUp.DType, gateUp.Device);
        LaunchGatedActivation(gateUp, gateUp, output, rows, cols / 2, activation, fused: true, rounding);
        return output;
    }

    private static void LaunchGatedActivation(Tensor gate, Tensor up, Tensor output, int rows, int cols, Activation activation, bool fused,
        ActivationRounding rounding)
    {
        if ((long)rows * cols == 0)
            return;
        var device = gate.Device;
        int size = DTypes.SizeOf(gate.DType);
        bool aligned = (gate.Offset * size | up.Offset * size | output.Offset * size) % 16 == 0;
        var plan = GatedActivationPlan.For(rows, cols, size, aligned, fused, rounding == ActivationRounding.PerOp);
        var kernel = GatedActivationKernel.Variant(ElementTypeOf(gate.DType), plan.Packed, GatedMlpKernel.ActivationTypes[(int)activation]);
        device.Launch(kernel, new KernelConfig(new Index2D(plan.BlocksX, plan.BlocksY), new Index2D(GatedActivationKernel.Threads, 1)),
            gate.Bytes, up.Bytes, output.Bytes, plan.Shape);
    }

    /// <summary>The contract of both forms (<paramref name="up"/> null for the merged one): rows (the product of the
    /// leading dimensions) and the last dimension.</summary>
    internal static (int Rows, int Cols) ValidateGatedActivation(Tensor gate, Tensor? up, Activation activation, string gateName = "gate")
    {
        string name = up is null ? "gateUp" : gateName;
        Check.Usable(gate, name);
        if (up is not null)
        {
            Check.Usable(up, nameof(up));
            Check.SameDevice(up, nameof(up), gate, name);
        }
        Check.DType(gate, name, DType.Float32, DType.Float16, DType.BFloat16);
        if (up is not null)
            Check.SameDType(up, nameof(up), gate, name);
        Check.Shape(gate.Rank >= 1, name, "rank ≥ 1 […, d]", gate);
        if (up is not null)
            Check.Shape(up.Shape.SequenceEqual(gate.Shape), nameof(up), $"the shape of '{name}' {gate.ShapeText}", up);
        long rows = 1;
        for (int d = 0; d < gate.Rank - 1; d++)
            rows *= gate.Shape[d];
        // The kernel's row counter steps by grid y (at most 65535) and must not pass int.MaxValue.
        Check.Shape(rows <= int.MaxValue - GatedActivationKernel.MaxGridRows, name, $"at most {int.MaxValue - GatedActivationKernel.MaxGridRows} rows", gate);
        Check.Contiguous(gate, name);
        if (up is not null)
            Check.Contiguous(up, nameof(up));
        Check.Defined(activation, nameof(activation));
        return ((int)rows, gate.Shape[^1]);
    }
}
