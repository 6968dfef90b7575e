using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.GatedMlp;

/// <summary>Sizes of one gated-MLP launch: x [M, K], gate/up [N, K], out [M, N].</summary>
public struct GatedMlpShape
{
    public int M, N, K;
    /// <summary>ceil(K / BlockK).</summary>
    public int KTiles;
    /// <summary>Output tiles along M and N.</summary>
    public int MTiles, NTiles;
    /// <summary>K % 8 == 0: rows start on 16-byte boundaries, so whole chunks load as one 16-byte access.</summary>
    public int KAligned;
}

/// <summary>Sixteen m16n8 accumulator tiles: a warp's 32×32 share of gate (G) or up (U); Tij = rows 16i, cols 8j.</summary>
public struct WarpAcc
{
    public Acc4 T00, T01, T02, T03, T10, T11, T12, T13;
}

/// <summary>
/// out = act(x · gateᵀ) ⊙ (x · upᵀ) on tensor cores, both products from the same x tile, the
/// activation and product in the epilogue; neither product touches device memory.
/// Block: 256 threads, a 128 (M) × 64 (N) output tile; warp w covers rows 32·(w/2), cols 32·(w%2).
/// K advances 32 at a time through two shared-memory stages: while the tensor cores work on one
/// stage the next tile's loads are in flight in registers. Shared rows are 16 data words + 4 pad
/// words, so the eight rows a fragment load touches fall in distinct banks. Blocks are ordered in
/// groups of <see cref="GroupM"/> M-tiles so concurrently running blocks share x and weight tiles in L2.
/// Tails (M, N, K not multiples of the tile) are zero-filled on load and masked on store.
/// </summary>
public static class GatedMlpKernel
{
    public const int BlockM = 128, BlockN = 64, BlockK = 32, Threads = 256, GroupM = 16;
    private const int RowWords = 20;
    private const int AStage = BlockM * RowWords, BStage = BlockN * RowWords;

    [GlobalMemoryOnly]
    public static void Run<TElement, TActivation>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        var sA = SharedMemory.Allocate<uint>(2 * AStage);
        var sG = SharedMemory.Allocate<uint>(2 * BStage);
        var sU = SharedMemory.Allocate<uint>(2 * BStage);

        // Grouped block order: GroupM M-tiles × all N-tiles per group.
        int block = Grid.IdxX;
        int perGroup = GroupM * s.NTiles;
        int firstM = block / perGroup * GroupM;
        int groupRows = Math.Min(GroupM, s.MTiles - firstM);
        int inGroup = block - block / perGroup * perGroup;
        int m0 = (firstM + inGroup % groupRows) * BlockM;
        int n0 = inGroup / groupRows * BlockN;

        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int g = lane >> 2, t = lane & 3;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;

        // This thread's load chunks (8 elements each): A rows tid/4 and tid/4 + 64, weight row tid/4.
        int chunkRow = tid >> 2, chunkK = (tid & 3) * 8;

        Vec4U a0 = LoadChunk<TElement>(x, m0 + chunkRow, chunkK, s.M, s);
        Vec4U a1 = LoadChunk<TElement>(x, m0 + chunkRow + 64, chunkK, s.M, s);
        Vec4U wg = LoadChunk<TElement>(gate, n0 + chunkRow, chunkK, s.N, s);
        Vec4U wu = LoadChunk<TElement>(up, n0 + chunkRow, chunkK, s.N, s);
        StoreChunks(sA, sG, sU, 0, chunkRow, chunkK, a0, a1, wg, wu);
        Group.Barrier();

