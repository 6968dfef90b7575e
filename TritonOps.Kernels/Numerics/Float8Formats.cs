namespace TritonOps.Kernels.Numerics;

/// <summary>An OCP FP8 format: how its byte codes map to and from float.
/// Encoding is round-to-nearest-even with saturation to the largest finite value, the
/// semantics of PTX <c>cvt.rn.satfinite.{e4m3,e5m2}x2.f32</c>.</summary>
internal interface IFloat8Format
{
    /// <summary>Largest finite value.</summary>
    static abstract float MaxFinite { get; }

    /// <summary>1 / <see cref="MaxFinite"/> rounded to float32 (a compile-time constant: the device never divides for it).</summary>
    static abstract float InverseMaxFinite { get; }

    static abstract float Decode(uint code);

    static abstract byte Encode(float value);

    /// <summary>Four codes (a in bits 0–7): the hardware cvt in kernels on CUDA, <see cref="Encode"/> elsewhere.</summary>
    static abstract uint EncodeQuad(float a, float b, float c, float d);
}

/// <summary>OCP E4M3 ("fn"): bias 7, no infinities, NaN = S.1111.111, max ±448; bit-identical
/// to <c>torch.float8_e4m3fn</c>. Encoding saturates: |x| ≥ 448 and ±Inf give ±448; every NaN gives
/// the canonical NaN 0x7F (as <c>cvt.rn.satfinite</c> does; GPU arithmetic does not keep NaN signs, so
/// a signed NaN code would differ between devices).</summary>
internal struct E4M3 : IFloat8Format
{
    public static float MaxFinite => 448f;
    public static float InverseMaxFinite => 1f / 448f;

    public static uint EncodeQuad(float a, float b, float c, float d) => Ptx.PtxConvert.FloatsToE4M3x4(a, b, c, d);

    public static float Decode(uint code)
    {
        uint sign = (code & 0x80u) << 24;
        uint exponent = (code >> 3) & 0xFu;
        uint mantissa = code & 0x7u;
        if (exponent == 0xFu && mantissa == 0x7u)
            return Bits.ToFloat(sign | 0x7FC0_0000u);
        if (exponent == 0)
        {
            float magnitude = mantissa * 0.001953125f; // mantissa · 2⁻⁹
            return sign != 0 ? -magnitude : magnitude;
        }
        return Bits.ToFloat(sign | ((exponent + 120u) << 23) | (mantissa << 20));
    }

    public static byte Encode(float value)
    {
        uint u = Bits.Of(value);
        uint sign = (u >> 24) & 0x80u;
        uint a = u & 0x7FFF_FFFFu;
        if (a > 0x7F80_0000u)
            return 0x7F;
        uint code;
        if (a < 0x3C80_0000u)
        {
            // Below 2⁻⁶ (subnormal): adding 2¹⁴ puts the 2⁻⁹ quantum at the float's last bit.
            float shifted = Bits.ToFloat(a) + 16384f;
            code = Bits.Of(shifted) - 0x4680_0000u;
        }
        else
        {
            uint odd = (a >> 20) & 1u;
            code = (a + 0xC407_FFFFu + odd) >> 20; // rebias (−120 « 23), round on bit 20
            if (code > 0x7Eu)
                code = 0x7Eu; // saturate; 0x7F is NaN
        }
        return (byte)(sign | code);
    }
}

/// <summary>OCP E5M2: bias 15, ±Inf = S.11111.00, NaN = S.11111.{01,10,11}, max ±57344.
/// Decoding matches <c>torch.float8_e5m2</c>. Encoding saturates like
/// <c>cvt.rn.satfinite.e5m2x2.f32</c>: overflow and ±Inf give ±57344; every NaN gives 0x7F.</summary>
internal struct E5M2 : IFloat8Format
{
    public static float MaxFinite => 57344f;
    public static float InverseMaxFinite => 1f / 57344f;

    public static uint EncodeQuad(float a, float b, float c, float d) => Ptx.PtxConvert.FloatsToE5M2x4(a, b, c, d);

    public static float Decode(uint code)
    {
        uint sign = (code & 0x80u) << 24;
        uint exponent = (code >> 2) & 0x1Fu;
        uint mantissa = code & 0x3u;
        if (exponent == 0x1Fu)
            return Bits.ToFloat(sign | 0x7F80_0000u | (mantissa << 21));
        if (exponent == 0)
        {
            float magnitude = mantissa * 1.52587890625e-5f; // mantissa · 2⁻¹⁶
            return sign != 0 ? -magnitude : magnitude;
        }
        return Bits.ToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 21));
    }

    public static byte Encode(float value)
    {
        uint u = Bits.Of(value);
        uint sign = (u >> 24) & 0x80u;
        uint a = u & 0x7FFF_FFFFu;
        if (a > 0x7F80_0000u)
            return 0x7F;
        uint code;
        if (a < 0x3880_0000u)
        {
            // Below 2⁻¹⁴ (subnormal): adding 2⁷ puts the 2⁻¹⁶ quantum at the float's last bit.
            float shifted = Bits.ToFloat(a) + 128f;
            code = Bits.Of(shifted) - 0x4300_0000u;
        }
        else
        {
            uint odd = (a >> 21) & 1u;
            code = (a + 0xC80F_FFFFu + odd) >> 21; // rebias (−112 « 23), round on bit 21
            if (code > 0x7Bu)
                code = 0x7Bu; // saturate; 0x7C is Inf
        }
        return (byte)(sign | code);
    }
}
