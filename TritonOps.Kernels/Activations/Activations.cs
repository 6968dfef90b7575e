using ILGPU.Algorithms;

namespace TritonOps.Kernels.Activations;

/// <summary>An elementwise activation, applied in float32 in a kernel's epilogue.</summary>
internal interface IActivation
{
    static abstract float Apply(float x);
}

/// <summary>silu(x) = x / (1 + e⁻ˣ)</summary>
internal struct Silu : IActivation
{
    public static float Apply(float x) => x / (1f + XMath.Exp(-x));
}

/// <summary>gelu(x) = x/2 · (1 + erf(x/√2)) — the exact form, PyTorch's default.</summary>
internal struct Gelu : IActivation
{
    public static float Apply(float x) => 0.5f * x * (1f + Erf.Of(x * 0.70710678118654752f));
}

/// <summary>gelu_tanh(x) = x/2 · (1 + tanh(u)), u = √(2/π) · (x + 0.044715 x³) — PyTorch's approximate="tanh" —
/// computed as x / (1 + e⁻²ᵘ), the same function: XMath.Tanh on CUDA is off by up to ~6e-5 relative
/// (seen on the H200 in float32 outputs), and this form has no cancellation.</summary>
internal struct GeluTanh : IActivation
{
    public static float Apply(float x) => x / (1f + XMath.Exp(-1.5957691216057307f * (x + 0.044715f * x * x * x)));
}

/// <summary>erf in float32 through erfc's Chebyshev fit (Numerical Recipes' erfcc, fractional
/// error below 1.2e-7 everywhere), since ILGPU.Algorithms has no erf.</summary>
internal static class Erf
{
    public static float Of(float x)
    {
        float z = XMath.Abs(x);
        float t = 1f / (1f + 0.5f * z);
        float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
            + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
        float erfc = t * XMath.Exp(-z * z + poly);
        return x >= 0f ? 1f - erfc : erfc - 1f;
    }
}