        WarpAcc accG = default, accU = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            int stage = kt & 1;
            bool more = kt + 1 < s.KTiles;
            if (more)
            {
                int k = (kt + 1) * BlockK + chunkK;
                a0 = LoadChunk<TElement>(x, m0 + chunkRow, k, s.M, s);
                a1 = LoadChunk<TElement>(x, m0 + chunkRow + 64, k, s.M, s);
                wg = LoadChunk<TElement>(gate, n0 + chunkRow, k, s.N, s);
                wu = LoadChunk<TElement>(up, n0 + chunkRow, k, s.N, s);
            }
            for (int half = 0; half < 2; half++)
            {
                int aBase = stage * AStage + (warpRow + g) * RowWords + half * 8 + t;
                int bBase = stage * BStage + (warpCol + g) * RowWords + half * 8 + t;
                FragA f0 = LoadFragA(sA, aBase), f1 = LoadFragA(sA, aBase + 16 * RowWords);
                accG = Step<TElement>(accG, f0, f1, sG, bBase);
                accU = Step<TElement>(accU, f0, f1, sU, bBase);
            }
            if (more)
                StoreChunks(sA, sG, sU, stage ^ 1, chunkRow, chunkK, a0, a1, wg, wu);
            Group.Barrier();
        }

        int row = m0 + warpRow + g, col = n0 + warpCol + 2 * t;
        Store<TElement, TActivation>(output, accG.T00, accU.T00, row, col, s);
        Store<TElement, TActivation>(output, accG.T01, accU.T01, row, col + 8, s);
        Store<TElement, TActivation>(output, accG.T02, accU.T02, row, col + 16, s);
        Store<TElement, TActivation>(output, accG.T03, accU.T03, row, col + 24, s);
        Store<TElement, TActivation>(output, accG.T10, accU.T10, row + 16, col, s);
        Store<TElement, TActivation>(output, accG.T11, accU.T11, row + 16, col + 8, s);
        Store<TElement, TActivation>(output, accG.T12, accU.T12, row + 16, col + 16, s);
        Store<TElement, TActivation>(output, accG.T13, accU.T13, row + 16, col + 24, s);
    }

    /// <summary>One k16 step of a warp's 32×32 tile: two A fragments against four B fragments.</summary>
    private static WarpAcc Step<TElement>(WarpAcc acc, FragA f0, FragA f1, ArrayView<uint> sB, int bBase)
        where TElement : struct, IMmaElement
    {
        uint b00 = sB[bBase], b01 = sB[bBase + 4];
        uint b10 = sB[bBase + 8 * RowWords], b11 = sB[bBase + 8 * RowWords + 4];
        uint b20 = sB[bBase + 16 * RowWords], b21 = sB[bBase + 16 * RowWords + 4];
        uint b30 = sB[bBase + 24 * RowWords], b31 = sB[bBase + 24 * RowWords + 4];
        acc.T00 = PtxMma.MmaM16N8K16<TElement>(acc.T00, f0, b00, b01);
        acc.T01 = PtxMma.MmaM16N8K16<TElement>(acc.T01, f0, b10, b11);
        acc.T02 = PtxMma.MmaM16N8K16<TElement>(acc.T02, f0, b20, b21);
        acc.T03 = PtxMma.MmaM16N8K16<TElement>(acc.T03, f0, b30, b31);
        acc.T10 = PtxMma.MmaM16N8K16<TElement>(acc.T10, f1, b00, b01);
        acc.T11 = PtxMma.MmaM16N8K16<TElement>(acc.T11, f1, b10, b11);
        acc.T12 = PtxMma.MmaM16N8K16<TElement>(acc.T12, f1, b20, b21);
        acc.T13 = PtxMma.MmaM16N8K16<TElement>(acc.T13, f1, b30, b31);
        return acc;
    }

    private static FragA LoadFragA(ArrayView<uint> sA, int at) => new()
    {
        R0 = sA[at], R1 = sA[at + 8 * RowWords], R2 = sA[at + 4], R3 = sA[at + 8 * RowWords + 4],
    };

    private static void StoreChunks(ArrayView<uint> sA, ArrayView<uint> sG, ArrayView<uint> sU, int stage,
        int chunkRow, int chunkK, Vec4U a0, Vec4U a1, Vec4U wg, Vec4U wu)
    {
        int word = chunkRow * RowWords + chunkK / 2;
        sA.Cast<Vec4U>()[(stage * AStage + word) / 4] = a0;
        sA.Cast<Vec4U>()[(stage * AStage + word + 64 * RowWords) / 4] = a1;
        sG.Cast<Vec4U>()[(stage * BStage + word) / 4] = wg;
        sU.Cast<Vec4U>()[(stage * BStage + word) / 4] = wu;
    }

    /// <summary>Elements [k, k+8) of row <paramref name="row"/> of a [rows, K] matrix; zeros past its edges.</summary>
    private static Vec4U LoadChunk<TElement>(ArrayView<byte> matrix, int row, int k, int rows, in GatedMlpShape s)
        where TElement : struct, IMmaElement
    {
        if (row >= rows || k >= s.K)
            return default;
        long start = (long)row * s.K + k;
        if (s.KAligned != 0 && k + 8 <= s.K)
            return matrix.Cast<Vec4U>()[start / 8];
        return new Vec4U(
            Pair<TElement>(matrix, start, k, s.K), Pair<TElement>(matrix, start + 2, k + 2, s.K),
            Pair<TElement>(matrix, start + 4, k + 4, s.K), Pair<TElement>(matrix, start + 6, k + 6, s.K));
    }

    private static uint Pair<TElement>(ArrayView<byte> matrix, long index, int k, int kEnd)
        where TElement : struct, IMmaElement
    {
        uint lo = k < kEnd ? TElement.LoadBits(matrix, index) : 0u;
        uint hi = k + 1 < kEnd ? TElement.LoadBits(matrix, index + 1) : 0u;
        return lo | (hi << 16);
    }

    /// <summary>act(gate) · up for the accumulator tile at (row, col), masked to the matrix.</summary>
    private static void Store<TElement, TActivation>(ArrayView<byte> output, Acc4 gate, Acc4 up, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        if (col >= s.N)
            return;
        bool second = col + 1 < s.N;
        if (row < s.M)
        {
            long at = (long)row * s.N + col;
            TElement.StoreBits(output, at, TElement.Narrow(TActivation.Apply(gate.C0) * up.C0));
            if (second)
                TElement.StoreBits(output, at + 1, TElement.Narrow(TActivation.Apply(gate.C1) * up.C1));
        }
        if (row + 8 < s.M)
        {
            long at = (long)(row + 8) * s.N + col;
            TElement.StoreBits(output, at, TElement.Narrow(TActivation.Apply(gate.C2) * up.C2));
            if (second)
                TElement.StoreBits(output, at + 1, TElement.Narrow(TActivation.Apply(gate.C3) * up.C3));
        }
    }

    /// <summary>
    /// The float32 path (no tensor cores): one thread per output element, both dot products in
    /// float32 over K. Grid (N, M) covered by 16×16 blocks.
    /// </summary>
    [GlobalMemoryOnly]
    public static void RunFloat32<TActivation>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s)
        where TActivation : struct, IActivation
    {
        int n = Grid.IdxX * Group.DimX + Group.IdxX, m = Grid.IdxY * Group.DimY + Group.IdxY;
        if (n >= s.N || m >= s.M)
            return;
        var xs = x.Cast<float>();
        var gs = gate.Cast<float>();
        var us = up.Cast<float>();
        long xRow = (long)m * s.K, wRow = (long)n * s.K;
        float g = 0f, u = 0f;
        for (int k = 0; k < s.K; k++)
        {
            float xv = xs[xRow + k];
            g += xv * gs[wRow + k];
            u += xv * us[wRow + k];
        }
        output.Cast<float>()[(long)m * s.N + n] = TActivation.Apply(g) * u;
    }

    public static readonly Type[] ActivationTypes = [typeof(Silu), typeof(Gelu), typeof(GeluTanh)];

    /// <summary>The tensor-core instantiation for a 16-bit element type and an activation.</summary>
    public static MethodInfo TensorCoreVariant(Type element, Type activation) =>
        typeof(GatedMlpKernel).GetMethod(nameof(Run))!.MakeGenericMethod(element, activation);

    public static MethodInfo Float32Variant(Type activation) =>
        typeof(GatedMlpKernel).GetMethod(nameof(RunFloat32))!.MakeGenericMethod(activation);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type activation in ActivationTypes)
        {
            yield return TensorCoreVariant(typeof(Float16Element), activation);
            yield return TensorCoreVariant(typeof(BFloat16Element), activation);
            yield return Float32Variant(activation);
        }
    }
}
