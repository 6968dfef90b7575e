using TritonOps.Kernels.Numerics;

namespace TritonOps;

public static partial class Reference
{
    /// <summary>
    /// quantize_fp8 on the host, with the same float32 steps as the kernels (so codes compare bit for
    /// bit): scale = given, or amax / max (1 when amax is 0); q = encode(x · (1 / scale)).
    /// <paramref name="scaleOf"/> maps an element index to its scale group; <paramref name="groups"/> groups.
    /// </summary>
    public static (byte[] Codes, float[] Scales) QuantizeFp8(ReadOnlySpan<float> x, DType format, int groups, Func<long, int> scaleOf, float[]? scales = null)
    {
        Func<float, byte> encode = format == DType.Float8E4M3 ? E4M3.Encode : E5M2.Encode;
        float max = format == DType.Float8E4M3 ? E4M3.MaxFinite : E5M2.MaxFinite;
        if (scales is null)
        {
            var amax = new float[groups];
            for (long i = 0; i < x.Length; i++)
            {
                float v = MathF.Abs(x[(int)i]);
                int group = scaleOf(i);
                if (float.IsNaN(v) || float.IsNaN(amax[group]))
                    amax[group] = float.NaN; // NaN wins, as on the device
                else if (v > amax[group])
                    amax[group] = v;
            }
            scales = amax.Select(a => a == 0f ? 1f : a / max).ToArray();
        }
        var codes = new byte[x.Length];
        for (long i = 0; i < x.Length; i++)
            codes[i] = encode(x[(int)i] * (1f / scales[scaleOf(i)]));
        return (codes, scales);
    }

    /// <summary>float64 product of dequantized operands: Σₖ (a[m,k]·sa) · (b[k,n]·sb), for a [M, K]
    /// and b [K, N] given as decoded values with per-row (a) and per-column (b) scales.</summary>
    public static double[] Fp8Gemm(float[] aDecoded, float[] aScales, float[] bDecoded, float[] bScales, int m, int k, int n, float[]? bias = null)
    {
        var output = new double[(long)m * n];
        for (int i = 0; i < m; i++)
        {
            double sa = aScales.Length == 1 ? aScales[0] : aScales[i];
            for (int j = 0; j < n; j++)
            {
                double sb = bScales.Length == 1 ? bScales[0] : bScales[j];
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)aDecoded[i * k + p] * bDecoded[p * n + j];
                output[(long)i * n + j] = sum * sa * sb + (bias is null ? 0 : bias[j]);
            }
        }
        return output;
    }
}
