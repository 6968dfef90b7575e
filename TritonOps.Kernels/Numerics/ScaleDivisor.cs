using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Numerics;

/// <summary>
/// Division by a quantization scale, <c>x / scale</c> correctly rounded in float32: what PyTorch, vLLM, DeepSeek-V3's
/// <c>act_quant</c> and transformers' FineGrainedFP8 compute before the cast (<c>(x / s).to(float8)</c>). The reciprocal is
/// taken once (an IEEE division, a dozen instructions); each element then costs a multiply and two FMAs instead of a
/// division: q = x · (1/s), the exact remainder r = x − q · s, q + r · (1/s) rounded once (Markstein's correction: with
/// 1/s correctly rounded and q within an ulp of x / s, the result is x / s correctly rounded). x · (1/s) alone is off by
/// an ulp now and then, and where the quotient sits on a tie between two FP8 codes that ulp picks the other code: on
/// transformers' FP8 Qwen3 fixture one flipped code in a token's group moved every output of that row's q projection.
/// Zero, infinite and NaN quotients pass through uncorrected (the correction would turn −0 into +0 and ∞ into NaN).
/// </summary>
internal readonly struct ScaleDivisor
{
    public readonly float Scale, Inverse;

    public ScaleDivisor(float scale)
    {
        Scale = scale;
        Inverse = 1f / scale;
    }

    /// <summary>x / <see cref="Scale"/>, correctly rounded.</summary>
    public float Divide(float x)
    {
        float q = x * Inverse;
        float corrected = PtxMath.Fma(PtxMath.Fma(-q, Scale, x), Inverse, q);
        // q = ±0 keeps its sign (the correction would give +0 for −0 / s, and −0 encodes as its own code).
        return q != 0f && Bits.ToFloat(Bits.Of(q) & 0x7FFF_FFFFu) < float.PositiveInfinity ? corrected : q;
    }
}
