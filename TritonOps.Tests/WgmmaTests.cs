using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Tests;

/// <summary>
/// The warpgroup products and async copies that the tiled GEMMs build on, one 64-row tile at a time:
/// the hardware <c>wgmma</c> and <c>cp.async</c> on CUDA, the shared-memory emulation on the CPU,
/// both against a float64 product. The shared layout (<see cref="SmemOperand"/>), descriptor bits
/// and accumulator layout (<see cref="WarpgroupAcc"/>) are what these tests pin down.
/// </summary>
public class WgmmaTests(DeviceKind kind) : OnEveryDevice(kind)
{

    /// <summary>Bytes of K per tile row: 64 16-bit elements (the m64n128 product of the warp-specialized GEMMs) or 64
    /// FP8 codes (m64n64): eight or four 16-byte chunks.</summary>
    private static int RowBytes(int bitsPerElement) => bitsPerElement == 8 ? 64 : 128;

    /// <summary>B's rows, the output's columns: 128 for 16-bit elements, 64 for FP8.</summary>
    private static int Columns(int bitsPerElement) => bitsPerElement == 8 ? 64 : 128;

    /// <summary>The layout under test: chunk-major (all rows of chunk 0, then chunk 1, …), so a core matrix of 8 rows ×
    /// 16 bytes is contiguous: SBO 128 bytes, LBO rows · 16.</summary>
    private static SmemOperand Tile(int offset, int rows) => new() { Offset = offset, Lbo = rows * 16, Sbo = 128 };

