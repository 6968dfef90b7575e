namespace TritonOps.Kernels.Ptx;

/// <summary>Packed conversions: hardware <c>cvt</c> on CUDA, the bit-exact portable code elsewhere.
/// Both sides round to nearest even; tests hold the portable side to System.Half and to the
/// bf16 definition, and the GPU run of the same tests holds the hardware side to them.
/// float16 uses ILGPU's own Half casts (which lower to <c>cvt</c> with no inline PTX).</summary>
internal static class PtxConvert
{
    /// <summary>Both halves of an f16x2 word, exactly.</summary>
    public static void Float16x2ToFloats(uint packed, out float lo, out float hi)
    {
        if (CudaAsm.IsSupported)
        {
            lo = Interop.IntAsFloat((ushort)packed);
            hi = Interop.IntAsFloat((ushort)(packed >> 16));
        }
        else
        {
            lo = HalfBits.ToFloat(packed & 0xFFFFu);
            hi = HalfBits.ToFloat(packed >> 16);
        }
    }

    /// <summary>Two floats to one f16x2 word (<c>cvt.rn.f16.f32</c> ×2), lo in bits 0–15.</summary>
    public static uint FloatsToFloat16x2(float lo, float hi)
    {
        if (CudaAsm.IsSupported)
            return Interop.FloatAsInt((ILGPU.Half)lo) | ((uint)Interop.FloatAsInt((ILGPU.Half)hi) << 16);
        return HalfBits.FromFloat(lo) | ((uint)HalfBits.FromFloat(hi) << 16);
    }

    /// <summary><c>cvt.rn.bf16x2.f32 d, hi, lo</c>: two floats to one bf16x2 word, lo in bits 0–15.</summary>
    public static uint FloatsToBFloat16x2(float lo, float hi)
    {
        if (CudaAsm.IsSupported)
        {
            // The plain Emit form passes inputs as registers; only the output takes a local slot.
            CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out uint packed, hi, lo);
            return packed;
        }
        return BFloat16Bits.FromFloat(lo) | ((uint)BFloat16Bits.FromFloat(hi) << 16);
    }

    /// <summary>Four floats to four E4M3 codes (a in bits 0–7 … d in 24–31): two <c>cvt.rn.satfinite.e4m3x2.f32</c>
    /// (sm_89+) and one move that joins their halves (the pairwise form spends a widen, a shift and an or on each pair).
    /// Same semantics as <see cref="E4M3.Encode"/>: nearest even, ±Inf and overflow to ±448, canonical NaN 0x7F.</summary>
    public static uint FloatsToE4M3x4(float a, float b, float c, float d)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("{ .reg .b16 lo, hi; cvt.rn.satfinite.e4m3x2.f32 lo, %2, %1; cvt.rn.satfinite.e4m3x2.f32 hi, %4, %3; mov.b32 %0, {lo, hi}; }",
                out uint packed, a, b, c, d);
            return packed;
        }
        return E4M3.Encode(a) | ((uint)E4M3.Encode(b) << 8) | ((uint)E4M3.Encode(c) << 16) | ((uint)E4M3.Encode(d) << 24);
    }

    /// <summary><see cref="FloatsToE4M3x4"/> for E5M2 (±57344).</summary>
    public static uint FloatsToE5M2x4(float a, float b, float c, float d)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("{ .reg .b16 lo, hi; cvt.rn.satfinite.e5m2x2.f32 lo, %2, %1; cvt.rn.satfinite.e5m2x2.f32 hi, %4, %3; mov.b32 %0, {lo, hi}; }",
                out uint packed, a, b, c, d);
            return packed;
        }
        return E5M2.Encode(a) | ((uint)E5M2.Encode(b) << 8) | ((uint)E5M2.Encode(c) << 16) | ((uint)E5M2.Encode(d) << 24);
    }
}
