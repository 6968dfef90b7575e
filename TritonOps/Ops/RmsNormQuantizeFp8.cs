using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.RmsNorm;
using TritonOps.Kernels.RmsNormQuantizeFp8;

namespace TritonOps;

public static partial class Ops
{
    private delegate void RmsNormQuantizeLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> q, ArrayView<float> scales, RmsNormQuantizeShape shape);

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
        Check.Defined(granularity, nameof(granularity));
        if (granularity is not (ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup))
            throw Check.Invalid(nameof(granularity), $"expected PerRow (per token) or PerTokenGroup, got {granularity}.");
        Check.Positive(groupSize, nameof(groupSize));
        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : CeilDiv(hidden, groupSize);

        var device = x.Device;
        using var gate = device.Enter();
        var data = Tensor.Empty(x.Shape.ToArray(), DType.Float8E4M3, device);
        var scales = Tensor.Empty([rows, scaleCols], DType.Float32, device);
        if ((long)rows * hidden == 0)
        {
            scales.Dispose();
            return (data, Tensor.Full([rows, scaleCols], 1f, DType.Float32, device)); // empty groups: scale 1
        }
        int size = DTypes.SizeOf(x.DType), packWidth = 16 / size;
        bool packed = hidden % packWidth == 0 && (x.Offset * size | weight.Offset * size) % 16 == 0;
        int width = packed ? packWidth : 1, lanes = groupSize / width;
        bool groupsFit = granularity == ScaleGranularity.PerRow
            || packed && groupSize % width == 0 && lanes <= 32 && (lanes & (lanes - 1)) == 0;
        if (groupsFit && RmsNormRowKernel.Plan(hidden / width) is { } plan
            && RmsNormQuantizeFp8Kernel.Variant(ElementTypeOf(x.DType), packed, plan.RunsPerThread) is var kernel
            && plan.Threads <= device.MaxGroupSize(kernel))
        {
            var shape = new RmsNormQuantizeShape
            {
                Norm = new RmsNormShape
                {
                    Rows = rows, RowRuns = hidden / width, InvHidden = 1f / hidden, Eps = (float)eps, WeightOffset = weightOffset,
                    RoundBeforeWeight = rounding == NormRounding.Llama && x.DType != DType.Float32 ? 1 : 0,
                },
                GroupLanes = granularity == ScaleGranularity.PerRow ? 0 : lanes,
                ScaleCols = scaleCols,
            };
            device.Launcher<RmsNormQuantizeLauncher>(kernel)(device.Accelerator.DefaultStream,
                new KernelConfig(new Index2D(rows, 1), new Index2D(plan.Threads, 1)),
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
