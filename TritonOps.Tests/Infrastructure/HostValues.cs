namespace TritonOps.Tests.Infrastructure;

/// <summary>Host-side conversions the FP8 tests share: codes decoded exactly, floats rounded into a dtype.</summary>
public static class HostValues
{
    /// <summary>The exact values of FP8 <paramref name="codes"/> in <paramref name="format"/>.</summary>
    public static float[] Decode(byte[] codes, DType format)
    {
        var values = new float[codes.Length];
        DTypes.Decode(codes, format, values);
        return values;
    }

    /// <summary>Each value rounded (nearest even) into <paramref name="dtype"/>.</summary>
    public static float[] RoundTo(float[] values, DType dtype) => values.Select(v => DTypes.Round(v, dtype)).ToArray();
}
