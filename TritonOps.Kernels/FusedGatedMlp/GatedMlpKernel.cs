using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.FusedGatedMlp;

/// <summary>Sizes of one gated-MLP launch: x [M, K], gate/up [N, K], out [M, N].</summary>
internal struct GatedMlpShape
{
    public int M, N, K;
    /// <summary>ceil(K / BlockK).</summary>
    public int KTiles;
    /// <summary>Output tiles along M and N.</summary>
    public int MTiles, NTiles;
    /// <summary>K % 8 == 0: rows start on 16-byte boundaries, so whole chunks load as one 16-byte access.</summary>
    public int KAligned;
    /// <summary>Split-K (the decode kernel): grid rows, each a KSplitLength range of K (a multiple of 128); ≤ 1: none.</summary>
    public int KSplits, KSplitLength;
    /// <summary>1: the gated epilogue rounds each product into the dtype, then the activation, then the product (a PyTorch
    /// eager MLP's <c>act_fn(gate_proj(x)) * up_proj(x)</c>); 0: one rounding.</summary>
    public int RoundProducts;
}

/// <summary>
/// out = act(x · gateᵀ) ⊙ (x · upᵀ) on tensor cores, both products from the same x tile, the
/// activation and product in the epilogue; neither product touches device memory.
/// Block: 256 threads, a 128 (M) × 64 (N) output tile; warp w covers rows 32·(w/2), cols 32·(w%2).
/// K advances 32 at a time through two shared-memory stages: while the tensor cores work on one
/// stage the next tile's loads are in flight in registers. Tile layout and block order:
/// <see cref="MmaTiles"/>. Every warp runs its mma even on rows past M: letting warps past M skip
/// them (as <c>Fp8GemmKernel</c> does) stopped ptxas unrolling this kernel's k16 loop (138
/// registers, 1 block/SM): 224 → 155 TFLOP/s at M = 8192 and 151 → 235 µs at M = 16 on the H200.
/// Tails (M, N, K not multiples of the tile) are zero-filled on load and masked on store.
/// </summary>
internal static class GatedMlpKernel
{
    public const int BlockM = 128, BlockN = 64, BlockK = 32, Threads = 256, GroupM = 16;
    private const int RowWords = MmaTiles.RowWords;
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

        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, BlockN);

        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int g = lane >> 2, t = lane & 3;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;

        // This thread's load chunks (8 elements each): A rows tid/4 and tid/4 + 64, weight row tid/4.
        int chunkRow = tid >> 2, chunk = tid & 3, chunkK = chunk * 8;
        bool aligned = s.KAligned != 0;

        Vec4U a0 = MmaTiles.LoadChunk<TElement>(x, m0 + chunkRow, chunkK, s.M, s.K, aligned);
        Vec4U a1 = MmaTiles.LoadChunk<TElement>(x, m0 + chunkRow + 64, chunkK, s.M, s.K, aligned);
        Vec4U wg = MmaTiles.LoadChunk<TElement>(gate, n0 + chunkRow, chunkK, s.N, s.K, aligned);
        Vec4U wu = MmaTiles.LoadChunk<TElement>(up, n0 + chunkRow, chunkK, s.N, s.K, aligned);
        StoreChunks(sA, sG, sU, 0, chunkRow, chunk, a0, a1, wg, wu);
        Group.Barrier();

        WarpAcc accG = default, accU = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            int stage = kt & 1;
            bool more = kt + 1 < s.KTiles;
            if (more)
            {
                int k = (kt + 1) * BlockK + chunkK;
                a0 = MmaTiles.LoadChunk<TElement>(x, m0 + chunkRow, k, s.M, s.K, aligned);
                a1 = MmaTiles.LoadChunk<TElement>(x, m0 + chunkRow + 64, k, s.M, s.K, aligned);
                wg = MmaTiles.LoadChunk<TElement>(gate, n0 + chunkRow, k, s.N, s.K, aligned);
                wu = MmaTiles.LoadChunk<TElement>(up, n0 + chunkRow, k, s.N, s.K, aligned);
            }
            for (int half = 0; half < 2; half++)
            {
                int aBase = stage * AStage + MmaTiles.Word(warpRow + g, half * 8 + t);
                int bBase = stage * BStage + MmaTiles.Word(warpCol + g, half * 8 + t);
                FragA f0 = MmaTiles.LoadFragA(sA, aBase), f1 = MmaTiles.LoadFragA(sA, aBase + 16 * RowWords);
                accG = Step<TElement>(accG, f0, f1, sG, bBase);
                accU = Step<TElement>(accU, f0, f1, sU, bBase);
            }
            if (more)
                StoreChunks(sA, sG, sU, stage ^ 1, chunkRow, chunk, a0, a1, wg, wu);
            Group.Barrier();
        }

        StoreWarpTile<TElement, TActivation>(output, accG, accU, m0 + warpRow + g, n0 + warpCol + 2 * t, s);
    }

    /// <summary>The epilogue of a warp's 32 × 32 tile: act(gate) · up for each of its eight m16n8 tiles,
    /// lane (g, t) at rows <paramref name="row"/> (+8, +16, +24) and columns <paramref name="col"/> (+1, +8, …).</summary>
    internal static void StoreWarpTile<TElement, TActivation>(ArrayView<byte> output, in WarpAcc accG, in WarpAcc accU, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
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

    private static void StoreChunks(ArrayView<uint> sA, ArrayView<uint> sG, ArrayView<uint> sU, int stage,
        int chunkRow, int chunk, Vec4U a0, Vec4U a1, Vec4U wg, Vec4U wu)
    {
        MmaTiles.StoreChunk(sA, stage * AStage, chunkRow, chunk, a0);
        MmaTiles.StoreChunk(sA, stage * AStage, chunkRow + 64, chunk, a1);
        MmaTiles.StoreChunk(sG, stage * BStage, chunkRow, chunk, wg);
        MmaTiles.StoreChunk(sU, stage * BStage, chunkRow, chunk, wu);
    }

    /// <summary>act(gate) · up for the accumulator tile at (row, col), masked to the matrix. A lane's two
    /// columns are adjacent: with N even they start on an even element and go out as one 4-byte store.</summary>
    internal static void Store<TElement, TActivation>(ArrayView<byte> output, Acc4 gate, Acc4 up, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation =>
        Store<TElement, TActivation>(output, gate, up, row, col, s, s.RoundProducts != 0);

    /// <summary><see cref="Store{TElement, TActivation}(ArrayView{byte}, Acc4, Acc4, int, int, in GatedMlpShape)"/> with
    /// the rounding given (<paramref name="roundProducts"/>: a constant where the caller has tested the flag once a tile).</summary>
    internal static void Store<TElement, TActivation>(ArrayView<byte> output, Acc4 gate, Acc4 up, int row, int col, in GatedMlpShape s,
        bool roundProducts)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        if (col >= s.N)
            return;
        if (roundProducts)
        {
            if (row < s.M)
                StorePair<TElement>(output, (long)row * s.N + col, RoundedProduct<TElement, TActivation>(gate.C0, up.C0),
                    RoundedProduct<TElement, TActivation>(gate.C1, up.C1), col + 1 < s.N, s.N);
            if (row + 8 < s.M)
                StorePair<TElement>(output, (long)(row + 8) * s.N + col, RoundedProduct<TElement, TActivation>(gate.C2, up.C2),
                    RoundedProduct<TElement, TActivation>(gate.C3, up.C3), col + 1 < s.N, s.N);
            return;
        }
        if (row < s.M)
            StorePair<TElement>(output, (long)row * s.N + col, TActivation.Apply(gate.C0) * up.C0, TActivation.Apply(gate.C1) * up.C1, col + 1 < s.N, s.N);
        if (row + 8 < s.M)
            StorePair<TElement>(output, (long)(row + 8) * s.N + col, TActivation.Apply(gate.C2) * up.C2, TActivation.Apply(gate.C3) * up.C3, col + 1 < s.N, s.N);
    }

    /// <summary>round(act(round(g))) · round(u), the last rounding left to the store.</summary>
    private static float RoundedProduct<TElement, TActivation>(float g, float u)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation =>
        TElement.Widen(TElement.Narrow(TActivation.Apply(TElement.Widen(TElement.Narrow(g))))) * TElement.Widen(TElement.Narrow(u));

    internal static void StorePair<TElement>(ArrayView<byte> output, long at, float first, float second, bool hasSecond, int n)
        where TElement : struct, IMmaElement
    {
        if (hasSecond && (n & 1) == 0)
        {
            output.Cast<uint>()[at >> 1] = TElement.Narrow(first) | TElement.Narrow(second) << 16;
            return;
        }
        TElement.StoreBits(output, at, TElement.Narrow(first));
        if (hasSecond)
            TElement.StoreBits(output, at + 1, TElement.Narrow(second));
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
        KernelMethods.Get(typeof(GatedMlpKernel), nameof(Run), element, activation);

    /// <summary>Every (16-bit element, activation) instantiation of a tiled or decode kernel's <c>Run</c>.</summary>
    internal static IEnumerable<MethodInfo> SixteenBitVariants(Type kernel) =>
        from activation in ActivationTypes
        from element in new[] { typeof(Float16Element), typeof(BFloat16Element) }
        select KernelMethods.Get(kernel, nameof(Run), element, activation);

    public static MethodInfo Float32Variant(Type activation) =>
        KernelMethods.Get(typeof(GatedMlpKernel), nameof(RunFloat32), activation);

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
