using TritonOps.Kernels.Linear;

namespace TritonOps.Kernels.Gemm;

/// <summary>
/// The 16-bit GEMM mainloop on Hopper's warpgroup tensor cores, written once for two products of one x tile
/// (two B tiles of 128 rows each), with the epilogue as a struct trait (<see cref="IPairedTileEpilogue"/>):
/// the gated MLP's act(x · gateᵀ) ⊙ (x · upᵀ) (<see cref="GatedEpilogue{TElement, TActivation}"/>: the two B tiles are gate's and
/// up's rows n0…n0+127), or a plain x · Wᵀ (+ bias) (+ residual) (<see cref="LinearEpilogue{TElement}"/>: the two B tiles are
/// W's rows n0…n0+127 and n0+128…n0+255, a 128 × 256 output tile). Structure as
/// <see cref="Fp8Gemm.Fp8GemmWarpSpecializedKernel"/>: a producer fills a ring of 128-byte-swizzled stages
/// (on the GPU one thread driving the copy engine through three tensor maps; with no maps, the CPU
/// accelerator, the producer warpgroup copying with <c>cp.async</c>), each stage holding 64 elements of K
/// of the tile's 128 rows of x, then 128 rows of gate, then 128 rows of up; two consumer warpgroups wait
/// on the stage's full <see cref="PtxMbarrier"/>, each adds its 64 rows' gate and up products (m64n128
/// <c>wgmma</c>, float32 accumulation in place) and releases the stage. Block tile: 128 × 128 outputs; the
/// activation and product in the epilogue, rounded once. Needs K a multiple of 8 (16-byte rows) and
/// 16-byte-aligned operands. Block order: <see cref="MmaTiles.GroupedTile"/>.
/// </summary>
internal static class WarpSpecializedGemmKernel
{
    /// <summary>Rows of x and of each B tile in a block tile.</summary>
    public const int BlockM = 128, BlockN = 128, Consumers = 2, GroupM = 8;

    /// <summary>Bytes of K a row per stage (64 16-bit elements).</summary>
    public const int BlockKBytes = StagedTiles.KBytes;

    /// <summary>Consumer warpgroups, then the producer.</summary>
    public const int Threads = 128 * (Consumers + 1);

    private const int StageRows = BlockM + 2 * BlockN;

    /// <summary>Dynamic shared bytes of the ring (<see cref="StageRing"/>).</summary>
    public static int SharedBytes(int stages) => StageRing.SharedBytes(StageRows * BlockKBytes, stages);

