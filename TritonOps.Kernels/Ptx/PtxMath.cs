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

    /// <summary>a · b + c with one rounding: <c>fma.rn.f32</c> on CUDA, spelled out so that no backend splits it into a
    /// multiply and an add (<see cref="Numerics.ScaleDivisor"/> needs the exact remainder). Elsewhere in double: a · b is
    /// exact there, the sum is rounded to odd (the round-to-nearest sum, moved one ulp toward the exact value when it was
    /// inexact and landed on an even significand), and a round-to-odd double rounds to the float32 that one rounding of the
    /// exact value gives (53 ≥ 24 + 2 bits). Not <see cref="MathF.FusedMultiplyAdd"/>: ILGPU has no PTX for it, and the
    /// kernel's branch for other backends is still compiled (a call to an undefined function fails the JIT).</summary>
    public static float Fma(float a, float b, float c)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("fma.rn.f32 %0, %1, %2, %3;", out float r, a, b, c);
            return r;
        }
        double product = (double)a * b, sum = product + c;
        double back = sum - product, error = (product - (sum - back)) + (c - back); // TwoSum: sum + error = product + c exactly
        ulong bits = Interop.FloatAsInt(sum);
        if (error != 0 && (bits & 1) == 0 && sum - sum == 0)
            sum = Interop.IntAsFloat((error > 0) == (sum > 0) ? bits + 1 : bits - 1);
        return (float)sum;
    }

    /// <summary>a · b rounded once, never fused with a later add (<c>mul.rn.f32</c>: ptxas contracts a plain multiply and
    /// add into an FMA): a product as PyTorch's separate <c>q * cos</c> kernel rounds it.</summary>
    public static float Mul(float a, float b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mul.rn.f32 %0, %1, %2;", out float r, a, b);
            return r;
        }
        return a * b;
    }

    /// <summary>a + b rounded once (<c>add.rn.f32</c>, never fused with the products before it).</summary>
    public static float Add(float a, float b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("add.rn.f32 %0, %1, %2;", out float r, a, b);
            return r;
        }
        return a + b;
    }

    /// <summary><c>max.u16x2</c> (sm_90): the larger of each 16-bit half, one instruction for two elements. On
    /// non-negative 16-bit floats (sign cleared) the bit patterns order like the values, NaN above Inf.</summary>
    public static uint MaxU16x2(uint a, uint b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("max.u16x2 %0, %1, %2;", out uint r, a, b);
            return r;
        }
        return Math.Max(a & 0xFFFFu, b & 0xFFFFu) | (Math.Max(a >> 16, b >> 16) << 16);
    }
}
