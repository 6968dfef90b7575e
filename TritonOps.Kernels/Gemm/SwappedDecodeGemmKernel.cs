namespace TritonOps.Kernels.Gemm;

/// <summary>
/// Hopper's decode GEMM (M ≤ <see cref="MaxRows"/>) with the operands swapped: the weight's rows sit on <c>wgmma</c>'s M
/// side (64 a consumer warpgroup) and x's rows on its N side in 16-row slices (m64n16k16, one slice or four: a type
/// argument), so little tensor-core work is spent on padding rows, and the weight streams once through the warp-specialized mainloop's ring (<see cref="WarpSpecializedMainloop"/>: the
/// copy engine fills 34- or 40-KB stages, deep enough to keep ~200 KB of every SM's loads in flight). A stage holds 64
/// elements of K of x's 16 or 64 rows (rows past M: zeros), then two 128-row weight boxes (gate's and up's rows n0…, or W's rows n0… and
/// n0 + 128…, as <see cref="WarpSpecializedGemmKernel"/>). Grid: (N tiles, K splits); the splits meet through a float32
/// workspace, the tile's warps together adding each (warp slot, x slice) over the splits in split order (the same bits
/// whichever block finishes last, MeetSplits) before the epilogue, whose lanes hold two x rows by two weight rows
/// (<see cref="IPairedTileEpilogue.StoreOne"/>). Needs K a multiple of 8 and 16-byte-aligned operands (tensor maps).
/// The gated MLP takes it at M ≤ 16 on Hopper; Linear at 17–64 rows with K and N ≥ 4096 (q/o-sized and the down projection). The strip
/// kernel (<see cref="DecodeGemmKernel"/>) keeps every other decode call.
/// </summary>
internal static class SwappedDecodeGemmKernel
{
    /// <summary>Rows of x a slice (wgmma's N), the most rows a launch takes (four slices), and weight rows a box (two
    /// consumer warpgroups of 64).</summary>
    public const int SliceRows = 16, MaxRows = 64, BlockN = 128, Consumers = 2;

    /// <summary>Consumer warpgroups, then the producer.</summary>
    public const int Threads = 128 * (Consumers + 1);

    /// <summary>Consumer warps a block: the warp slots of the split-K meeting's units.</summary>
    public const int ConsumerWarps = 4 * Consumers;

    /// <summary>Split-K's counters a tile (arrivals, claims, leaves; <see cref="SwappedConsumer{TElement, TEpilogue, TSlices}"/>'s
    /// MeetSplits): the op layer provides this many a tile, zero between launches.</summary>
    public const int CountersATile = 3;

    /// <summary>How long a warp waits for its tile's other splits before leaving their sums to the last arrival: up to
    /// ~64 polls of ≥ 256 ns.</summary>
    private const int MaxPolls = 64;

    private const uint PollNanoseconds = 256;

    /// <summary>Workspace floats a consumer thread and x slice (two 64 × 16 accumulators' 8 each).</summary>
    public const int PartialFloats = 16;

    /// <summary>Elements of K a stage (128 bytes of 16-bit elements): split lengths are multiples of it.</summary>
    public const int BlockK = StagedTiles.KBytes / 2;

    /// <summary>x slices a launch takes for <paramref name="m"/> rows (≤ <see cref="MaxRows"/>): one, or four.</summary>
    public static int SlicesFor(int m) => m <= SliceRows ? 1 : 4;

    private static int StageBytes(int slices) => (slices * SliceRows + 2 * BlockN) * StagedTiles.KBytes;

    public static int SharedBytes(int stages, int slices) => StageRing.SharedBytes(StageBytes(slices), stages);

