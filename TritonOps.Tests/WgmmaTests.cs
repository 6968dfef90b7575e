using System.Text;
using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Tests;

/// <summary>
/// The warpgroup products and async copies that the tiled GEMMs build on, one 64 × 64 tile at a time:
/// the hardware <c>wgmma</c> and <c>cp.async</c> on CUDA, the shared-memory emulation on the CPU,
/// both against a float64 product. The shared layout (<see cref="SmemOperand"/>), descriptor bits
/// and accumulator layout (<see cref="WarpgroupAcc"/>) are what these tests pin down.
/// </summary>
public class WgmmaTests(DeviceKind kind) : OnEveryDevice(kind)
{

    /// <summary>Bytes of K per tile row: 32 16-bit elements or 64 FP8 codes, four 16-byte chunks.</summary>
    private const int RowBytes = 64;

    /// <summary>The layout under test: chunk-major (all 64 rows of chunk 0, then chunk 1, …), so a core
    /// matrix of 8 rows × 16 bytes is contiguous: SBO 128 bytes, LBO 64 · 16.</summary>
    private static SmemOperand Tile(int offset) => new() { Offset = offset, Lbo = 64 * 16, Sbo = 128 };

    /// <summary>
    /// d = 2 · a · bᵀ for a, b of 64 rows × <see cref="RowBytes"/>: both tiles staged in shared memory
    /// (plain 16-byte stores, or <c>cp.async</c>), then two wgmma calls, the first overwriting the
    /// accumulators, the second adding to them. 128 threads.
    /// </summary>
    internal static void OneTile<TElement>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> d, ulong aAddress, ulong bAddress, int useAsyncCopy)
        where TElement : struct, IMmaElement
    {
        var shared = SharedMemory.Allocate<byte>(2 * 64 * RowBytes);
        SmemOperand tileA = Tile(0), tileB = Tile(64 * RowBytes);
        int tid = Group.IdxX;
        for (int i = 0; i < 2; i++)
        {
            // Lanes 0–7 take rows 0–7 of one chunk: 128 contiguous shared bytes per 8 lanes.
            int q = tid + 128 * i, row = (q & 7) + 8 * (q >> 5), chunk = (q >> 3) & 3;
            int global = row * RowBytes + chunk * 16;
            int sharedA = tileA.ByteOf(row, chunk * 16, 1), sharedB = tileB.ByteOf(row, chunk * 16, 1);
            if (useAsyncCopy != 0)
            {
                PtxAsyncCopy.Copy16(shared, sharedA, a, aAddress, global, 16);
                PtxAsyncCopy.Copy16(shared, sharedB, b, bAddress, global, 16);
            }
            else
            {
                shared.Cast<Vec4U>()[sharedA / 16] = a.Cast<Vec4U>()[global / 16];
                shared.Cast<Vec4U>()[sharedB / 16] = b.Cast<Vec4U>()[global / 16];
            }
        }
        PtxAsyncCopy.Commit();
        PtxAsyncCopy.Wait(0);
        PtxWgmma.FenceProxyAsync();
        Group.Barrier();

        WarpgroupAcc acc = default;
        if (TElement.BitsPerElement == 8)
        {
            acc = PtxWgmma.M64N64K64E4M3(acc, shared, tileA, tileB, accumulate: false);
            acc = PtxWgmma.M64N64K64E4M3(acc, shared, tileA, tileB, accumulate: true);
        }
        else
        {
            acc = PtxWgmma.M64N64K32x16Bit<TElement>(acc, shared, tileA, tileB, accumulate: false);
            acc = PtxWgmma.M64N64K32x16Bit<TElement>(acc, shared, tileA, tileB, accumulate: true);
        }

        int lane = tid & 31, row0 = (tid >> 5) * 16 + (lane >> 2), col0 = 2 * (lane & 3);
        Store(d, acc.N0, row0, col0);
        Store(d, acc.N1, row0, col0 + 8);
        Store(d, acc.N2, row0, col0 + 16);
        Store(d, acc.N3, row0, col0 + 24);
        Store(d, acc.N4, row0, col0 + 32);
        Store(d, acc.N5, row0, col0 + 40);
        Store(d, acc.N6, row0, col0 + 48);
        Store(d, acc.N7, row0, col0 + 56);
    }

    private static void Store(ArrayView<float> d, Acc4 c, int row, int col)
    {
        d[row * 64 + col] = c.C0;
        d[row * 64 + col + 1] = c.C1;
        d[(row + 8) * 64 + col] = c.C2;
        d[(row + 8) * 64 + col + 1] = c.C3;
    }

    [TestCase(DType.BFloat16, false)]
    [TestCase(DType.Float16, false)]
    [TestCase(DType.Float8E4M3, false)]
    [TestCase(DType.BFloat16, true)]
    [TestCase(DType.Float8E4M3, true)]
    public void OneTile_MatchesTwiceTheFloat64Product(DType dtype, bool asyncCopy)
    {
        int k = RowBytes / DTypes.SizeOf(dtype);
        float[] aValues = Inputs.Normal(64 * k, 71, 2), bValues = Inputs.Normal(64 * k, 72, 2);
        using var a = Tensor.FromArray(aValues, [64, k], dtype, Device);
        using var b = Tensor.FromArray(bValues, [64, k], dtype, Device);
        using var d = Tensor.Empty([64, 64], DType.Float32, Device);
        Type element = dtype switch { DType.BFloat16 => typeof(BFloat16Element), DType.Float16 => typeof(Float16Element), _ => typeof(Float8E4M3Element) };
        var kernel = typeof(WgmmaTests).GetMethod(nameof(OneTile), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(element);

        Device.Launch(kernel, new KernelConfig(1, 128),
            a.Bytes, b.Bytes, d.Bytes.Cast<float>(), a.DeviceAddress, b.DeviceAddress, asyncCopy ? 1 : 0);

        float[] aq = a.ToFloatArray(), bq = b.ToFloatArray(), actual = d.ToFloatArray();
        var expected = new double[64 * 64];
        var slack = new double[64 * 64];
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 64; c++)
            {
                double sum = 0, absSum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum += (double)aq[r * k + p] * bq[c * k + p];
                    absSum += Math.Abs((double)aq[r * k + p] * bq[c * k + p]);
                }
                expected[r * 64 + c] = 2 * sum;
                // 16-bit wgmma sums in float32; e4m3 wgmma keeps ~14 significant bits (the H200 run
                // 2026-11-27: results at magnitude 32–128 came back on multiples of 2⁻⁸, worst error 2⁻¹²·² of 2Σ|ab|).
                slack[r * 64 + c] = dtype == DType.Float8E4M3 ? Math.Pow(2, -10) * 2 * absSum : 0;
            }
        TestContext.Out.WriteLine(WhereValuesLanded(actual, expected));
        Compare.AllClose(actual, expected, new Tolerance(1e-3, 1e-5), slack);
    }

    /// <summary>For a layout bug: where (row, col) of the expected product each of the first wrong outputs
    /// actually equals, which reveals the permutation the hardware applied.</summary>
    private static string WhereValuesLanded(float[] actual, double[] expected)
    {
        var report = new StringBuilder();
        int shown = 0;
        for (int i = 0; i < actual.Length && shown < 12; i++)
        {
            if (Math.Abs(actual[i] - expected[i]) <= 1e-3 + 1e-5 * Math.Abs(expected[i]))
                continue;
            int match = Array.FindIndex(expected, e => Math.Abs(actual[i] - e) <= 1e-3 + 1e-5 * Math.Abs(e));
            report.AppendLine($"out ({i / 64},{i % 64}) = {actual[i]:G6}: expected {expected[i]:G6}; equals expected at " +
                (match < 0 ? "nowhere" : $"({match / 64},{match % 64})"));
            shown++;
        }
        return shown == 0 ? "all outputs where expected" : report.ToString();
    }
}
