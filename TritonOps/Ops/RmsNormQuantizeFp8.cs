using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.RmsNorm;
using TritonOps.Kernels.RmsNormQuantizeFp8;

namespace TritonOps;

/// <summary>
/// How rms_norm_quantize_fp8 runs, from validated sizes alone (tests call it without a GPU): one fused kernel when a row
/// fits one block of <see cref="RmsNormRowKernel"/>'s plan and, per group, G spans a power of two of at most 32
/// 16-byte runs; otherwise (<see cref="Fused"/> false) RmsNorm then QuantizeFp8, with the same result.
/// </summary>
/// <param name="Fused">The one-kernel form.</param>
/// <param name="Packed">16-byte runs (hidden whole packs, x and weight aligned), else one element a run.</param>
/// <param name="RowRuns">Runs in a row.</param>
/// <param name="RunsPerThread">Runs a thread holds (1, 2, 4 or 8).</param>
/// <param name="Threads">Threads a block (one block a row); the op also checks it against the kernel's register limit.</param>
/// <param name="GroupLanes">Per token and group: lanes a group (G / run width); 0 per token.</param>
/// <param name="ScaleCols">Scales a row: 1, or ceil(hidden / G).</param>
internal readonly record struct RmsNormQuantizePlan(bool Fused, bool Packed, int RowRuns, int RunsPerThread, int Threads, int GroupLanes, int ScaleCols)
{
    /// <summary>The row fills every thread's runs (the kernel's <c>WholeRows</c> form: no padding tests).</summary>
    public bool WholeRows => Fused && RowRuns == RunsPerThread * Threads;

    public static RmsNormQuantizePlan For(int hidden, int elementBytes, bool aligned16, ScaleGranularity granularity, int groupSize)
    {
        int packWidth = 16 / elementBytes;
        bool packed = hidden % packWidth == 0 && aligned16;
        int width = packed ? packWidth : 1, lanes = groupSize / width;
        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : Ops.Tiles(hidden, groupSize);
        bool groupsFit = granularity == ScaleGranularity.PerRow
            || packed && groupSize % width == 0 && lanes <= 32 && (lanes & (lanes - 1)) == 0;
        if (groupsFit && RmsNormRowKernel.Plan(hidden / width) is { } row)
            return new RmsNormQuantizePlan(true, packed, hidden / width, row.RunsPerThread, row.Threads,
                granularity == ScaleGranularity.PerRow ? 0 : lanes, scaleCols);
        return new RmsNormQuantizePlan(false, packed, hidden / width, 0, 0, 0, scaleCols);
    }
}

public static partial class Ops
{