    /// <summary>As many stages (34 KB with one x slice, 40 KB with four) as fit one block in 224 KB, at most 8.</summary>
    public static int DefaultStages(int slices) => Math.Min(8, (224 * 1024 - SharedBytes(0, slices)) / (SharedBytes(1, slices) - SharedBytes(0, slices)));

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    public static void Run<TElement, TEpilogue, TSlices>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output,
        GatedMlpShape s, GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int stages, EpilogueArgs epilogue)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(stages, TSlices.Count) at launch
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, StageBytes(TSlices.Count), stages);
        var tiles = new TileOrder(1, s.NTiles, 1, MaxRows, TEpilogue.SplitsColumns ? 2 * BlockN : BlockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;
        // This block's k tiles: split Grid.IdxY's range (KSplitLength elements, a multiple of BlockK), or all of K.
        int splitTiles = s.KSplitLength / BlockK;
        int firstTile = s.KSplits > 1 ? Grid.IdxY * splitTiles : 0;
        int kTiles = s.KSplits > 1 ? Math.Min(s.KTiles - firstTile, splitTiles) : s.KTiles;
        bool tensorCopies = xMap != 0;
        ring.Init(shared, stages, tensorCopies ? 1 : 128, Consumers * 4);

        if (warpgroup == Consumers)
        {
            int thread = tid - 128 * Consumers;
            if (tensorCopies && thread != 0)
                return;
            var producer = new PairedStageLoads<TEpilogue>(x, gate, up, s, addresses, xMap, gateMap, upMap, TSlices.Count * SliceRows, firstTile);
            WarpSpecializedMainloop.Produce<OneTileABlock, PairedStageLoads<TEpilogue>>(producer, shared, ring, stages, tiles, kTiles, tensorCopies, thread);
            return;
        }

        var consumer = new SwappedConsumer<TElement, TEpilogue, TSlices>(output, s, epilogue, warpgroup, tid);
        WarpSpecializedMainloop.Consume<OneTileABlock, SwappedConsumer<TElement, TEpilogue, TSlices>, SwappedAcc>(consumer, shared, sharedBase, ring,
            stages, tiles, kTiles, tid & 31);
    }

    /// <summary>A consumer's 64 weight rows of each box against one 16-row x slice.</summary>
    private struct SliceAcc
    {
        public WarpgroupAccN16 First, Second;
    }

    /// <summary>A consumer's sums for up to four x slices (with one, S1–S3 are never touched).</summary>
    private struct SwappedAcc
    {
        public SliceAcc S0, S1, S2, S3;
    }

    private readonly struct SwappedConsumer<TElement, TEpilogue, TSlices>(ArrayView<byte> output, GatedMlpShape s, EpilogueArgs epilogue, int warpgroup,
        int tid) : IStageConsumer<SwappedConsumer<TElement, TEpilogue, TSlices>, SwappedAcc>
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
    {
        private readonly ArrayView<byte> output = output;
        private readonly GatedMlpShape s = s;
        private readonly EpilogueArgs epilogue = epilogue;
        private readonly int warpgroup = warpgroup, tid = tid;

        public static SwappedAcc Mma(in SwappedConsumer<TElement, TEpilogue, TSlices> self, SwappedAcc acc, ArrayView<byte> shared, uint sharedBase,
            int stage, int kt, int m0, int n0)
        {
            int xRows = TSlices.Count * SliceRows;
            var first = StagedTiles.SwizzledOperand(stage, xRows + self.warpgroup * 64);
            var second = StagedTiles.SwizzledOperand(stage, xRows + BlockN + self.warpgroup * 64);
            PtxWgmma.M64N16K64x16BitPair<TElement>(ref acc.S0.First, ref acc.S0.Second, shared, first, second, StagedTiles.SwizzledOperand(stage, 0), sharedBase);
            if (TSlices.Count > 1)
            {
                PtxWgmma.M64N16K64x16BitPair<TElement>(ref acc.S1.First, ref acc.S1.Second, shared, first, second,
                    StagedTiles.SwizzledOperand(stage, SliceRows), sharedBase);
                PtxWgmma.M64N16K64x16BitPair<TElement>(ref acc.S2.First, ref acc.S2.Second, shared, first, second,
                    StagedTiles.SwizzledOperand(stage, 2 * SliceRows), sharedBase);
                PtxWgmma.M64N16K64x16BitPair<TElement>(ref acc.S3.First, ref acc.S3.Second, shared, first, second,
                    StagedTiles.SwizzledOperand(stage, 3 * SliceRows), sharedBase);
            }
            return acc;
        }

        public static void Store(in SwappedConsumer<TElement, TEpilogue, TSlices> self, in SwappedAcc sums, int m0, int n0)
        {
            SwappedAcc acc = sums;
            var e = self.epilogue;
            if (self.s.KSplits > 1)
            {
                // Each warp leaves its sums in the workspace, then the tile's warps add them up together (MeetSplits).
                // A (tile, split) region holds float f of consumer thread t at f · 256 + t (SplitPartials).
                long region = ((long)Grid.IdxX * self.s.KSplits + Grid.IdxY) * RegionFloats(TSlices.Count) + self.tid;
                Write(e.Partials, region, acc.S0);
                if (TSlices.Count > 1)
                {
                    Write(e.Partials, region + PartialFloats * ConsumerThreads, acc.S1);
                    Write(e.Partials, region + 2 * PartialFloats * ConsumerThreads, acc.S2);
                    Write(e.Partials, region + 3 * PartialFloats * ConsumerThreads, acc.S3);
                }
                // The barrier first, then the fence in lane 0's program order before its arrival: a release of the
                // whole warp's stores in the PTX memory model (a fence in each lane before the barrier works on the
                // hardware but is not one).
                Warp.Barrier();
                MemoryFence.DeviceLevel();
                if (TEpilogue.RoundsPerOp(self.s, e))
                    MeetSplits(self.output, self.s, e, n0, self.tid & 31, perOp: true);
                else
                    MeetSplits(self.output, self.s, e, n0, self.tid & 31, perOp: false);
                return;
            }
            int lane4 = self.tid & 31;
            int col = n0 + self.warpgroup * 64 + ((self.tid >> 5) & 3) * 16 + (lane4 >> 2), row = 2 * (lane4 & 3);
            if (TEpilogue.RoundsPerOp(self.s, e))
                StoreSlices(self.output, acc, row, col, self.s, e, perOp: true);
            else
                StoreSlices(self.output, acc, row, col, self.s, e, perOp: false);
        }

        /// <summary>
        /// Split-K's meeting, spread over the tile's warps (every split's 8 consumer warps): a warp counts itself in,
        /// waits a while for the rest (the tile's split blocks are co-resident when the split fills the chip at one block
        /// an SM, so they end together), then claims (warp slot, x slice) units from a counter until none is left, each
        /// summed over the splits in split order (the same bits whichever warp claims it) and stored. A warp that waited
        /// in vain leaves: the last to arrive claims every unit left, so nothing waits on a block that is not resident.
        /// The last warp to leave sets the tile's three counters back to zero for the next launch. (The CPU accelerator
        /// runs one block at a time: there every warp but the last gives up waiting, and the last claims every unit.)
        /// Not left to each slot's last warp (the sums then ran on ~16 of 132 SMs): Linear M64, 8 splits, 67.3 → 50.2 µs
        /// (H200, 12-07).
        /// </summary>
        private static void MeetSplits(ArrayView<byte> output, in GatedMlpShape s, in EpilogueArgs e, int n0, int lane, bool perOp)
        {
            int warps = s.KSplits * ConsumerWarps, units = ConsumerWarps * TSlices.Count;
            int arrivals = Grid.IdxX * CountersATile, claims = arrivals + 1, leaves = arrivals + 2;
            int arrived = 0;
            if (lane == 0)
                arrived = Atomic.Add(ref e.Arrivals[arrivals], 1);
            bool all = Warp.Shuffle(arrived, 0) == warps - 1;
            for (int poll = 0; !all && poll < MaxPolls; poll++)
            {
                int seen = 0;
                if (lane == 0)
                {
                    PtxSleep.Nanoseconds(PollNanoseconds);
                    seen = Atomic.Add(ref e.Arrivals[arrivals], 0);
                }
                all = Warp.Shuffle(seen, 0) == warps;
            }
            if (all)
            {
                MemoryFence.DeviceLevel();
                Warp.Barrier(); // the shuffle orders no memory: the warp barrier does, for the lanes that did not see the count
                long stride = RegionFloats(TSlices.Count), first = (long)Grid.IdxX * s.KSplits * stride + lane;
                for (;;)
                {
                    int unit = 0;
                    if (lane == 0)
                        unit = Atomic.Add(ref e.Arrivals[claims], 1);
                    unit = Warp.Shuffle(unit, 0);
                    if (unit >= units)
                        break;
                    int slot = unit % ConsumerWarps, slice = unit / ConsumerWarps;
                    var sum = SumSplits(e, first + slot * 32 + slice * PartialFloats * ConsumerThreads, stride, s.KSplits);
                    // The slot's lane layout: warpgroup slot / 4, warp slot % 4 of it.
                    int col = n0 + (slot >> 2) * 64 + (slot & 3) * 16 + (lane >> 2), row = 2 * (lane & 3) + slice * SliceRows;
                    StoreAll(output, sum, row, col, s, e, perOp);
                }
            }
            // Ordered after this warp's last claim or poll, so the reset below cannot pass one in the memory model.
            MemoryFence.DeviceLevel();
            int left = 0;
            if (lane == 0)
                left = Atomic.Add(ref e.Arrivals[leaves], 1);
            if (lane == 0 && left == warps - 1)
            {
                e.Arrivals[arrivals] = 0;
                e.Arrivals[claims] = 0;
                e.Arrivals[leaves] = 0;
            }
        }

        private static void StoreSlices(ArrayView<byte> output, in SwappedAcc acc, int row, int col, in GatedMlpShape s, in EpilogueArgs e, bool perOp)
        {
            StoreAll(output, acc.S0, row, col, s, e, perOp);
            if (TSlices.Count > 1)
            {
                StoreAll(output, acc.S1, row + SliceRows, col, s, e, perOp);
                StoreAll(output, acc.S2, row + 2 * SliceRows, col, s, e, perOp);
                StoreAll(output, acc.S3, row + 3 * SliceRows, col, s, e, perOp);
            }
        }

        /// <summary>A lane's 16 outputs of each product in a slice: x rows row, row + 1, row + 8, row + 9 by weight rows col,
        /// col + 8.</summary>
        private static void StoreAll(ArrayView<byte> output, in SliceAcc acc, int row, int col, in GatedMlpShape s, in EpilogueArgs e, bool perOp)
        {
            StoreBlock(output, acc.First.N0, acc.Second.N0, row, col, s, e, perOp);
            StoreBlock(output, acc.First.N1, acc.Second.N1, row + 8, col, s, e, perOp);
        }

        private static void StoreBlock(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, in GatedMlpShape s, in EpilogueArgs e, bool perOp)
        {
            TEpilogue.StoreOne(output, first.C0, second.C0, row, col, BlockN, s, e, perOp);
            TEpilogue.StoreOne(output, first.C1, second.C1, row + 1, col, BlockN, s, e, perOp);
            TEpilogue.StoreOne(output, first.C2, second.C2, row, col + 8, BlockN, s, e, perOp);
            TEpilogue.StoreOne(output, first.C3, second.C3, row + 1, col + 8, BlockN, s, e, perOp);
        }
    }

    /// <summary>Workspace floats of one (tile, split).</summary>
    public static int RegionFloats(int slices) => PartialFloats * ConsumerThreads * slices;

    private const int ConsumerThreads = 128 * Consumers;

    /// <summary>A slice's 16 sums of one thread: float j at <paramref name="at"/> + j · 256.</summary>
    private static void Write(ArrayView<float> partials, long at, in SliceAcc acc)
    {
        SplitPartials.Write(partials, at, ConsumerThreads, acc.First.N0);
        SplitPartials.Write(partials, at + 4 * ConsumerThreads, ConsumerThreads, acc.First.N1);
        SplitPartials.Write(partials, at + 8 * ConsumerThreads, ConsumerThreads, acc.Second.N0);
        SplitPartials.Write(partials, at + 12 * ConsumerThreads, ConsumerThreads, acc.Second.N1);
    }

    /// <summary>
    /// One slice's sums over every split, added in split order from zero (the same bits whichever warp adds them), the
    /// loads of four splits issued before their adds: one round trip to L2 a batch, not one a split (unbatched, each
    /// split cost ~0.8 µs; H100, 12-06).
    /// </summary>
    private static SliceAcc SumSplits(in EpilogueArgs e, long first, long stride, int splits)
    {
        SliceAcc sum = default;
        int split = 0;
        for (; split + 4 <= splits; split += 4)
        {
            SliceAcc a = Load(e, first + split * stride), b = Load(e, first + (split + 1) * stride);
            SliceAcc c = Load(e, first + (split + 2) * stride), d = Load(e, first + (split + 3) * stride);
            sum = Plus(Plus(Plus(Plus(sum, a), b), c), d);
        }
        for (; split < splits; split++)
            sum = Plus(sum, Load(e, first + split * stride));
        return sum;
    }

    private static SliceAcc Load(in EpilogueArgs e, long at) => new()
    {
        First = new WarpgroupAccN16
        {
            N0 = SplitPartials.Load(e, at, ConsumerThreads), N1 = SplitPartials.Load(e, at + 4 * ConsumerThreads, ConsumerThreads),
        },
        Second = new WarpgroupAccN16
        {
            N0 = SplitPartials.Load(e, at + 8 * ConsumerThreads, ConsumerThreads), N1 = SplitPartials.Load(e, at + 12 * ConsumerThreads, ConsumerThreads),
        },
    };

    private static SliceAcc Plus(in SliceAcc a, in SliceAcc b) => new()
    {
        First = new WarpgroupAccN16 { N0 = Acc4.Add(a.First.N0, b.First.N0), N1 = Acc4.Add(a.First.N1, b.First.N1) },
        Second = new WarpgroupAccN16 { N0 = Acc4.Add(a.Second.N0, b.Second.N0), N1 = Acc4.Add(a.Second.N1, b.Second.N1) },
    };

    private static Type Slices(int slices) => slices == 1 ? typeof(One) : typeof(Four);

    public static MethodInfo GatedVariant(Type element, Type activation, int slices) =>
        KernelMethods.Get(typeof(SwappedDecodeGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), Slices(slices));

    public static MethodInfo LinearVariant(Type element, int slices) =>
        KernelMethods.Get(typeof(SwappedDecodeGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), Slices(slices));

    /// <summary>Every (element, epilogue) with one x slice and with four.</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        new[] { 1, 4 }.SelectMany(slices => PairedEpilogues.Variants(typeof(SwappedDecodeGemmKernel), Slices(slices)));
}
