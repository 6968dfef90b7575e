namespace TritonOps.Samples.Decoder;

/// <summary>
/// One projection held as E4M3 codes <c>[out, in]</c> with their scales, as <see cref="Ops.Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/>
/// takes them: b is the transposed view of the codes (no copy: the tensor cores read the K-contiguous rows), and
/// b's scale is <c>[1]</c>, <c>[1, out]</c>, or the <c>[in/128, out/128]</c> view of a checkpoint's <c>[out/128, in/128]</c> blocks.
/// The activations are quantized per token (per-tensor and per-channel weights) or per token and 128-group (blocks).
/// </summary>
internal sealed class Fp8Projection : IDisposable
{
    private Fp8Projection(Tensor codes, Tensor codesT, Tensor scale, Tensor bScale, Fp8WeightScheme scheme, Tensor? bias)
    {
        Codes = codes;
        CodesT = codesT;
        Scale = scale;
        BScale = bScale;
        Scheme = scheme;
        Bias = bias;
    }

    /// <summary>The codes, <c>[out, in]</c>.</summary>
    public Tensor Codes { get; }

    /// <summary>The codes' transposed view, <c>[in, out]</c>: fp8_gemm's b.</summary>
    public Tensor CodesT { get; }

    /// <summary>The scale as stored.</summary>
    public Tensor Scale { get; }

    /// <summary>The scale as fp8_gemm takes b's.</summary>
    public Tensor BScale { get; }

    /// <summary>How the codes are scaled.</summary>
    public Fp8WeightScheme Scheme { get; }

    /// <summary>Optional float32 bias <c>[out]</c>.</summary>
    public Tensor? Bias { get; }

    /// <summary>Output width.</summary>
    public int Out => Codes.Shape[0];

    /// <summary>How this projection's input is quantized.</summary>
    public ScaleGranularity ActivationGranularity => Scheme == Fp8WeightScheme.Block ? ScaleGranularity.PerTokenGroup : ScaleGranularity.PerRow;

    /// <summary>A projection over <paramref name="codes"/> (E4M3 <c>[out, in]</c>) and <paramref name="scale"/> (float32: one element,
    /// <c>[out]</c> or <c>[out, 1]</c>, or <c>[ceil(out/128), ceil(in/128)]</c>); takes views, so the caller may dispose its tensors.</summary>
    /// <exception cref="ShapeMismatchException">A scale of none of those shapes.</exception>
    /// <param name="scheme">The scheme the scales were made for, when known: a weight of one 128 × 128 block has one scale either way.</param>
    public static Fp8Projection From(Tensor codes, Tensor scale, Tensor? bias, Fp8WeightScheme? scheme = null)
    {
        if (codes.DType != DType.Float8E4M3 || codes.Rank != 2)
            throw new UnsupportedDtypeException($"Argument 'codes': expected float8_e4m3fn [out, in], got {DTypes.Name(codes.DType)} [{string.Join(", ", codes.Shape)}].");
        if (scale.DType != DType.Float32)
            throw new UnsupportedDtypeException($"Argument 'scale': expected float32, got {DTypes.Name(scale.DType)}.");
        int n = codes.Shape[0], k = codes.Shape[1], nb = (n + 127) / 128, kb = (k + 127) / 128;
        var found = scale.ElementCount == 1 && scheme != Fp8WeightScheme.Block ? Fp8WeightScheme.PerTensor
            : scale.Shape.SequenceEqual([n]) || scale.Shape.SequenceEqual([n, 1]) ? Fp8WeightScheme.PerChannel
            : scale.Shape.SequenceEqual([nb, kb]) ? Fp8WeightScheme.Block
            : throw new ShapeMismatchException(
                $"Argument 'scale': expected one element, [{n}] or [{n}, 1] (per channel) or [{nb}, {kb}] (per 128 × 128 block) for weight [{n}, {k}], got [{string.Join(", ", scale.Shape)}].");
        if (bias is not null && (bias.DType != DType.Float32 || bias.ElementCount != n))
            throw new ShapeMismatchException($"Argument 'bias': expected float32 [{n}], got {DTypes.Name(bias.DType)} [{string.Join(", ", bias.Shape)}].");
        var own = codes.Reshape(n, k);
        var ownScale = scale.Reshape(scale.Shape.ToArray());
        return new Fp8Projection(own, own.Transpose(0, 1), ownScale, found switch
        {
            Fp8WeightScheme.PerTensor => scale.Reshape(1),
            Fp8WeightScheme.PerChannel => scale.Reshape(1, n),
            _ => scale.Transpose(0, 1),
        }, found, bias?.Reshape(n));
    }

    /// <summary>One projection whose output is the parts' columns one after another (the gated MLP's gate and up as one
    /// product, as vLLM's merged gate_up_proj; q, k and v as its QKVParallelLinear): codes and scales stacked along the
    /// output (on the device, once at load), or null when the parts cannot share one b scale (per-tensor scales, block
    /// scales whose 128-row blocks would straddle a seam, or biases).</summary>
    public static Fp8Projection? Stack(params Fp8Projection[] parts)
    {
        var first = parts[0];
        if (first.Scheme == Fp8WeightScheme.PerTensor
            || parts.Any(p => p.Scheme != first.Scheme || p.Bias is not null || p.Codes.Shape[1] != first.Codes.Shape[1])
            || first.Scheme == Fp8WeightScheme.Block && parts[..^1].Any(p => p.Out % 128 != 0))
            return null;
        using var codes = StackRows.Of([.. parts.Select(p => p.Codes)]);
        // Per-channel scales as [out, 1] (stored [out] or [out, 1]); block scales stack their rows of 128-row blocks.
        var scales = parts.Select(p => p.Scheme == Fp8WeightScheme.Block ? p.Scale.Reshape(p.Scale.Shape.ToArray()) : p.Scale.Reshape(p.Out, 1)).ToArray();
        try
        {
            using var scale = StackRows.Of(scales);
            return From(codes, scale, null, first.Scheme);
        }
        finally
        {
            foreach (var view in scales)
                view.Dispose();
        }
    }

    /// <summary>y = x · Wᵀ (+ bias) in <paramref name="dtype"/>, x given as codes <c>[rows, in]</c> and their scales.</summary>
    public Tensor Apply(Tensor codes, Tensor scales, DType dtype) => Ops.Fp8Gemm(codes, CodesT, scales, BScale, dtype, Bias);

    public void Dispose()
    {
        CodesT.Dispose();
        Codes.Dispose();
        BScale.Dispose();
        Scale.Dispose();
        Bias?.Dispose();
    }
}
