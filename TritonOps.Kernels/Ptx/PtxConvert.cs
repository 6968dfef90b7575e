using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Kernels.Ptx;

/// <summary>Packed conversions: one <c>cvt</c> on CUDA, the bit-exact portable code elsewhere.
/// Both sides round to nearest even; tests hold the portable side to System.Half and to the
/// bf16 definition, and the GPU run of the same tests holds <c>cvt</c> to them.</summary>
public static class PtxConvert
{
    /// <summary><c>mov.b32 {lo, hi}, packed; cvt.f32.f16</c> ×2: both halves of an f16x2 word.</summary>
    public static void Float16x2ToFloats(uint packed, out float lo, out float hi)
    {
        if (CudaAsm.IsSupported)
        {
            Output<float> l = default, h = default;
            Input<uint> p = packed;
            CudaAsm.EmitRef(
                "{ .reg .b16 lo16, hi16; mov.b32 {lo16, hi16}, %2; cvt.f32.f16 %0, lo16; cvt.f32.f16 %1, hi16; }",
                ref l, ref h, ref p);
            lo = l.Value;
            hi = h.Value;
        }
        else
        {
            lo = HalfBits.ToFloat(packed & 0xFFFFu);
            hi = HalfBits.ToFloat(packed >> 16);
        }
    }

    /// <summary><c>cvt.rn.f16x2.f32 d, hi, lo</c>: two floats to one f16x2 word, lo in bits 0–15.</summary>
    public static uint FloatsToFloat16x2(float lo, float hi)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> d = default;
            Input<float> h = hi, l = lo;
            CudaAsm.EmitRef("cvt.rn.f16x2.f32 %0, %1, %2;", ref d, ref h, ref l);
            return d.Value;
        }
        return HalfBits.FromFloat(lo) | ((uint)HalfBits.FromFloat(hi) << 16);
    }

    /// <summary><c>cvt.rn.bf16x2.f32 d, hi, lo</c>: two floats to one bf16x2 word, lo in bits 0–15.</summary>
    public static uint FloatsToBFloat16x2(float lo, float hi)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> d = default;
            Input<float> h = hi, l = lo;
            CudaAsm.EmitRef("cvt.rn.bf16x2.f32 %0, %1, %2;", ref d, ref h, ref l);
            return d.Value;
        }
        return BFloat16Bits.FromFloat(lo) | ((uint)BFloat16Bits.FromFloat(hi) << 16);
    }
}
