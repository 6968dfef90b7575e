namespace TritonOps.Kernels.Gemm;

/// <summary>A warp's two 32 × 32 accumulators: its share against the first and the second B tile.</summary>
internal struct WarpAccPair
{
    public WarpAcc First, Second;
}

/// <summary>
/// The 16-bit <c>mma.sync</c> GEMM of one x tile against two B tiles on <see cref="RegisterStagedMainloop"/>, with the
/// epilogue as a struct trait (<see cref="IPairedTileEpilogue"/>): the gated MLP's act(x · gateᵀ) ⊙ (x · upᵀ), or a plain
/// x · Wᵀ (+ bias) (+ residual) whose second B tile is W's next 64 rows (a 128 × 128 output tile). The kernel for rows
/// that are not 16-byte aligned (K % 8 ≠ 0, where neither <c>cp.async</c> nor the copy engine can take them) on any GPU.
/// Block: 256 threads, 128 x rows × 64 rows of each B; warp w covers rows 32·(w/2), columns 32·(w%2); K advances 32 a
/// tile. Every warp runs its mma even on rows past M (skipping them stopped ptxas unrolling the k16 loop: H200, M = 8192,
/// 224 → 155 TFLOP/s). Tails (M, N, K not multiples of the tile) are zero-filled on load and masked on store.
/// </summary>
internal static class RegisterStagedGemmKernel
{
    public const int BlockM = 128, BlockN = 64, BlockK = 32, Threads = RegisterStagedMainloop.Threads, GroupM = 16;
    private const int RowWords = MmaTiles.RowWords;
    private const int AStage = BlockM * RowWords, BStage = BlockN * RowWords;

    /// <summary>Both stages of x's rows, then of the first B's, then of the second's (40 KB).</summary>
    private const int SharedWords = 2 * (AStage + 2 * BStage);

    /// <summary>Output columns a block covers: one B tile's for the gated product, both for a plain one.</summary>
    public static int BlockColumns<TEpilogue>() where TEpilogue : struct, IPairedTileEpilogue =>
        TEpilogue.SplitsColumns ? 2 * BlockN : BlockN;

