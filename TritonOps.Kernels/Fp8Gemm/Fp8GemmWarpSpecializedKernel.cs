namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>
/// out = (a_q · b_qᵀ) · a_scale · b_scale (+ bias) on Hopper's warpgroup tensor cores, warp-specialized
/// (the CUTLASS structure). A producer fills a ring of <c>stages</c> shared-memory stages, each completing
/// on its "full" <see cref="PtxMbarrier"/>: on the GPU one thread asks the copy engine for the stage's two
/// boxes through tensor maps (<see cref="PtxTensorCopy"/>, <c>aMap</c>/<c>bMap</c>); with no maps (0, the
/// CPU accelerator) the producer warpgroup copies 16 bytes a thread with <c>cp.async</c>, which could not
/// feed these tiles on the H200 (~2.8 TB/s from L2; docs/performance.md). Two consumer warpgroups wait on
/// full barriers, run one <c>wgmma</c> block per 64 rows (m64n128, four k32 steps), add the partial into
/// float32 and hand the stage back through its "empty" barrier: no block-wide barrier in the k loop, so
/// one consumer's issue overlaps the other's wait and promotion. Block tile: <c>2 · 64 · TTiles.Count</c>
/// rows × <see cref="BlockN"/> columns; a stage holds the tile's rows of a, then of b, 128 bytes of K each,
/// 128-byte-swizzled (<see cref="StagedTiles"/>). Two 64-row blocks a consumer (256-row tiles) need 128
/// accumulators a thread besides the partial: the producer warpgroup gives its registers to the consumers
/// (<c>setmaxnreg</c>). For M ≤ 64 the tile is 64 rows and the consumers split its columns (<see cref="M64N64"/>). Scales per token and group (a) or per 128 × 128 block (b) multiply each k tile's
/// partial as it is added (<see cref="KBlockScales"/>: a k tile is one 128-deep scale block). Needs K a multiple of 16 and 16-byte-aligned operands. Block order:
/// <see cref="MmaTiles.GroupedTile"/>. H200, bf16 out: 1025 TFLOP/s at 8192³, 31.6 µs at M16 N14336 K4096.
/// </summary>
internal static class Fp8GemmWarpSpecializedKernel
{
    public const int BlockK = StagedTiles.KBytes, BlockN = 128, GroupM = 8, Consumers = 2;

    /// <summary>Consumer warpgroups, then the producer.</summary>
    public const int Threads = 128 * (Consumers + 1);

    /// <summary>The tile heights: 64 (the consumers split N, for M ≤ 64), 128 and 256 (one or two 64-row blocks a consumer).</summary>
    public static readonly int[] TileRows = [64, 128, 256];

    /// <summary>Dynamic shared bytes of the ring (<see cref="StageRing"/>).</summary>
    public static int SharedBytes(int blockM, int stages) => StageRing.SharedBytes((blockM + BlockN) * BlockK, stages);