    /// <summary>
    /// d = 2 · a · bᵀ for a of 64 rows and b of <see cref="Columns"/> rows, <see cref="RowBytes"/> each: both tiles staged in
    /// shared memory (plain 16-byte stores, or <c>cp.async</c>), then two wgmma calls (FP8: the first overwriting the
    /// accumulators, the second adding to them; 16-bit: both adding to zeros). 128 threads.
    /// </summary>
    internal static void OneTile<TElement>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> d, ulong aAddress, ulong bAddress, int useAsyncCopy)
        where TElement : struct, IMmaElement
    {
        var shared = SharedMemory.Allocate<byte>((64 + 128) * 128);
        int rowBytes = RowBytes(TElement.BitsPerElement), columns = Columns(TElement.BitsPerElement), chunks = rowBytes / 16;
        SmemOperand tileA = Tile(0, 64), tileB = Tile(64 * rowBytes, columns);
        int tid = Group.IdxX;
        for (int q = tid; q < (64 + columns) * chunks; q += 128)
        {
            // Lanes 0–7 take rows 0–7 of one chunk: 128 contiguous shared bytes per 8 lanes; a's rows, then b's.
            bool inA = q < 64 * chunks;
            int p = inA ? q : q - 64 * chunks, row = (p & 7) + 8 * (p / (8 * chunks)), chunk = (p >> 3) % chunks;
            int global = row * rowBytes + chunk * 16, at = (inA ? tileA : tileB).ByteOf(row, chunk * 16, 1);
            if (useAsyncCopy != 0)
                PtxAsyncCopy.Copy16(shared, at, inA ? a : b, inA ? aAddress : bAddress, global, 16);
            else
                shared.Cast<Vec4U>()[at / 16] = (inA ? a : b).Cast<Vec4U>()[global / 16];
        }
        PtxAsyncCopy.Commit();
        PtxAsyncCopy.Wait(0);
        PtxWgmma.FenceProxyAsync();
        Group.Barrier();

        int lane = tid & 31, row0 = (tid >> 5) * 16 + (lane >> 2), col0 = 2 * (lane & 3);
        if (TElement.BitsPerElement == 8)
        {
            WarpgroupAcc acc = default;
            acc = PtxWgmma.M64N64K64E4M3(acc, shared, tileA, tileB, accumulate: false);
            acc = PtxWgmma.M64N64K64E4M3(acc, shared, tileA, tileB, accumulate: true);
            Store(d, acc, row0, col0, 64);
        }
        else
        {
            WarpgroupAccN128 acc = default;
            acc = PtxWgmma.M64N128K64x16Bit<TElement>(acc, shared, tileA, tileB, PtxWgmma.SharedBase());
            acc = PtxWgmma.M64N128K64x16Bit<TElement>(acc, shared, tileA, tileB, PtxWgmma.SharedBase());
            Store(d, acc.Left, row0, col0, 128);
            Store(d, acc.Right, row0, col0 + 64, 128);
        }
    }

    private static void Store(ArrayView<float> d, in WarpgroupAcc acc, int row, int col, int columns)
    {
        Store(d, acc.N0, row, col, columns);
        Store(d, acc.N1, row, col + 8, columns);
        Store(d, acc.N2, row, col + 16, columns);
        Store(d, acc.N3, row, col + 24, columns);
        Store(d, acc.N4, row, col + 32, columns);
        Store(d, acc.N5, row, col + 40, columns);
        Store(d, acc.N6, row, col + 48, columns);
        Store(d, acc.N7, row, col + 56, columns);
    }

    private static void Store(ArrayView<float> d, Acc4 c, int row, int col, int columns)
    {
        d[row * columns + col] = c.C0;
        d[row * columns + col + 1] = c.C1;
        d[(row + 8) * columns + col] = c.C2;
        d[(row + 8) * columns + col + 1] = c.C3;
    }

    [TestCase(DType.BFloat16, false)]
    [TestCase(DType.Float16, false)]
    [TestCase(DType.Float8E4M3, false)]
    [TestCase(DType.BFloat16, true)]
    [TestCase(DType.Float8E4M3, true)]
    public void OneTile_MatchesTwiceTheFloat64Product(DType dtype, bool asyncCopy)
    {
        int bits = 8 * DTypes.SizeOf(dtype), k = RowBytes(bits) / DTypes.SizeOf(dtype), n = Columns(bits);
        float[] aValues = Inputs.Normal(64 * k, 71, 2), bValues = Inputs.Normal(n * k, 72, 2);
        using var a = Tensor.FromArray(aValues, [64, k], dtype, Device);
        using var b = Tensor.FromArray(bValues, [n, k], dtype, Device);
        using var d = Tensor.FromArray(Enumerable.Repeat(float.NaN, 64 * n).ToArray(), [64, n], DType.Float32, Device);
        Type element = dtype switch { DType.BFloat16 => typeof(BFloat16Element), DType.Float16 => typeof(Float16Element), _ => typeof(Float8E4M3Element) };
        var kernel = typeof(WgmmaTests).GetMethod(nameof(OneTile), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(element);

        Device.Launch(kernel, new KernelConfig(1, 128),
            a.Bytes, b.Bytes, d.Bytes.Cast<float>(), a.DeviceAddress, b.DeviceAddress, asyncCopy ? 1 : 0);

        float[] aq = a.ToFloatArray(), bq = b.ToFloatArray(), actual = d.ToFloatArray();
        var expected = new double[64 * n];
        var slack = new double[64 * n];
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < n; c++)
            {
                double sum = 0, absSum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum += (double)aq[r * k + p] * bq[c * k + p];
                    absSum += Math.Abs((double)aq[r * k + p] * bq[c * k + p]);
                }
                expected[r * n + c] = 2 * sum;
                // 16-bit wgmma sums in float32; e4m3 wgmma keeps ~14 significant bits (the H200 run
                // 2026-11-27: results at magnitude 32–128 came back on multiples of 2⁻⁸, worst error 2⁻¹²·² of 2Σ|ab|).
                slack[r * n + c] = dtype == DType.Float8E4M3 ? Math.Pow(2, -10) * 2 * absSum : 0;
            }
        TestContext.Out.WriteLine(WhereValuesLanded(actual, expected, n));
        Compare.AllClose(actual, expected, new Tolerance(1e-3, 1e-5), slack);
    }

    /// <summary>For a layout bug: where (row, col) of the expected product each of the first wrong outputs
    /// actually equals, which reveals the permutation the hardware applied.</summary>
    private static string WhereValuesLanded(float[] actual, double[] expected, int columns)
    {
        var report = new StringBuilder();
        int shown = 0;
        for (int i = 0; i < actual.Length && shown < 12; i++)
        {
            if (Math.Abs(actual[i] - expected[i]) <= 1e-3 + 1e-5 * Math.Abs(expected[i]))
                continue;
            int match = Array.FindIndex(expected, e => Math.Abs(actual[i] - e) <= 1e-3 + 1e-5 * Math.Abs(e));
            report.AppendLine($"out ({i / columns},{i % columns}) = {actual[i]:G6}: expected {expected[i]:G6}; equals expected at " +
                (match < 0 ? "nowhere" : $"({match / columns},{match % columns})"));
            shown++;
        }
        return shown == 0 ? "all outputs where expected" : report.ToString();
    }
}
