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

    /// <summary>a: A [32 × 16] row-major; b: B stored [n = 32][k = 16]; d: [32 × 32] float, written: one warp step of
    /// <see cref="IMmaFlavour.WarpTile{TElement}"/> (tile Tij at rows 16i, columns 8j).</summary>
    internal static void WarpTileOf<TElement, TFlavour>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<byte> d)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var acc = TFlavour.WarpTile<TElement>(default, Fragment(a, g, t), Fragment(a, 16 + g, t),
            Word(b, g, 2 * t), Word(b, g, 2 * t + 8), Word(b, 8 + g, 2 * t), Word(b, 8 + g, 2 * t + 8),
            Word(b, 16 + g, 2 * t), Word(b, 16 + g, 2 * t + 8), Word(b, 24 + g, 2 * t), Word(b, 24 + g, 2 * t + 8));
        var dd = d.Cast<float>();
        Put(dd, acc.T00, g, 2 * t); Put(dd, acc.T01, g, 8 + 2 * t); Put(dd, acc.T02, g, 16 + 2 * t); Put(dd, acc.T03, g, 24 + 2 * t);
        Put(dd, acc.T10, 16 + g, 2 * t); Put(dd, acc.T11, 16 + g, 8 + 2 * t); Put(dd, acc.T12, 16 + g, 16 + 2 * t); Put(dd, acc.T13, 16 + g, 24 + 2 * t);
    }

    private static FragA Fragment(ArrayView<byte> a, int row, int t) => new()
    {
        R0 = Word(a, row, 2 * t), R1 = Word(a, row + 8, 2 * t), R2 = Word(a, row, 2 * t + 8), R3 = Word(a, row + 8, 2 * t + 8),
    };

    private static void Put(ArrayView<float> d, Acc4 c, int row, int col)
    {
        d[row * 32 + col] = c.C0;
        d[row * 32 + col + 1] = c.C1;
        d[(row + 8) * 32 + col] = c.C2;
        d[(row + 8) * 32 + col + 1] = c.C3;
    }

    /// <summary>The CPU accelerator's batched emulation (<see cref="EmulatedMma"/>, what the GEMM kernels take there)
    /// gives the bits of eight single emulated mma (<see cref="TensorCoreMma"/>, whose mma fall back to the emulation
    /// off CUDA), and both the float64 product to float32 summation.</summary>
    [TestCase(DType.Float16)]
    [TestCase(DType.BFloat16)]
    public void WarpTile_EmulatedBatch_GivesTheBitsOfEightMma(DType dtype)
    {
        if (Kind != DeviceKind.Cpu)
            Assert.Ignore("The emulation is the CPU accelerator's; CUDA runs the tensor-core flavour in every GEMM test.");
        float[] aValues = Inputs.Normal(32 * 16, 7), bValues = Inputs.Normal(32 * 16, 8);
        using var a = Tensor.FromArray(aValues, [32, 16], dtype, Device);
        using var b = Tensor.FromArray(bValues, [32, 16], dtype, Device);
        using var batched = Tensor.Empty([32, 32], DType.Float32, Device);
        using var single = Tensor.Empty([32, 32], DType.Float32, Device);
        var element = dtype == DType.Float16 ? typeof(Float16Element) : typeof(BFloat16Element);
        var kernel = GetType().GetMethod(nameof(WarpTileOf), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!;
        Device.Launch(kernel.MakeGenericMethod(element, typeof(EmulatedMma)), new KernelConfig(1, 32), a.Bytes, b.Bytes, batched.Bytes);
        Device.Launch(kernel.MakeGenericMethod(element, typeof(TensorCoreMma)), new KernelConfig(1, 32), a.Bytes, b.Bytes, single.Bytes);

        batched.ToBytes().Should().Equal(single.ToBytes());
        Compare.AllClose(batched.ToFloatArray(), Product(a.ToFloatArray(), b.ToFloatArray(), new float[32 * 32], 16, rows: 32, cols: 32), new Tolerance(1e-5, 1e-5));
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
    private static double[] Product(float[] a, float[] b, float[] c, int k, int rows = 16, int cols = 8)
    {
        double[] d = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double sum = c[i * cols + j];
                for (int p = 0; p < k; p++)
                    sum += (double)a[i * k + p] * b[j * k + p];
                d[i * cols + j] = sum;
            }
        return d;
    }
}