    /// <summary>The ring's default depth: as many stages as fit one block in 224 KB (the H200 lends 227), at most 8 (at
    /// 8192³ three or four stages of 256-row tiles measured the same).</summary>
    public static int DefaultStages(int blockM) =>
        Math.Min(8, (224 * 1024 - SharedBytes(blockM, 0)) / (SharedBytes(blockM, 1) - SharedBytes(blockM, 0)));

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    public static void Run<TOut, TTiles, TScales, TWalk>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s, ulong aAddress, ulong bAddress, ulong aMap, ulong bMap, int stages)
        where TOut : struct, IElementType
        where TTiles : struct, IFp8ConsumerTiles<TTiles>
        where TScales : struct, IFp8ScaleMode
        where TWalk : struct, ITileWalk
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(blockM, stages) at launch
        int blockM = TTiles.SplitsN ? 64 : Consumers * 64 * TTiles.Count;
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, (blockM + BlockN) * BlockK, stages);
        var tiles = new TileOrder(s.MTiles, s.NTiles, GroupM, blockM, BlockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;
        // With tensor maps one producer thread asks the copy engine for each stage (one arrival plus the bytes);
        // without, the producer warpgroup's threads copy 16 bytes at a time (cp.async), each arriving when its copies land.
        bool tensorCopies = aMap != 0;
        ring.Init(shared, stages, tensorCopies ? 1 : 128, Consumers * 4);

        if (warpgroup == Consumers)
        {
            if (TTiles.Count > 1)
                PtxWgmma.ReleaseRegistersTo40();
            int thread = tid - 128 * Consumers;
            if (tensorCopies && thread != 0)
                return;
            var producer = new Fp8StageLoads(a, b, s, aAddress, bAddress, aMap, bMap, blockM);
            WarpSpecializedMainloop.Produce<TWalk, Fp8StageLoads>(producer, shared, ring, stages, tiles, s.KTiles, tensorCopies, thread);
            return;
        }

        if (TTiles.Count > 1)
            PtxWgmma.ClaimRegistersTo232();
        var consumer = new Fp8TileConsumer<TOut, TTiles, TScales>(aScale, bScale, bias, output, s, blockM, warpgroup, tid);
        WarpSpecializedMainloop.Consume<TWalk, Fp8TileConsumer<TOut, TTiles, TScales>, TTiles>(consumer, shared, sharedBase, ring, stages, tiles, s.KTiles, tid & 31);
    }

    /// <summary>A stage of a's tile rows, then b's 128 rows, 128 bytes of K each.</summary>
    private readonly struct Fp8StageLoads(ArrayView<byte> a, ArrayView<byte> b, in Fp8GemmShape s, ulong aAddress, ulong bAddress, ulong aMap,
        ulong bMap, int blockM) : IStageProducer<Fp8StageLoads>
    {
        private readonly ArrayView<byte> a = a, b = b;
        private readonly Fp8GemmShape s = s;
        private readonly ulong aAddress = aAddress, bAddress = bAddress, aMap = aMap, bMap = bMap;
        private readonly int blockM = blockM;

        public static void CopyEngineLoads(in Fp8StageLoads self, int stage, int kt, int m0, int n0, int barrier)
        {
            PtxTensorCopy.Load2D(stage, self.aMap, kt * BlockK, m0, barrier);
            PtxTensorCopy.Load2D(stage + self.blockM * BlockK, self.bMap, kt * BlockK, n0, barrier);
        }

        public static void ThreadLoads(in Fp8StageLoads self, ArrayView<byte> shared, int stage, int kt, int m0, int n0, int thread) =>
            StagedTiles.LoadSwizzled(shared, stage, self.blockM + BlockN, thread, 128, self.s.K, (long)kt * BlockK, self.blockM,
                self.a, self.aAddress, m0, self.s.M,
                self.b, self.bAddress, n0, self.s.N);
    }

    /// <summary>A consumer warpgroup's rows (or columns, <see cref="IFp8ConsumerTiles{TSelf}.SplitsN"/>) of the tile: the k tiles
    /// added into float32 (scaled per k block with <see cref="KBlockScales"/>), then the scaled store.</summary>
    private readonly struct Fp8TileConsumer<TOut, TTiles, TScales> : IStageConsumer<Fp8TileConsumer<TOut, TTiles, TScales>, TTiles>
        where TOut : struct, IElementType
        where TTiles : struct, IFp8ConsumerTiles<TTiles>
        where TScales : struct, IFp8ScaleMode
    {
        private readonly ArrayView<float> aScale, bScale, bias;
        private readonly ArrayView<byte> output;
        private readonly Fp8GemmShape s;
        /// <summary>This consumer's rows of a and of b (columns of the output) in the stage, and its thread's offsets.</summary>
        private readonly int blockM, aRows, bRows, rowOffset, colOffset;

        public Fp8TileConsumer(ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, ArrayView<byte> output, in Fp8GemmShape s,
            int blockM, int warpgroup, int tid)
        {
            this.aScale = aScale;
            this.bScale = bScale;
            this.bias = bias;
            this.output = output;
            this.s = s;
            this.blockM = blockM;
            aRows = TTiles.SplitsN ? 0 : warpgroup * 64 * TTiles.Count;
            bRows = TTiles.SplitsN ? warpgroup * 64 : 0;
            int lane = tid & 31;
            rowOffset = aRows + ((tid >> 5) & 3) * 16 + (lane >> 2);
            colOffset = bRows + 2 * (lane & 3);
        }

        public static TTiles Mma(in Fp8TileConsumer<TOut, TTiles, TScales> self, TTiles acc, ArrayView<byte> shared, uint sharedBase,
            int stage, int kt, int m0, int n0)
        {
            var tileA = StagedTiles.SwizzledOperand(stage, self.aRows);
            var tileB = StagedTiles.SwizzledOperand(stage, self.blockM + self.bRows);
            // A k tile is 128 deep: one block of the scales (KBlockScales), applied as it is added.
            return TScales.PerKBlock
                ? TTiles.MmaScaled(acc, shared, sharedBase, tileA, tileB, self.aScale, self.bScale, m0 + self.rowOffset, n0 + self.colOffset, kt, self.s)
                : TTiles.Mma(acc, shared, sharedBase, tileA, tileB, kt > 0);
        }

        public static void Store(in Fp8TileConsumer<TOut, TTiles, TScales> self, in TTiles acc, int m0, int n0) =>
            TTiles.Store<TOut>(acc, self.output, m0 + self.rowOffset, n0 + self.colOffset, self.aScale, self.bScale, self.bias, self.s);
    }

    /// <summary>The instantiation for an output dtype, tile height (<see cref="TileRows"/>) and scale mode.</summary>
    public static MethodInfo Variant(Type output, int blockM, bool perKBlock = false, bool walksTiles = false) =>
        KernelMethods.Get(typeof(Fp8GemmWarpSpecializedKernel), nameof(Run), output,
            blockM switch { 64 => typeof(M64N64), 128 => typeof(M64N128), 256 => typeof(M128N128), _ => throw new ArgumentOutOfRangeException(nameof(blockM)) },
            Fp8GemmKernel.ScaleMode(perKBlock), WarpSpecializedMainloop.Walk(walksTiles));

    /// <summary>Every instantiation a block a tile, and the grid-stride walk at 128-row tiles into bfloat16 (the walk's code
    /// is the same for every output and tile).</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        (from output in Fp8GemmKernel.OutputElements
         from blockM in TileRows
         from perKBlock in new[] { false, true }
         select Variant(output, blockM, perKBlock))
        .Concat(new[] { false, true }.Select(perKBlock => Variant(typeof(BFloat16Element), 128, perKBlock, walksTiles: true)));
}
