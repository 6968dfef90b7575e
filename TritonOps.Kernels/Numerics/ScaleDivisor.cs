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
    public readonly float Scale, Inverse;

    public ScaleDivisor(float scale)
    {
        Scale = scale;
        Inverse = 1f / scale;
    }

    /// <summary>x / <see cref="Scale"/>, correctly rounded. Four instructions past the multiply (two FFMA, FSETP, FSEL;
    /// the negations fold into the FFMAs): the quantize kernels are near their issue limit, and a first form with a zero
    /// and an infinity test cost 18 % at 8192² per token and group (52.0 → 61.4 µs, H200, 12-04).</summary>
    public float Divide(float x)
    {
        float q = x * Inverse;
        // t = q·s − x exactly (t = −remainder); written this way round, ±0 keeps its sign through both FMAs.
        float t = PtxMath.Fma(q, Scale, -x);
        float corrected = PtxMath.Fma(-t, Inverse, q);
        // NaN only where the correction does not apply and q is already the quotient: q = ±∞ (x infinite, or x / s
        // beyond float32), s = ∞ with x finite (q = ±0), s = 0 (q = ±∞ or NaN). A NaN x gives NaN either way.
        return float.IsNaN(corrected) ? q : corrected;
    }
}
