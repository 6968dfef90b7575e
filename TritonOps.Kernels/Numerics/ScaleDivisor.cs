namespace TritonOps.Kernels.Numerics;

/// <summary>
/// Division by a quantization scale, <c>x / scale</c> correctly rounded in float32: what PyTorch computes for
/// <c>(x / s).to(torch.float8_e4m3fn)</c> with a tensor s (the FP8 recipes of transformers and torchao). The reciprocal is
/// taken once per scale; each element then costs a multiply and two FMAs instead of a division: q = x · (1/s), the exact
/// remainder x − q · s, q + remainder · (1/s) rounded once (Markstein's correction: with 1/s correctly rounded, q is
/// within an ulp and a half of x / s and within an ulp near rounding midpoints, and the result is x / s correctly
/// rounded). x · (1/s) alone is off by an ulp now and then, and where the quotient sits on a tie between two FP8 codes
/// that ulp picks the other code (QuantizeFp8Tests' Quantize_QuotientsAtCodeTies builds such quotients); one flipped
/// code in a token's group moves a third of that row's projection outputs by an ulp.
/// The remainder is exact while it stays above float32's subnormals, which holds when exponent(s) + exponent(q) ≥ −103:
/// for every quotient that reaches an FP8 code (|x / s| ≥ 2⁻¹⁰ for E4M3, 2⁻¹⁷ for E5M2) once |s| ≥ 2⁻⁶⁴. Scales below
/// 2⁻⁶⁴ (and above 2¹²⁰, whose reciprocal would be subnormal) are multiplied by 2⁶⁴ (2⁻⁶⁴), x with them
/// (<see cref="Divide"/>; a subnormal scale stays below 2⁻⁶⁴ but its exponent sum still holds); computed scales are kept
/// inside the range (<see cref="DivideBounded"/>).
/// </summary>
internal readonly struct ScaleDivisor
{
    /// <summary>The prescaled scale s · p where it and its reciprocal are finite, else 0: the correction's multiplier,
    /// which 0 turns into q + 0 (s = ∞: the quotient is x · 0; s = 0: ±∞ or NaN).</summary>
    private readonly float correctionScale;
    /// <summary>1 / (s · p).</summary>
    public readonly float Inverse;
    /// <summary>p: 2⁶⁴ for |s| below 2⁻⁶⁴, 2⁻⁶⁴ above 2¹²⁰, else 1 (exact powers of two: x · p / (s · p) = x / s).</summary>
    private readonly float prescale;

    /// <summary>2⁻⁶⁴, 2⁶⁴ and 2¹²⁰ (C# has no hexadecimal float literals; these decimals round to exactly those powers).</summary>
    public const float TwoToMinus64 = 5.421010862427522E-20f, TwoTo64 = 1.8446744073709552E19f, TwoTo120 = 1.329227995784916E36f;

    private ScaleDivisor(float correctionScale, float inverse, float prescale)
    {
        this.correctionScale = correctionScale;
        Inverse = inverse;
        this.prescale = prescale;
    }

    /// <summary>The divisor of a scale computed from an amax (<see cref="QuantizeFp8.Fp8QuantizeKernels.ScaleFromAmax{TFormat}"/>:
    /// 2⁻⁶⁴ ≤ s ≤ 2¹¹⁹, or ∞, NaN, 1), for <see cref="DivideBounded"/>: no prescale to choose, and 1/s is finite
    /// wherever s is (the general constructor's range tests: 55.7 → 58.4 µs per token group at 8192², H200, 12-04).</summary>
    public static ScaleDivisor OfComputedScale(float scale)
    {
        float inverse = 1f / scale;
        return new ScaleDivisor(scale - scale == 0f ? scale : 0f, inverse, 1f);
    }

    public ScaleDivisor(float scale)
    {
        float magnitude = Bits.ToFloat(Bits.Of(scale) & 0x7FFF_FFFFu);
        prescale = magnitude < TwoToMinus64 ? TwoTo64 : magnitude > TwoTo120 ? TwoToMinus64 : 1f;
        float scaled = scale * prescale;
        Inverse = 1f / scaled;
        correctionScale = scaled - scaled == 0f && Inverse - Inverse == 0f ? scaled : 0f;
    }

    /// <summary>x / scale, correctly rounded wherever the quotient reaches an FP8 code, for any x and scale (zero,
    /// subnormal, infinite and NaN included). Six instructions past the multiply (the prescale, two FFMA, the NaN and
    /// zero tests, the select): the given-scale quantize kernels are memory-bound.</summary>
    public float Divide(float x)
    {
        float xs = x * prescale;
        float q = xs * Inverse;
        float t = PtxMath.Fma(q, correctionScale, -xs);
        float corrected = PtxMath.Fma(-t, Inverse, q);
        // q itself where the correction does not apply: NaN (q = ±∞: x infinite or x / s beyond float32; s = 0) and
        // q = ±0, whose sign the correction can lose for a negative scale (x / s underflows to a zero code either way).
        return float.IsNaN(corrected) || q == 0f ? q : corrected;
    }

    /// <summary><see cref="Divide"/> for a scale computed from an amax that bounds |x|
    /// (<see cref="QuantizeFp8.Fp8QuantizeKernels.ScaleFromAmax{TFormat}"/>: s = amax · fl(1/max) ≥ 2⁻⁶⁴, at most 2¹¹⁹, or
    /// ∞, NaN, 1): then no prescale applies, x / s is finite whenever s is, and for s = ∞ the zeroed correction leaves
    /// x · 0, the quotient. Two instructions past the multiply (per token group 8192²: 60.5 → 55.6 µs, H200, 12-04).</summary>
    public float DivideBounded(float x)
    {
        float q = x * Inverse;
        // t = q·s − x exactly (t = −remainder); written this way round, ±0 keeps its sign through both FMAs (s > 0).
        float t = PtxMath.Fma(q, correctionScale, -x);
        return PtxMath.Fma(-t, Inverse, q);
    }
}
