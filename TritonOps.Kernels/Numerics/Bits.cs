namespace TritonOps.Kernels.Numerics;

/// <summary>Float ↔ bits reinterpretation that works on the host and inside kernels.</summary>
internal static class Bits
{
    public static uint Of(float value) => Interop.FloatAsInt(value);

    public static float ToFloat(uint bits) => Interop.IntAsFloat(bits);
}
