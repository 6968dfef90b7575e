using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Tests;

/// <summary>One <c>mma.sync.m16n8k16</c> with fragments placed exactly as the PTX ISA lays them out:
/// the hardware instruction on CUDA, the warp-shuffle emulation on the CPU. Against a float64
/// product, so a lane-layout mistake fails on either.</summary>
public class MmaFragmentTests(DeviceKind kind) : OnEveryDevice(kind)
{

    /// <summary>a: A [16 × 16] row-major; b: B stored [n = 8][k = 16]; d: C in, D out, [16 × 8] float.</summary>
    internal static void OneMma<TElement>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<byte> d) where TElement : struct, IMmaElement
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var fragment = new FragA
        {
            R0 = Word(a, g, 2 * t), R1 = Word(a, g + 8, 2 * t), R2 = Word(a, g, 2 * t + 8), R3 = Word(a, g + 8, 2 * t + 8),
        };
        var dd = d.Cast<float>();
        var c = new Acc4 { C0 = dd[g * 8 + 2 * t], C1 = dd[g * 8 + 2 * t + 1], C2 = dd[(g + 8) * 8 + 2 * t], C3 = dd[(g + 8) * 8 + 2 * t + 1] };
        c = PtxMma.MmaM16N8K16<TElement>(c, fragment, Word(b, g, 2 * t), Word(b, g, 2 * t + 8));
        dd[g * 8 + 2 * t] = c.C0;
        dd[g * 8 + 2 * t + 1] = c.C1;
        dd[(g + 8) * 8 + 2 * t] = c.C2;
        dd[(g + 8) * 8 + 2 * t + 1] = c.C3;
    }

    /// <summary>Elements (row, col) and (row, col + 1) of a 16-wide matrix of 16-bit codes as one word.</summary>
    private static uint Word(ArrayView<byte> matrix, int row, int col)
    {
        var m = matrix.Cast<ushort>();
        return m[row * 16 + col] | ((uint)m[row * 16 + col + 1] << 16);
    }

    /// <summary>a: A [16 × 32] e4m3 codes row-major; b: B stored [n = 8][k = 32]; d: C in, D out.</summary>
    public static void OneMmaE4M3(ArrayView<byte> a, ArrayView<byte> b, ArrayView<byte> d)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var words = a.Cast<uint>();
        var bWords = b.Cast<uint>();
        var fragment = new FragA { R0 = words[g * 8 + t], R1 = words[(g + 8) * 8 + t], R2 = words[g * 8 + 4 + t], R3 = words[(g + 8) * 8 + 4 + t] };
        var dd = d.Cast<float>();
        var c = new Acc4 { C0 = dd[g * 8 + 2 * t], C1 = dd[g * 8 + 2 * t + 1], C2 = dd[(g + 8) * 8 + 2 * t], C3 = dd[(g + 8) * 8 + 2 * t + 1] };
        c = PtxMma.MmaM16N8K32E4M3(c, fragment, bWords[g * 8 + t], bWords[g * 8 + 4 + t]);
        dd[g * 8 + 2 * t] = c.C0;
        dd[g * 8 + 2 * t + 1] = c.C1;
        dd[(g + 8) * 8 + 2 * t] = c.C2;
        dd[(g + 8) * 8 + 2 * t + 1] = c.C3;
    }

    [Test]
    public void MmaM16N8K32E4M3_MatchesFloat64Product()
    {
        float[] aValues = Inputs.Normal(16 * 32, 4, 8), bValues = Inputs.Normal(8 * 32, 5, 8), cValues = Inputs.Normal(16 * 8, 6);
        using var a = Tensor.FromArray(aValues, [16, 32], DType.Float8E4M3, Device);
        using var b = Tensor.FromArray(bValues, [8, 32], DType.Float8E4M3, Device);
        using var d = Tensor.FromArray(cValues, [16, 8], DType.Float32, Device);
        Device.Launch(GetType().GetMethod(nameof(OneMmaE4M3))!, new KernelConfig(1, 32), a.Bytes, b.Bytes, d.Bytes);

        Compare.AllClose(d.ToFloatArray(), Product(a.ToFloatArray(), b.ToFloatArray(), cValues, 32), new Tolerance(1e-4, 1e-5));
    }

    [TestCase(DType.Float16)]
    [TestCase(DType.BFloat16)]
    public void MmaM16N8K16_MatchesFloat64Product(DType dtype)
    {
        float[] aValues = Inputs.Normal(16 * 16, 1), bValues = Inputs.Normal(8 * 16, 2), cValues = Inputs.Normal(16 * 8, 3);
        using var a = Tensor.FromArray(aValues, [16, 16], dtype, Device);
        using var b = Tensor.FromArray(bValues, [8, 16], dtype, Device);
        using var d = Tensor.FromArray(cValues, [16, 8], DType.Float32, Device);
        var element = dtype == DType.Float16 ? typeof(Float16Element) : typeof(BFloat16Element);
        Device.Launch(GetType().GetMethod(nameof(OneMma), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(element), new KernelConfig(1, 32), a.Bytes, b.Bytes, d.Bytes);

        // Products of 16-bit values are exact in float32; only the float32 sum rounds.
        Compare.AllClose(d.ToFloatArray(), Product(a.ToFloatArray(), b.ToFloatArray(), cValues, 16), new Tolerance(1e-5, 1e-5));
    }

    /// <summary>C + A·B in float64 for A [16 × k] and B stored [8 × k].</summary>
    private static double[] Product(float[] a, float[] b, float[] c, int k)
    {
        double[] d = new double[16 * 8];
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 8; j++)
            {
                double sum = c[i * 8 + j];
                for (int p = 0; p < k; p++)
                    sum += (double)a[i * k + p] * b[j * k + p];
                d[i * 8 + j] = sum;
            }
        return d;
    }
}