    [GlobalMemoryOnly]
    public static void Run<TElement, TEpilogue, TFlavour>(ArrayView<byte> x, ArrayView<byte> first, ArrayView<byte> second, ArrayView<byte> output,
        GatedMlpShape s, EpilogueArgs epilogue)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TFlavour : struct, IMmaFlavour
    {
        var shared = SharedMemory.Allocate<uint>(SharedWords);
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, BlockColumns<TEpilogue>());
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        var operands = new PairedOperands<TElement, TFlavour>(x, first, second, s, m0, n0, TEpilogue.SplitsColumns ? n0 + BlockN : n0, new StagedLanes(tid));
        var acc = RegisterStagedMainloop.Run<PairedOperands<TElement, TFlavour>, WarpAccPair>(operands, shared, s.KTiles);
        StoreWarpTile<TEpilogue>(output, acc.First, acc.Second, m0 + warpRow + (lane >> 2), n0 + warpCol + 2 * (lane & 3), BlockN, s, epilogue,
            TEpilogue.RoundsPerOp(s, epilogue));
    }

    /// <summary>The epilogue of a warp's 32 × 32 share of both products: each of its eight m16n8 tiles, lane (g, t) at rows
    /// <paramref name="row"/> (+8, +16, +24) and columns <paramref name="col"/> (+1, +8, …); a plain product's second
    /// tile <paramref name="secondColumns"/> further right.</summary>
    internal static void StoreWarpTile<TEpilogue>(ArrayView<byte> output, in WarpAcc first, in WarpAcc second, int row, int col, int secondColumns,
        in GatedMlpShape s, in EpilogueArgs e, bool perOp)
        where TEpilogue : struct, IPairedTileEpilogue
    {
        TEpilogue.Store(output, first.T00, second.T00, row, col, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T01, second.T01, row, col + 8, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T02, second.T02, row, col + 16, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T03, second.T03, row, col + 24, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T10, second.T10, row + 16, col, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T11, second.T11, row + 16, col + 8, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T12, second.T12, row + 16, col + 16, secondColumns, s, e, perOp);
        TEpilogue.Store(output, first.T13, second.T13, row + 16, col + 24, secondColumns, s, e, perOp);
    }

    /// <summary>x's 128 rows from m0 and two B tiles of 64 rows (from n0 and from <c>secondRow0</c>), each k tile 32 deep:
    /// both products from the same x fragments.</summary>
    private readonly struct PairedOperands<TElement, TFlavour>(ArrayView<byte> x, ArrayView<byte> first, ArrayView<byte> second, in GatedMlpShape s,
        int m0, int n0, int secondRow0, StagedLanes at) : IStagedOperands<PairedOperands<TElement, TFlavour>, WarpAccPair>
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
    {
        private readonly ArrayView<byte> x = x, first = first, second = second;
        private readonly GatedMlpShape s = s;
        private readonly int m0 = m0, n0 = n0, secondRow0 = secondRow0;
        private readonly StagedLanes at = at;

        public static StagedChunks Load(in PairedOperands<TElement, TFlavour> o, int kt)
        {
            int k = kt * BlockK + o.at.Chunk * 8, row = o.at.ChunkRow;
            bool aligned = o.s.KAligned != 0;
            return new StagedChunks
            {
                A0 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + row, k, o.s.M, o.s.K, aligned),
                A1 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + row + 64, k, o.s.M, o.s.K, aligned),
                B0 = MmaTiles.LoadChunk<TElement>(o.first, o.n0 + row, k, o.s.N, o.s.K, aligned),
                B1 = MmaTiles.LoadChunk<TElement>(o.second, o.secondRow0 + row, k, o.s.N, o.s.K, aligned),
            };
        }

        public static void Store(in PairedOperands<TElement, TFlavour> o, ArrayView<uint> shared, int stage, in StagedChunks c)
        {
            MmaTiles.StoreChunk(shared, stage * AStage, o.at.ChunkRow, o.at.Chunk, c.A0);
            MmaTiles.StoreChunk(shared, stage * AStage, o.at.ChunkRow + 64, o.at.Chunk, c.A1);
            MmaTiles.StoreChunk(shared, 2 * AStage + stage * BStage, o.at.ChunkRow, o.at.Chunk, c.B0);
            MmaTiles.StoreChunk(shared, 2 * AStage + (2 + stage) * BStage, o.at.ChunkRow, o.at.Chunk, c.B1);
        }

        public static WarpAccPair Mma(in PairedOperands<TElement, TFlavour> o, WarpAccPair acc, ArrayView<uint> shared, int stage, int kt)
        {
            for (int half = 0; half < 2; half++)
            {
                int aBase = stage * AStage + MmaTiles.Word(o.at.ARow, half * 8 + o.at.KWord);
                int bBase = 2 * AStage + stage * BStage + MmaTiles.Word(o.at.BRow, half * 8 + o.at.KWord);
                FragA f0 = MmaTiles.LoadFragA(shared, aBase), f1 = MmaTiles.LoadFragA(shared, aBase + 16 * RowWords);
                acc.First = MmaTiles.WarpStep<TElement, TFlavour>(acc.First, f0, f1, shared, bBase);
                acc.Second = MmaTiles.WarpStep<TElement, TFlavour>(acc.Second, f0, f1, shared, bBase + 2 * BStage);
            }
            return acc;
        }
    }

    /// <summary>The gated MLP's instantiation.</summary>
    public static MethodInfo GatedVariant(Type element, Type activation, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(RegisterStagedGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), PtxMma.Flavour(emulatedMma));

    /// <summary>The plain product's instantiation (Linear).</summary>
    public static MethodInfo LinearVariant(Type element, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(RegisterStagedGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), PtxMma.Flavour(emulatedMma));

    public static IEnumerable<MethodInfo> AllVariants() => PairedEpilogues.Variants(typeof(RegisterStagedGemmKernel));
}