    /// <summary>The ring's default depth: as many stages as fit one block in 224 KB (the H200 lends 227), at most 8.</summary>
    public static int DefaultStages => Math.Min(8, (224 * 1024 - SharedBytes(0)) / (SharedBytes(1) - SharedBytes(0)));

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    [ProgrammaticLaunch]
    public static void Run<TElement, TEpilogue, TWalk>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output,
        GatedMlpShape s, GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int stages, EpilogueArgs epilogue)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TWalk : struct, ITileWalk
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(stages) at launch
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, StageRows * BlockKBytes, stages);
        var tiles = new TileOrder(s.MTiles, s.NTiles, GroupM, BlockM, TEpilogue.SplitsColumns ? 2 * BlockN : BlockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;
        // As in the FP8 kernel: one arrival (plus the bytes) a stage from the copy engine, or one per copying thread.
        bool tensorCopies = xMap != 0;
        ring.Init(shared, stages, tensorCopies ? 1 : 128, Consumers * 4);
        PtxGridDependency.AtEntry();

        if (warpgroup == Consumers)
        {
            PtxWgmma.ReleaseRegistersTo40();
            int thread = tid - 128 * Consumers;
            if (tensorCopies && thread != 0)
                return;
            var producer = new PairedStageLoads<TEpilogue>(x, gate, up, s, addresses, xMap, gateMap, upMap, BlockM, firstTile: 0);
            WarpSpecializedMainloop.Produce<TWalk, PairedStageLoads<TEpilogue>>(producer, shared, ring, stages, tiles, s.KTiles, tensorCopies, thread);
            return;
        }

        PtxWgmma.ClaimRegistersTo232();
        var consumer = new PairedTileConsumer<TElement, TEpilogue>(output, s, epilogue, warpgroup, tid);
        WarpSpecializedMainloop.Consume<TWalk, PairedTileConsumer<TElement, TEpilogue>, PairedAcc>(consumer, shared, sharedBase, ring, stages, tiles, s.KTiles, tid & 31);
    }

    /// <summary>A consumer's two accumulators: its 64 rows against the first and the second B tile.</summary>
    private struct PairedAcc
    {
        public WarpgroupAccN128 First, Second;
    }

    /// <summary>A consumer warpgroup's 64 rows of the tile: both products (m64n128 <c>wgmma</c> each), then the epilogue.</summary>
    private readonly struct PairedTileConsumer<TElement, TEpilogue>(ArrayView<byte> output, in GatedMlpShape s, in EpilogueArgs epilogue,
        int warpgroup, int tid) : IStageConsumer<PairedTileConsumer<TElement, TEpilogue>, PairedAcc>
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
    {
        private readonly ArrayView<byte> output = output;
        private readonly GatedMlpShape s = s;
        private readonly EpilogueArgs epilogue = epilogue;
        private readonly int warpgroup = warpgroup, tid = tid;

        public static PairedAcc Mma(in PairedTileConsumer<TElement, TEpilogue> self, PairedAcc acc, ArrayView<byte> shared, uint sharedBase,
            int stage, int kt, int m0, int n0)
        {
            var tileX = StagedTiles.SwizzledOperand(stage, self.warpgroup * 64);
            acc.First = PtxWgmma.M64N128K64x16Bit<TElement>(acc.First, shared, tileX, StagedTiles.SwizzledOperand(stage, BlockM), sharedBase);
            acc.Second = PtxWgmma.M64N128K64x16Bit<TElement>(acc.Second, shared, tileX, StagedTiles.SwizzledOperand(stage, BlockM + BlockN), sharedBase);
            return acc;
        }

        public static void Store(in PairedTileConsumer<TElement, TEpilogue> self, in PairedAcc acc, int m0, int n0)
        {
            int lane = self.tid & 31;
            int row = m0 + self.warpgroup * 64 + ((self.tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
            if (TEpilogue.RoundsPerOp(self.s, self.epilogue))
            {
                Store<TElement, TEpilogue>(self.output, acc.First.Left, acc.Second.Left, row, col, self.s, self.epilogue, perOp: true);
                Store<TElement, TEpilogue>(self.output, acc.First.Right, acc.Second.Right, row, col + 64, self.s, self.epilogue, perOp: true);
            }
            else
            {
                Store<TElement, TEpilogue>(self.output, acc.First.Left, acc.Second.Left, row, col, self.s, self.epilogue, perOp: false);
                Store<TElement, TEpilogue>(self.output, acc.First.Right, acc.Second.Right, row, col + 64, self.s, self.epilogue, perOp: false);
            }
        }
    }

    private static void Store<TElement, TEpilogue>(ArrayView<byte> output, in WarpgroupAcc first, in WarpgroupAcc second, int row, int col,
        in GatedMlpShape s, in EpilogueArgs e, bool perOp)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
    {
        TEpilogue.Store(output, first.N0, second.N0, row, col, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N1, second.N1, row, col + 8, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N2, second.N2, row, col + 16, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N3, second.N3, row, col + 24, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N4, second.N4, row, col + 32, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N5, second.N5, row, col + 40, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N6, second.N6, row, col + 48, BlockN, s, e, perOp);
        TEpilogue.Store(output, first.N7, second.N7, row, col + 56, BlockN, s, e, perOp);
    }

    /// <summary>The gated MLP's instantiation; <paramref name="walksTiles"/> for a grid below the tile count.</summary>
    public static MethodInfo GatedVariant(Type element, Type activation, bool walksTiles = false) =>
        KernelMethods.Get(typeof(WarpSpecializedGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), WarpSpecializedMainloop.Walk(walksTiles));

    /// <summary>The plain product's instantiation (Linear).</summary>
    public static MethodInfo LinearVariant(Type element, bool walksTiles = false) =>
        KernelMethods.Get(typeof(WarpSpecializedGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), WarpSpecializedMainloop.Walk(walksTiles));

    /// <summary>Every instantiation a block a tile, and the grid-stride walk of each epilogue (bfloat16: the walk is
    /// the same code for every element and activation).</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        PairedEpilogues.Variants(typeof(WarpSpecializedGemmKernel), WarpSpecializedMainloop.Walk(false))
        .Append(GatedVariant(typeof(BFloat16Element), typeof(Silu), walksTiles: true))
        .Append(LinearVariant(typeof(BFloat16Element), walksTiles: true));
}