    /// <summary>
    /// RMSNorm and dynamic FP8 (E4M3) quantization in one pass (vLLM <c>rms_norm_dynamic_per_token_quant</c>): the
    /// norm that feeds an FP8 projection is never written in 16 bits. The codes and scales equal
    /// <c>QuantizeFp8(RmsNorm(x, weight, eps, weightOffset), granularity)</c>: y = x · rsqrt(mean(x²) + eps) ·
    /// (weight + weightOffset) in float32, rounded once into x's dtype, then scale = amax / 448 (as PyTorch on CUDA: amax · fl32(1/448)) per token (or per token
    /// and group of <paramref name="groupSize"/>; 1 for zeros) and q = RNE_saturate(y / scale) (the quotient correctly rounded, as PyTorch divides).
    /// </summary>
    /// <param name="x"><c>[..., hidden]</c> (rank ≥ 1), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[hidden]</c>, x's dtype.</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="granularity"><see cref="ScaleGranularity.PerRow"/> (per token, scales <c>[rows, 1]</c>) or
    /// <see cref="ScaleGranularity.PerTokenGroup"/> (scales <c>[rows, ceil(hidden / groupSize)]</c>); rows = the product
    /// of x's leading dimensions.</param>
    /// <param name="groupSize">G of <see cref="ScaleGranularity.PerTokenGroup"/> (positive; 128 by default).</param>
    /// <param name="weightOffset">Added to every weight in float32 (1: Gemma's <c>(1 + w)</c>); finite.</param>
    /// <param name="rounding">Where the 16-bit norm rounds, as in <see cref="RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/>:
    /// <see cref="NormRounding.Llama"/> gives the codes of a Llama/Qwen FP8 model's <c>act_quant(input_layernorm(x))</c> bit for bit.</param>
    /// <returns>The float8_e4m3fn codes (x's shape) and the float32 scales, as <see cref="Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/>
    /// takes them for a (after <c>Reshape(rows, hidden)</c> of the codes).</returns>
    /// <remarks>One kernel when a row fits one block's registers (hidden ≤ 8192 16-byte runs) and, per group, when G
    /// spans a power of two of at most 32 16-byte runs (G ∈ 8…256 for 16-bit x, 4…128 for float32, hidden a whole
    /// number of runs); otherwise <see cref="RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/> then
    /// <see cref="QuantizeFp8(Tensor, Tensor?, DType, ScaleGranularity, int)"/>, with the same result.</remarks>
    public static (Tensor Data, Tensor Scale) RmsNormQuantizeFp8(Tensor x, Tensor weight, double eps = 1e-6,
        ScaleGranularity granularity = ScaleGranularity.PerRow, int groupSize = 128, float weightOffset = 0, NormRounding rounding = NormRounding.Once)
    {
        var (rows, hidden) = ValidateRmsNorm(x, null, addResidual: false, weight, eps, weightOffset, rounding);
        Check.SupportsFp8(x, nameof(x), "rms_norm_quantize_fp8");
        Check.Defined(granularity, nameof(granularity));
        if (granularity is not (ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup))
            throw Check.Invalid(nameof(granularity), $"expected PerRow (per token) or PerTokenGroup, got {granularity}.");
        Check.Positive(groupSize, nameof(groupSize));
        int size = DTypes.SizeOf(x.DType);
        var plan = RmsNormQuantizePlan.For(hidden, size, (x.Offset * size | weight.Offset * size) % 16 == 0, granularity, groupSize);
        int scaleCols = plan.ScaleCols;

        var device = x.Device;
        using var gate = device.Enter();
        var data = Tensor.Empty(x.Shape.ToArray(), DType.Float8E4M3, device);
        var scales = Tensor.Empty([rows, scaleCols], DType.Float32, device);
        if ((long)rows * hidden == 0)
        {
            scales.Dispose();
            return (data, Tensor.Full([rows, scaleCols], 1f, DType.Float32, device)); // empty groups: scale 1
        }
        bool roundBeforeWeight = rounding == NormRounding.Llama && x.DType != DType.Float32;
        if (plan.Fused
            && RmsNormQuantizeFp8Kernel.Variant(ElementTypeOf(x.DType), plan.Packed, plan.RunsPerThread, roundBeforeWeight, plan.WholeRows, plan.GroupLanes > 0) is var kernel
            && plan.Threads <= device.MaxGroupSize(kernel))
        {
            var shape = new RmsNormQuantizeShape
            {
                Norm = new RmsNormShape
                {
                    Rows = rows, RowRuns = plan.RowRuns, InvHidden = 1f / hidden, Eps = (float)eps, WeightOffset = weightOffset,
                    RoundBeforeWeight = roundBeforeWeight ? 1 : 0,
                },
                GroupLanes = plan.GroupLanes,
                GroupShift = plan.GroupLanes > 0 ? System.Numerics.BitOperations.Log2((uint)plan.GroupLanes) : 0,
                ScaleCols = scaleCols,
            };
            device.Launch(kernel, new KernelConfig(new Index2D(rows, 1), new Index2D(plan.Threads, 1)),
                x.Bytes, weight.Bytes, data.Bytes, scales.Bytes.Cast<float>(), shape);
            return (data, scales);
        }
        // Rows too wide for one block, or groups the kernel cannot span: the two ops (the same result).
        data.Dispose();
        scales.Dispose();
        using var y = Tensor.Empty(x.Shape.ToArray(), x.DType, device);
        LaunchRmsNorm(x, x, weight, y, rows, hidden, eps, weightOffset, rounding, addResidual: false, default);
        using var y2 = y.Reshape(rows, hidden);
        var (codes, computed) = QuantizeFp8(y2, null, DType.Float8E4M3, granularity == ScaleGranularity.PerRow ? ScaleGranularity.PerRow : ScaleGranularity.PerTokenGroup,
            QuantizeSchedule.Auto, groupSize: groupSize);
        using var _ = codes;
        return (codes.Reshape(x.Shape.ToArray()), computed);
    }
}
