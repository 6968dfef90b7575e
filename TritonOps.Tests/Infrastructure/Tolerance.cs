namespace TritonOps.Tests.Infrastructure;

/// <summary>|actual − expected| ≤ Absolute + Relative · |expected|.</summary>
public readonly record struct Tolerance(double Absolute, double Relative)
{
    /// <summary>
    /// For ops whose float32 arithmetic is rounded once into the output dtype: the relative
    /// term is half an ulp of the dtype (the store's rounding) plus 1e-5 for a handful of float32
    /// operations; the absolute term covers cancellation near zero (terms are O(1)).
    ///   float32 : ~10 float32 roundings of O(1) terms.
    ///   float16 : 2⁻¹¹ (11-bit significand) + float32 slack.
    ///   bfloat16: 2⁻⁸ (8-bit significand) + float32 slack.
    /// </summary>
    public static Tolerance OneRoundingInto(DType dtype) => dtype switch
    {
        DType.Float32 => new(1e-5, 1e-5),
        DType.Float16 => new(1e-5, Math.Pow(2, -11) + 1e-5),
        DType.BFloat16 => new(1e-5, Math.Pow(2, -8) + 1e-5),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
