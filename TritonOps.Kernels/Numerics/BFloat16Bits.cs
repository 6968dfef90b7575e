namespace TritonOps.Kernels.Numerics;

/// <summary>bfloat16 stored as its 16 raw bits: the upper half of a float32.</summary>
internal static class BFloat16Bits
{
    /// <summary>Exact: a bf16 is a float32 with the low 16 mantissa bits zero.</summary>
    public static float ToFloat(uint bits) => Bits.ToFloat(bits << 16);

    /// <summary>Round to nearest, ties to even; NaN stays NaN (quiet), overflow goes to ±Inf.</summary>
    public static ushort FromFloat(float value)
    {
        uint u = Bits.Of(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((u >> 16) | 0x0040u);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }
}
