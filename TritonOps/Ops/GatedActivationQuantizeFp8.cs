using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.GatedActivationQuantizeFp8;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.QuantizeFp8;

namespace TritonOps;

/// <summary>How gated_activation_quantize_fp8 runs, from validated sizes alone (tests call it without a GPU): one kernel
/// where the per-token-group quantize would take its vectorized kernel (<see cref="QuantizePlan"/>: d a multiple of 8,
/// G / 8 a power of two of at most 32 lanes, every tensor on 16 bytes), else the gated activation then QuantizeFp8
/// (<see cref="Fused"/> false), with the same result.</summary>
/// <param name="Fused">The one-kernel form.</param>
/// <param name="Quantize">The group quantize's plan (grid and lanes) where fused.</param>
/// <param name="ScaleCols">Scales a row: 1 per token, ceil(d / G) per group.</param>
internal readonly record struct GatedActivationQuantizePlan(bool Fused, QuantizePlan Quantize, int ScaleCols)
{
    /// <param name="rows">Rows (the product of the leading dimensions).</param>
    /// <param name="cols">Output columns d.</param>
    /// <param name="elementBytes">Bytes of the dtype.</param>
    /// <param name="aligned16">gate and up (or gateUp) start on 16 bytes.</param>
    /// <param name="granularity">Per token (<see cref="ScaleGranularity.PerRow"/>) or per token and group.</param>
    /// <param name="groupSize">G.</param>
    public static GatedActivationQuantizePlan For(int rows, int cols, int elementBytes, bool aligned16, ScaleGranularity granularity, int groupSize)
    {
        if (granularity == ScaleGranularity.PerRow)
            return new GatedActivationQuantizePlan(false, default, 1);
        var quantize = QuantizePlan.For(Math.Max(1L, (long)rows * cols), rows, cols, elementBytes, ScaleGranularity.PerTokenGroup, scaleGiven: false,
            groupSize, aligned16);
        return new GatedActivationQuantizePlan(quantize.Kernel == QuantizeKernelKind.Groups, quantize, Ops.Tiles(cols, groupSize));
    }
}

public static partial class Ops
{
    /// <summary>
    /// <c>act(gate) ⊙ up</c> quantized to FP8 (E4M3) with dynamic scales, in one pass where it can: the gated MLP's middle
    /// as an FP8 down projection takes it (vLLM's <c>silu_and_mul</c> then <c>per_token_group_quant_fp8</c>), never
    /// written in 16 bits. The codes and scales equal <c>QuantizeFp8(GatedActivation(gate, up, activation, rounding),
    /// granularity, groupSize)</c> bit for bit: the product rounded into the dtype (once, or per op), then scale = amax /
    /// 448 (amax · fl32(1/448), 1 for zeros) and q = RNE_saturate(y / scale).
    /// </summary>
    /// <param name="gate"><c>[…, d]</c> (rank ≥ 1), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="up">gate's shape and dtype, contiguous.</param>
    /// <param name="activation">Applied to gate.</param>
    /// <param name="rounding">As in <see cref="GatedActivation(Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/>:
    /// <see cref="ActivationRounding.PerOp"/> quantizes what PyTorch eager's <c>act_fn(gate) * up</c> holds in bf16.</param>
    /// <param name="granularity"><see cref="ScaleGranularity.PerTokenGroup"/> (the default; scales <c>[rows, ceil(d /
    /// groupSize)]</c>, DeepSeek-V3's and Qwen3-FP8's activations) or <see cref="ScaleGranularity.PerRow"/> (per token,
    /// scales <c>[rows, 1]</c>); rows = the product of the leading dimensions.</param>
    /// <param name="groupSize">G of <see cref="ScaleGranularity.PerTokenGroup"/> (positive; 128 by default).</param>
    /// <returns>The float8_e4m3fn codes (gate's shape) and the float32 scales, as <see cref="Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/>
    /// and <see cref="Fp8Linear"/> take them (after <c>Reshape(rows, d)</c> of the codes).</returns>
    /// <remarks>One kernel per token and group when d is a multiple of 8, G / 8 a power of two of at most 32 (G ∈ 8, 16,
    /// …, 256) and the tensors start on 16 bytes; otherwise, and per token, the gated activation then
    /// <see cref="QuantizeFp8(Tensor, Tensor?, DType, ScaleGranularity, int)"/>, with the same result.</remarks>
    /// <exception cref="DeviceException">Inputs on different devices, a disposed device, or a GPU without FP8 (before sm_89).</exception>
    /// <exception cref="ShapeMismatchException">up of another shape than gate, or gate of rank 0.</exception>
    /// <exception cref="UnsupportedDtypeException">Not float32/float16/bfloat16, or dtypes differ.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <exception cref="InvalidArgumentException">An undefined activation or rounding, another granularity, or groupSize ≤ 0.</exception>
    public static (Tensor Data, Tensor Scale) GatedActivationQuantizeFp8(Tensor gate, Tensor up, Activation activation = Activation.Silu,
        ActivationRounding rounding = ActivationRounding.Once, ScaleGranularity granularity = ScaleGranularity.PerTokenGroup, int groupSize = 128)
    {
        var (rows, cols) = ValidateGatedActivation(gate, up, activation);
        ValidateGatedQuantize(gate, nameof(gate), rounding, granularity, groupSize);
        return GatedActivationQuantize(gate, up, gate.Shape.ToArray(), rows, cols, merged: false, activation, rounding, granularity, groupSize);
    }

