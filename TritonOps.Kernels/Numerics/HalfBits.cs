namespace TritonOps.Kernels.Numerics;

/// <summary>IEEE binary16 by bit operations: the portable path (CPU accelerator, host).
/// On CUDA the kernels use <c>cvt</c> instead (see <see cref="Ptx.PtxConvert"/>); tests pin
/// both to System.Half over all 65 536 codes.</summary>
internal static class HalfBits
{
    /// <summary>Exact widening of a binary16 code.</summary>
    public static float ToFloat(uint h)
    {
        uint sign = (h & 0x8000u) << 16;
        uint exponent = (h >> 10) & 0x1Fu;
        uint mantissa = h & 0x3FFu;
        if (exponent == 0x1Fu)
            return Bits.ToFloat(sign | 0x7F80_0000u | (mantissa << 13));
        if (exponent == 0)
        {
            // Subnormal: mantissa · 2⁻²⁴, exact in float32.
            float magnitude = mantissa * 5.9604644775390625e-8f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Bits.ToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    }

    /// <summary>Round to nearest, ties to even; overflow to ±Inf; NaN stays NaN (quiet).</summary>
    public static ushort FromFloat(float value)
    {
        uint u = Bits.Of(value);
        uint sign = (u >> 16) & 0x8000u;
        uint a = u & 0x7FFF_FFFFu;
        if (a >= 0x7F80_0000u)
            return (ushort)(sign | (a > 0x7F80_0000u ? 0x7E00u : 0x7C00u));
        if (a >= 0x477F_F000u) // ≥ 65520 rounds past the largest finite half
            return (ushort)(sign | 0x7C00u);
        if (a < 0x3880_0000u)
        {
            // Below 2⁻¹⁴: adding 0.5 puts the binary16 subnormal quantum (2⁻²⁴) at the
            // float's last mantissa bit, so the FPU's own rounding is round-half-even.
            float shifted = Bits.ToFloat(a) + 0.5f;
            return (ushort)(sign | (Bits.Of(shifted) - 0x3F00_0000u));
        }
        uint odd = (a >> 13) & 1u;
        a += 0xC800_0FFFu + odd; // rebias exponent (−112 « 23) and round on bit 13
        return (ushort)(sign | (a >> 13));
    }
}
