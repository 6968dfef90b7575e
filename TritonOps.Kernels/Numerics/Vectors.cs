using System.Runtime.InteropServices;

namespace TritonOps.Kernels.Numerics;

/// <summary>16 bytes as four words: the unit of a vectorized global load or store
/// (ILGPU emits one 128-bit access for a struct of four same-typed fields).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Vec4U
{
    public uint X, Y, Z, W;

    public Vec4U(uint x, uint y, uint z, uint w) { X = x; Y = y; Z = z; W = w; }
}

/// <summary>Up to eight elements held in registers as float. Fields, not an array, so
/// that every access has a constant index and nothing spills to local memory.</summary>
internal struct Vec8F
{
    public float E0, E1, E2, E3, E4, E5, E6, E7;

    /// <summary>Σ eᵢ²</summary>
    public readonly float SumOfSquares() =>
        E0 * E0 + E1 * E1 + E2 * E2 + E3 * E3 + E4 * E4 + E5 * E5 + E6 * E6 + E7 * E7;

    /// <summary>this ⊙ other · s</summary>
    public readonly Vec8F MultiplyScaled(in Vec8F other, float s) => new()
    {
        E0 = E0 * s * other.E0, E1 = E1 * s * other.E1, E2 = E2 * s * other.E2, E3 = E3 * s * other.E3,
        E4 = E4 * s * other.E4, E5 = E5 * s * other.E5, E6 = E6 * s * other.E6, E7 = E7 * s * other.E7,
    };

    /// <summary>a ⊙ b + sign · c ⊙ d (sign is ±1): the two halves of a rotate-half RoPE.</summary>
    public static Vec8F MulAddMul(in Vec8F a, in Vec8F b, float sign, in Vec8F c, in Vec8F d) => new()
    {
        E0 = a.E0 * b.E0 + sign * (c.E0 * d.E0), E1 = a.E1 * b.E1 + sign * (c.E1 * d.E1),
        E2 = a.E2 * b.E2 + sign * (c.E2 * d.E2), E3 = a.E3 * b.E3 + sign * (c.E3 * d.E3),
        E4 = a.E4 * b.E4 + sign * (c.E4 * d.E4), E5 = a.E5 * b.E5 + sign * (c.E5 * d.E5),
        E6 = a.E6 * b.E6 + sign * (c.E6 * d.E6), E7 = a.E7 * b.E7 + sign * (c.E7 * d.E7),
    };
}