    /// <summary>
    /// <see cref="GatedActivationQuantizeFp8(Tensor, Tensor, Activation, ActivationRounding, ScaleGranularity, int)"/> for
    /// the merged form <c>[…, 2d]</c>: gate's columns first, then up's (vLLM's merged gate_up projection).
    /// </summary>
    /// <param name="gateUp"><c>[…, 2d]</c> (rank ≥ 1, last dimension even), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="activation">Applied to the first half.</param>
    /// <param name="rounding">As in the two-tensor form.</param>
    /// <param name="granularity">As in the two-tensor form.</param>
    /// <param name="groupSize">As in the two-tensor form.</param>
    /// <returns>The codes <c>[…, d]</c> and the scales.</returns>
    /// <exception cref="DeviceException">A disposed device, or a GPU without FP8 (before sm_89).</exception>
    /// <exception cref="ShapeMismatchException">Rank 0, or an odd last dimension.</exception>
    /// <exception cref="UnsupportedDtypeException">Not float32/float16/bfloat16.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <exception cref="InvalidArgumentException">An undefined activation or rounding, another granularity, or groupSize ≤ 0.</exception>
    public static (Tensor Data, Tensor Scale) GatedActivationQuantizeFp8(Tensor gateUp, Activation activation = Activation.Silu,
        ActivationRounding rounding = ActivationRounding.Once, ScaleGranularity granularity = ScaleGranularity.PerTokenGroup, int groupSize = 128)
    {
        var (rows, cols) = ValidateGatedActivation(gateUp, null, activation);
        Check.Shape(cols % 2 == 0, nameof(gateUp), "[…, 2d] (an even last dimension: gate's columns, then up's)", gateUp);
        ValidateGatedQuantize(gateUp, nameof(gateUp), rounding, granularity, groupSize);
        int[] shape = gateUp.Shape.ToArray();
        shape[^1] = cols / 2;
        return GatedActivationQuantize(gateUp, gateUp, shape, rows, cols / 2, merged: true, activation, rounding, granularity, groupSize);
    }

    private static void ValidateGatedQuantize(Tensor gate, string name, ActivationRounding rounding, ScaleGranularity granularity, int groupSize)
    {
        Check.SupportsFp8(gate, name, "gated_activation_quantize_fp8");
        Check.Defined(rounding, nameof(rounding));
        Check.Defined(granularity, nameof(granularity));
        if (granularity is not (ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup))
            throw Check.Invalid(nameof(granularity), $"expected PerRow (per token) or PerTokenGroup, got {granularity}.");
        Check.Positive(groupSize, nameof(groupSize));
    }

    /// <summary>The validated call: one kernel where the plan fuses, else the two ops. <paramref name="shape"/> is the
    /// codes' (gate's, with d last); <paramref name="merged"/>: gate and up are the halves of one <c>[…, 2d]</c> tensor.</summary>
    private static (Tensor Data, Tensor Scale) GatedActivationQuantize(Tensor gate, Tensor up, int[] shape, int rows, int cols, bool merged,
        Activation activation, ActivationRounding rounding, ScaleGranularity granularity, int groupSize)
    {
        int size = DTypes.SizeOf(gate.DType);
        var plan = GatedActivationQuantizePlan.For(rows, cols, size, (gate.Offset * size | up.Offset * size) % 16 == 0, granularity, groupSize);
        var device = gate.Device;
        using var entered = device.Enter();
        if ((long)rows * cols == 0)
            return (Tensor.Empty(shape, DType.Float8E4M3, device), Tensor.Full([rows, plan.ScaleCols], 1f, DType.Float32, device)); // empty groups: scale 1
        bool roundActivation = rounding == ActivationRounding.PerOp && gate.DType != DType.Float32;
        if (plan.Fused)
        {
            var data = Tensor.Empty(shape, DType.Float8E4M3, device);
            var scales = Tensor.Empty([rows, plan.ScaleCols], DType.Float32, device);
            int rowRuns = cols / 8;
            var fp8Shape = new Fp8Shape
            {
                Count = (long)rows * cols, Cols = cols, Rows = rows, GroupSize = groupSize, ScaleCols = plan.ScaleCols,
                GroupLanes = plan.Quantize.GroupLanes, GroupShift = System.Numerics.BitOperations.Log2((uint)plan.Quantize.GroupLanes),
            };
            var gated = new GatedRowsShape
            {
                GateRowRuns = merged ? 2 * rowRuns : rowRuns,
                UpRowRuns = merged ? 2 * rowRuns : rowRuns,
                UpColumnRun = merged ? rowRuns : 0,
                RoundActivation = roundActivation ? 1 : 0,
            };
            var kernel = GatedActivationQuantizeFp8Kernel.Variant(ElementTypeOf(gate.DType), GatedMlpKernel.ActivationTypes[(int)activation], typeof(E4M3));
            device.Launch(kernel, new KernelConfig(new Index2D(plan.Quantize.GridX, plan.Quantize.GridY), new Index2D(plan.Quantize.Threads, 1)),
                gate.Bytes, up.Bytes, data.Bytes, scales.Bytes.Cast<float>(), fp8Shape, gated);
            return (data, scales);
        }
        // Per token, or groups the vectorized kernel cannot span: the two ops (the same result).
        using var product = Tensor.Empty(shape, gate.DType, device);
        LaunchGatedActivation(gate, up, product, rows, cols, activation, merged, rounding);
        using var flat = product.Reshape(rows, cols);
        var (codes, computed) = QuantizeFp8(flat, null, DType.Float8E4M3, granularity, QuantizeSchedule.Auto, groupSize: groupSize);
        using var _ = codes;
        return (codes.Reshape(shape), computed);
    }
}
