using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TritonOps.Kernels.Ptx;

/// <summary>Math with a cheaper hardware form than ILGPU's IEEE-rounded default.</summary>
internal static class PtxMath
{
    /// <summary><c>rsqrt.approx.f32</c> (one MUFU.RSQ, relative error below 2⁻²²) on CUDA; 1 / √x elsewhere.
    /// ILGPU's <c>XMath.Rsqrt</c> rounds a square root and then a reciprocal, ~20 instructions with
    /// slow-path branches: per row of a 16-bit RMSNorm that is more than the error is worth.</summary>
    public static float Rsqrt(float x)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("rsqrt.approx.f32 %0, %1;", out float r, x);
            return r;
        }
        return 1f / MathF.Sqrt(x);
    }
}
