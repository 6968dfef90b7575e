using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Numerics;

/// <summary>
/// Division by a quantization scale, <c>x / scale</c> correctly rounded in float32: what PyTorch computes for
/// <c>(x / s).to(torch.float8_e4m3fn)</c> with a tensor s (the FP8 recipes of transformers and torchao). The reciprocal is
/// taken once per scale; each element then costs a multiply and two FMAs instead of a division: q = x · (1/s), the exact
/// remainder x − q · s, q + remainder · (1/s) rounded once (Markstein's correction: with 1/s correctly rounded and q within
/// an ulp of x / s, the result is x / s correctly rounded). x · (1/s) alone is off by an ulp now and then, and where the
/// quotient sits on a tie between two FP8 codes that ulp picks the other code (QuantizeFp8Tests'
/// Quantize_QuotientsAtCodeTies builds such quotients); one flipped code in a token's group moves a third of that row's
/// projection outputs by an ulp.
/// Where the correction gives NaN (infinite quotients, infinite or zero scales) the product itself is the quotient.
/// </summary>
internal readonly struct ScaleDivisor
{
    /// <summary>The scale where it and its reciprocal are finite, else 0: the correction's multiplier, which 0 turns into
    /// q + 0 (s = ∞: the quotient is x · 0; s = 0: ±∞ or NaN). Two floats, not four: the fused norm-and-quantize kernel
    /// runs at 63 registers, and each block's share of the register file sets how many blocks an SM holds.</summary>
    private readonly float correctionScale;
    public readonly float Inverse;

    public ScaleDivisor(float scale)
    {
        Inverse = 1f / scale;
        correctionScale = scale - scale == 0f && Inverse - Inverse == 0f ? scale : 0f;
    }

    /// <summary>x / scale, correctly rounded, for any x and scale. Four instructions past the multiply (two FFMA, FSETP,
    /// FSEL; the negations fold into the FFMAs).</summary>
    public float Divide(float x)
    {
        float corrected = DivideBounded(x);
        // NaN only where the correction does not apply and q = x · (1/s) is already the quotient: q = ±∞ (x infinite, or
        // x / s beyond float32). A NaN x gives NaN either way.
        return float.IsNaN(corrected) ? x * Inverse : corrected;
    }

    /// <summary><see cref="Divide"/> for a scale computed from an amax that bounds |x| (s = amax · fl(1/max), never 0):
    /// then x / s is finite whenever s is, and for s = ∞ the zeroed correction leaves x · 0, the quotient. Two
    /// instructions past the multiply: the quantize kernels are near their issue limit, where the general form cost 16 %
    /// at 8192² per token and group (52.0 → 60.5 µs, H200, 12-04; 55.6 with this form).</summary>
    public float DivideBounded(float x)
    {
        float q = x * Inverse;
        // t = q·s − x exactly (t = −remainder); written this way round, ±0 keeps its sign through both FMAs.
        float t = PtxMath.Fma(q, correctionScale, -x);
        return PtxMath.Fma(-t, Inverse, q);
    }
}
