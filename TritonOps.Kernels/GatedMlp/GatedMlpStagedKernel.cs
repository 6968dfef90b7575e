using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.GatedMlp;

/// <summary>Device addresses of the staged gated-MLP kernel's operands, for its <c>cp.async</c> copies.</summary>
public struct GatedMlpAddresses
{
    public ulong X, Gate, Up;
}

/// <summary>
/// <see cref="GatedMlpKernel"/>'s tiles, warps and epilogue (128 × 64 outputs, both products from one
/// x tile, <c>mma.sync</c> m16n8k16), with its operand tiles streamed by <c>cp.async</c> into a ring of
/// <c>stages</c> k-tiles in dynamic shared memory instead of through registers, so several k-tiles are
/// in flight while the tensor cores work and each k-tile costs one barrier. A thread's four copies per
/// k-tile have fixed rows, worked out once, and are issued after its warp's products (issued before,
/// with the rows recomputed per copy, the kernel ran 170 TFLOP/s). Needs rows of 16-byte multiples
/// (K % 8 == 0) and 16-byte-aligned operands; tails (M, N, the last k-tile) are zero-filled.
/// Measured on the H200 (bf16, M8192 H4096 I14336): 223 → 244–245 TFLOP/s with 3–4 stages (2: 215).
/// </summary>
public static class GatedMlpStagedKernel
{
    public const int BlockM = GatedMlpKernel.BlockM, BlockN = GatedMlpKernel.BlockN, BlockK = GatedMlpKernel.BlockK, Threads = GatedMlpKernel.Threads;
    private const int RowWords = MmaTiles.RowWords;
    private const int AWords = BlockM * RowWords, BWords = BlockN * RowWords;

    /// <summary>Words of one stage: x's 128 rows, then gate's and up's 64 rows, each padded to 20 words.</summary>
    public const int StageWords = AWords + 2 * BWords;

    /// <summary>Stages the op launches with: 60 KB, two blocks per SM (four stages ran the same).</summary>
    public const int DefaultStages = 3;

    [GlobalMemoryOnly]
    public static void Run<TElement, TActivation>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s,
        GatedMlpAddresses addresses, int stages)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        var ring = SharedMemory.GetDynamic<uint>();
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GatedMlpKernel.GroupM, BlockM, BlockN);
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int g = lane >> 2, t = lane & 3;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;

        // This thread's four copies per k-tile, the same rows every time: chunk tid % 4 of x rows
        // tid / 4 and tid / 4 + 64, of gate row tid / 4 and of up row tid / 4 (a warp covers eight whole rows).
        var bytes = ring.Cast<byte>();
        int elementBytes = TElement.BitsPerElement / 8;
        long rowBytes = (long)s.K * elementBytes;
        int chunkRow = tid >> 2, chunk = (tid & 3) * 16;
        var rows = new TileRows
        {
            X0 = m0 + chunkRow < s.M ? (m0 + chunkRow) * rowBytes + chunk : -1,
            X1 = m0 + chunkRow + 64 < s.M ? (m0 + chunkRow + 64) * rowBytes + chunk : -1,
            W = n0 + chunkRow < s.N ? (n0 + chunkRow) * rowBytes + chunk : -1,
            Chunk = chunk,
            Destination = MmaTiles.Word(chunkRow, chunk / 4) * 4,
        };

        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < s.KTiles)
                LoadStage(bytes, stage * StageWords * 4, (long)stage * BlockK * elementBytes, rowBytes, x, gate, up, addresses, rows);
            PtxAsyncCopy.Commit();
        }

        WarpAcc accG = default, accU = default;
        int slot = 0, refill = (stages - 1) * StageWords;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            // This thread's copies of tile kt have landed; after the barrier everyone's have, and everyone
            // is done with the slot refilled below (read in iteration kt − 1).
            PtxAsyncCopy.Wait(stages - 2);
            Group.Barrier();
            for (int half = 0; half < 2; half++)
            {
                int aBase = slot + MmaTiles.Word(warpRow + g, half * 8 + t);
                int bBase = slot + AWords + MmaTiles.Word(warpCol + g, half * 8 + t);
                FragA f0 = MmaTiles.LoadFragA(ring, aBase), f1 = MmaTiles.LoadFragA(ring, aBase + 16 * RowWords);
                accG = GatedMlpKernel.Step<TElement>(accG, f0, f1, ring, bBase);
                accU = GatedMlpKernel.Step<TElement>(accU, f0, f1, ring, bBase + BWords);
            }
            // After this warp's products, so the copies' issue overlaps other warps' tensor work.
            int ahead = kt + stages - 1;
            if (ahead < s.KTiles)
                LoadStage(bytes, refill * 4, (long)ahead * BlockK * elementBytes, rowBytes, x, gate, up, addresses, rows);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            refill = slot;
            slot = slot + StageWords == stages * StageWords ? 0 : slot + StageWords;
        }

        GatedMlpKernel.StoreWarpTile<TElement, TActivation>(output, accG, accU, m0 + warpRow + g, n0 + warpCol + 2 * t, s);
    }

    /// <summary>A thread's source rows: the byte of its chunk in x rows r and r + 64 and in weight row r
    /// (−1: past the matrix, zero-filled), and where the first lands in a stage.</summary>
    private struct TileRows
    {
        public long X0, X1, W;
        public int Chunk, Destination;
    }

    /// <summary>Starts a thread's four copies of the k-tile at byte <paramref name="kByte"/> of each row into
    /// the stage at byte <paramref name="stage"/>; bytes past K and rows past the matrix are zero-filled.</summary>
    private static void LoadStage(ArrayView<byte> shared, int stage, long kByte, long rowBytes,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows)
    {
        int valid = (int)Math.Max(0, Math.Min(16, rowBytes - kByte - rows.Chunk));
        int at = stage + rows.Destination;
        Copy(shared, at, x, addresses.X, rows.X0, kByte, valid);
        Copy(shared, at + 64 * RowWords * 4, x, addresses.X, rows.X1, kByte, valid);
        Copy(shared, at + AWords * 4, gate, addresses.Gate, rows.W, kByte, valid);
        Copy(shared, at + (AWords + BWords) * 4, up, addresses.Up, rows.W, kByte, valid);
    }

    /// <summary>One 16-byte <c>cp.async</c> of a tile row's chunk (<paramref name="rowByte"/> −1: a row past the matrix, zero-filled).</summary>
    internal static void Copy(ArrayView<byte> shared, int at, ArrayView<byte> matrix, ulong address, long rowByte, long kByte, int valid)
    {
        if (rowByte < 0)
            valid = 0;
        PtxAsyncCopy.Copy16ToDynamic(shared, at, matrix, address, valid > 0 ? rowByte + kByte : 0, valid);
    }

    public static MethodInfo Variant(Type element, Type activation) =>
        KernelMethods.Get(typeof(GatedMlpStagedKernel), nameof(Run), element, activation);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type activation in GatedMlpKernel.ActivationTypes)
        {
            yield return Variant(typeof(Float16Element), activation);
            yield return Variant(typeof(BFloat16Element), activation);
        }
    }
}
