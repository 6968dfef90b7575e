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
    /// <summary>Rows of x a slice (wgmma's N), the most rows a launch takes (four slices), weight rows a box, and consumer
    /// warpgroups at two boxes (the gated MLP's tiles; Linear's one-box tiles have one: <see cref="ThreadsFor"/>).</summary>
    public const int SliceRows = 16, MaxRows = 64, BlockN = 128, Consumers = 2;

    /// <summary>Consumer warpgroups, then the producer, at two boxes (the launch bound of every instantiation).</summary>
    public const int Threads = 128 * (Consumers + 1);

    /// <summary>Split-K's counters a tile (arrivals, claims, leaves; <see cref="SwappedConsumer{TElement, TEpilogue, TSlices, TBoxes, TCluster}"/>'s
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

    private static int StageBytes(int slices, int boxes) => (slices * SliceRows + boxes * BlockN) * StagedTiles.KBytes;

    /// <summary>Whether a ring of <paramref name="stages"/> stages can hold a block's split-K partials once drained (the
    /// cluster meeting writes them there; the barriers after the stages must stay untouched).</summary>
    public static bool RingHoldsPartials(int stages, int slices, int boxes) => stages * StageBytes(slices, boxes) >= 4 * RegionFloats(slices, boxes);

    public static int SharedBytes(int stages, int slices, int boxes = 2) => StageRing.SharedBytes(StageBytes(slices, boxes), stages);

    /// <summary>As many stages (34 KB with one x slice, 40 KB with four; one box: 18 or 24 KB) as fit one block in 224 KB, at most 8.</summary>
    public static int DefaultStages(int slices, int boxes = 2) =>
        Math.Min(8, (224 * 1024 - SharedBytes(0, slices, boxes)) / (SharedBytes(1, slices, boxes) - SharedBytes(0, slices, boxes)));

    /// <summary>Threads a block: a consumer warpgroup a box, then the producer.</summary>
    public static int ThreadsFor(int boxes) => 128 * (boxes + 1);

    /// <typeparam name="TElement">float16 or bfloat16.</typeparam>
    /// <typeparam name="TEpilogue">The gated pair's activation product or Linear's bias and residual.</typeparam>
    /// <typeparam name="TSlices">x's 16-row slices: one (M ≤ 16) or four (M ≤ 64).</typeparam>
    /// <typeparam name="TBoxes">128-row weight boxes a stage (<see cref="Two"/>: a consumer warpgroup for the 64-row halves
    /// of both, the gated pair or Linear's 256 columns; <see cref="One"/>: one warpgroup takes both halves of one box,
    /// Linear's 128 columns, twice the tiles and half the splits and split-K partials a tile).</typeparam>
    /// <typeparam name="TCluster">The tile's K splits as one thread-block cluster (<c>ClusterOf&lt;One&gt;</c>: the workspace).</typeparam>
    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    [ProgrammaticLaunch]
    public static void Run<TElement, TEpilogue, TSlices, TBoxes, TCluster>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output,
        GatedMlpShape s, GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int stages, EpilogueArgs epilogue)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
        where TBoxes : struct, IStaticCount
        where TCluster : struct, IClusterShape
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(stages, TSlices.Count, TBoxes.Count) at launch
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, StageBytes(TSlices.Count, TBoxes.Count), stages);
        var tiles = new TileOrder(1, s.NTiles, 1, MaxRows, TEpilogue.SplitsColumns ? TBoxes.Count * BlockN : BlockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;
        // This block's k tiles: split Grid.IdxY's range (KSplitLength elements, a multiple of BlockK), or all of K.
        int splitTiles = s.KSplitLength / BlockK;
        int firstTile = s.KSplits > 1 ? Grid.IdxY * splitTiles : 0;
        int kTiles = s.KSplits > 1 ? Math.Min(s.KTiles - firstTile, splitTiles) : s.KTiles;
        bool tensorCopies = xMap != 0;
        ring.Init(shared, stages, tensorCopies ? 1 : 128, TBoxes.Count * 4);
        PtxGridDependency.AtEntry();

        if (warpgroup == TBoxes.Count)
        {
            int thread = tid - 128 * TBoxes.Count;
            if (tensorCopies && thread != 0)
                return;
            var producer = new PairedStageLoads<TEpilogue>(x, gate, up, s, addresses, xMap, gateMap, upMap, TSlices.Count * SliceRows, firstTile,
                TBoxes.Count);
            WarpSpecializedMainloop.Produce<OneTileABlock, PairedStageLoads<TEpilogue>>(producer, shared, ring, stages, tiles, kTiles, tensorCopies, thread);
            return;
        }

        var consumer = new SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster>(output, shared, ring.First, s, epilogue, warpgroup, tid);
        WarpSpecializedMainloop.Consume<OneTileABlock, SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster>, SwappedAcc>(consumer, shared, sharedBase, ring,
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

    private readonly struct SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster>(ArrayView<byte> output, ArrayView<byte> shared, int ringFirst,
        GatedMlpShape s, EpilogueArgs epilogue, int warpgroup, int tid) : IStageConsumer<SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster>, SwappedAcc>
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
        where TBoxes : struct, IStaticCount
        where TCluster : struct, IClusterShape
    {
        /// <summary>Consumer threads and warps a block (a warpgroup a box).</summary>
        private static int ConsumerThreads => 128 * TBoxes.Count;

        private static int ConsumerWarps => 4 * TBoxes.Count;

        /// <summary>Columns from the first product's output to the second's (Linear): the next box, or one box's second half.</summary>
        private static int SecondColumns => TBoxes.Count == 2 ? BlockN : 64;

        private readonly ArrayView<byte> output = output, shared = shared;
        /// <summary>The ring's first byte in dynamic shared memory: a cluster's partials go there once the ring is drained.</summary>
        private readonly int ringFirst = ringFirst;
        private readonly GatedMlpShape s = s;
        private readonly EpilogueArgs epilogue = epilogue;
        private readonly int warpgroup = warpgroup, tid = tid;

        public static SwappedAcc Mma(in SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster> self, SwappedAcc acc, ArrayView<byte> shared, uint sharedBase,
            int stage, int kt, int m0, int n0)
        {
            int xRows = TSlices.Count * SliceRows;
            var first = StagedTiles.SwizzledOperand(stage, xRows + self.warpgroup * 64);
            var second = StagedTiles.SwizzledOperand(stage, xRows + (TBoxes.Count == 2 ? BlockN + self.warpgroup * 64 : 64));
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

        public static void Store(in SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster> self, in SwappedAcc sums, int m0, int n0)
        {
            SwappedAcc acc = sums;
            var e = self.epilogue;
            if (TCluster.Count > 1) // its own if: ILGPU folds a trait constant only there, not inside an && chain
            {
                if (CudaAsm.IsSupported)
                {
                    // The tile's splits are one cluster (Grid.IdxY its rank, grid Y = splits = TCluster.Count, as the op
                    // launches it): they meet in each other's shared memory.
                    if (TEpilogue.RoundsPerOp(self.s, e))
                        MeetInCluster(self, acc, n0, perOp: true);
                    else
                        MeetInCluster(self, acc, n0, perOp: false);
                    return;
                }
            }
            if (self.s.KSplits > 1)
            {
                // Each warp leaves its sums in the workspace, then the tile's warps add them up together (MeetSplits).
                // A (tile, split) region holds float f of consumer thread t at f · ConsumerThreads + t (SplitPartials; 256 with two boxes, 128 with one).
                long region = ((long)Grid.IdxX * self.s.KSplits + Grid.IdxY) * RegionFloats(TSlices.Count, TBoxes.Count) + self.tid;
                Write(e.Partials, region, acc.S0, ConsumerThreads);
                if (TSlices.Count > 1)
                {
                    Write(e.Partials, region + PartialFloats * ConsumerThreads, acc.S1, ConsumerThreads);
                    Write(e.Partials, region + 2 * PartialFloats * ConsumerThreads, acc.S2, ConsumerThreads);
                    Write(e.Partials, region + 3 * PartialFloats * ConsumerThreads, acc.S3, ConsumerThreads);
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
        /// Split-K's meeting inside a cluster of the tile's splits: each block leaves its sums in its own shared memory (the
        /// drained ring, in the workspace's layout), the cluster meets, and each block's warps sum the (warp slot, x slice)
        /// units of rank r, r + splits, … over every block's shared memory in split order from zero (the workspace meeting's
        /// bits), then store them. No workspace, counters, device fence or polls; a second meeting keeps every block's shared
        /// memory alive until the others have read it.
        /// </summary>
        private static void MeetInCluster(in SwappedConsumer<TElement, TEpilogue, TSlices, TBoxes, TCluster> self, in SwappedAcc acc, int n0, bool perOp)
        {
            // Every consumer warpgroup is past its last wgmma before any overwrites the ring.
            PtxCluster.SyncThreads(ConsumerThreads);
            var mine = self.shared.SubView(self.ringFirst, 4L * RegionFloats(TSlices.Count, TBoxes.Count)).Cast<float>();
            Write(mine, self.tid, acc.S0, ConsumerThreads);
            if (TSlices.Count > 1)
            {
                Write(mine, self.tid + PartialFloats * ConsumerThreads, acc.S1, ConsumerThreads);
                Write(mine, self.tid + 2 * PartialFloats * ConsumerThreads, acc.S2, ConsumerThreads);
                Write(mine, self.tid + 3 * PartialFloats * ConsumerThreads, acc.S3, ConsumerThreads);
            }
            PtxCluster.Sync();
            int lane = self.tid & 31, warp = self.tid >> 5, splits = TCluster.Count, units = ConsumerWarps * TSlices.Count;
            for (int unit = Grid.IdxY + warp * splits; unit < units; unit += ConsumerWarps * splits)
            {
                int slot = unit % ConsumerWarps, slice = unit / ConsumerWarps;
                int at = self.ringFirst + 4 * (slot * 32 + slice * PartialFloats * ConsumerThreads + lane);
                SliceAcc sum = default;
                for (int split = 0; split < TCluster.Count; split++)
                    sum = Plus(sum, LoadRemote(split, at));
                int col = n0 + (slot >> 2) * 64 + (slot & 3) * 16 + (lane >> 2), row = 2 * (lane & 3) + slice * SliceRows;
                StoreAll(self.output, sum, row, col, self.s, self.epilogue, perOp);
            }
            PtxCluster.Sync();
        }

        /// <summary>One slice's 16 sums of a thread in cluster block <paramref name="rank"/>'s shared memory (byte
        /// <paramref name="at"/>, the floats a block's consumer threads apart as <see cref="Write"/> leaves them).</summary>
        private static SliceAcc LoadRemote(int rank, int at) => new()
        {
            First = new WarpgroupAccN16
            {
                N0 = PtxCluster.LoadRemote(rank, at, 4 * ConsumerThreads), N1 = PtxCluster.LoadRemote(rank, at + 16 * ConsumerThreads, 4 * ConsumerThreads),
            },
            Second = new WarpgroupAccN16
            {
                N0 = PtxCluster.LoadRemote(rank, at + 32 * ConsumerThreads, 4 * ConsumerThreads),
                N1 = PtxCluster.LoadRemote(rank, at + 48 * ConsumerThreads, 4 * ConsumerThreads),
            },
        };

        /// <summary>
        /// Split-K's meeting, spread over the tile's warps (every split's 4 consumer warps a box): a warp counts itself in,
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
                long stride = RegionFloats(TSlices.Count, TBoxes.Count), first = (long)Grid.IdxX * s.KSplits * stride + lane;
                for (;;)
                {
                    int unit = 0;
                    if (lane == 0)
                        unit = Atomic.Add(ref e.Arrivals[claims], 1);
                    unit = Warp.Shuffle(unit, 0);
                    if (unit >= units)
                        break;
                    int slot = unit % ConsumerWarps, slice = unit / ConsumerWarps;
                    var sum = SumSplits(e, first + slot * 32 + slice * PartialFloats * ConsumerThreads, stride, s.KSplits, ConsumerThreads);
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
            TEpilogue.StoreOne(output, first.C0, second.C0, row, col, SecondColumns, s, e, perOp);
            TEpilogue.StoreOne(output, first.C1, second.C1, row + 1, col, SecondColumns, s, e, perOp);
            TEpilogue.StoreOne(output, first.C2, second.C2, row, col + 8, SecondColumns, s, e, perOp);
            TEpilogue.StoreOne(output, first.C3, second.C3, row + 1, col + 8, SecondColumns, s, e, perOp);
        }
    }

    /// <summary>Workspace floats of one (tile, split).</summary>
    public static int RegionFloats(int slices, int boxes = 2) => PartialFloats * 128 * boxes * slices;

    /// <summary>A slice's 16 sums of one thread: float j at <paramref name="at"/> + j · <paramref name="threads"/>.</summary>
    private static void Write(ArrayView<float> partials, long at, in SliceAcc acc, int threads)
    {
        SplitPartials.Write(partials, at, threads, acc.First.N0);
        SplitPartials.Write(partials, at + 4 * threads, threads, acc.First.N1);
        SplitPartials.Write(partials, at + 8 * threads, threads, acc.Second.N0);
        SplitPartials.Write(partials, at + 12 * threads, threads, acc.Second.N1);
    }

    /// <summary>
    /// One slice's sums over every split, added in split order from zero (the same bits whichever warp adds them), the
    /// loads of four splits issued before their adds: one round trip to L2 a batch, not one a split (unbatched, each
    /// split cost ~0.8 µs; H100, 12-06).
    /// </summary>
    private static SliceAcc SumSplits(in EpilogueArgs e, long first, long stride, int splits, int threads)
    {
        SliceAcc sum = default;
        int split = 0;
        for (; split + 4 <= splits; split += 4)
        {
            SliceAcc a = Load(e, first + split * stride, threads), b = Load(e, first + (split + 1) * stride, threads);
            SliceAcc c = Load(e, first + (split + 2) * stride, threads), d = Load(e, first + (split + 3) * stride, threads);
            sum = Plus(Plus(Plus(Plus(sum, a), b), c), d);
        }
        for (; split < splits; split++)
            sum = Plus(sum, Load(e, first + split * stride, threads));
        return sum;
    }

    private static SliceAcc Load(in EpilogueArgs e, long at, int threads) => new()
    {
        First = new WarpgroupAccN16 { N0 = SplitPartials.Load(e, at, threads), N1 = SplitPartials.Load(e, at + 4 * threads, threads) },
        Second = new WarpgroupAccN16 { N0 = SplitPartials.Load(e, at + 8 * threads, threads), N1 = SplitPartials.Load(e, at + 12 * threads, threads) },
    };

    private static SliceAcc Plus(in SliceAcc a, in SliceAcc b) => new()
    {
        First = new WarpgroupAccN16 { N0 = Acc4.Add(a.First.N0, b.First.N0), N1 = Acc4.Add(a.First.N1, b.First.N1) },
        Second = new WarpgroupAccN16 { N0 = Acc4.Add(a.Second.N0, b.Second.N0), N1 = Acc4.Add(a.Second.N1, b.Second.N1) },
    };

    private static Type Slices(int slices) => slices == 1 ? typeof(One) : typeof(Four);

    /// <summary>The cluster sizes the splits of a tile may meet in (<see cref="IClusterShape"/>; 1: the workspace).</summary>
    public static bool HasCluster(int splits) => splits is >= 2 and <= 5 or 8;

    /// <summary>The cluster type argument for <paramref name="splits"/> (<see cref="ClusterOf{TCount}"/>; One where
    /// <see cref="HasCluster"/> is false): a table, since every decode launch asks and reflection costs microseconds.</summary>
    private static Type Cluster(int splits) => HasCluster(splits) ? s_clusters[splits] : typeof(ClusterOf<One>);

    private static readonly Type[] s_clusters =
    [
        typeof(ClusterOf<One>), typeof(ClusterOf<One>), typeof(ClusterOf<Two>), typeof(ClusterOf<Three>), typeof(ClusterOf<Four>),
        typeof(ClusterOf<Five>), typeof(ClusterOf<One>), typeof(ClusterOf<One>), typeof(ClusterOf<Eight>),
    ];

    /// <summary><paramref name="variant"/> with its splits meeting in a cluster of <paramref name="splits"/> blocks.</summary>
    public static MethodInfo InCluster(MethodInfo variant, int splits) =>
        s_inCluster.TryGetValue((variant, splits), out var known) ? known // every decode launch asks: no reflection on a hit
            : s_inCluster.GetOrAdd((variant, splits), key =>
            {
                var a = key.Variant.GetGenericArguments();
                return KernelMethods.Get(typeof(SwappedDecodeGemmKernel), nameof(Run), a[0], a[1], a[2], a[3], Cluster(key.Splits));
            });

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(MethodInfo Variant, int Splits), MethodInfo> s_inCluster = new();

    public static MethodInfo GatedVariant(Type element, Type activation, int slices, int cluster = 1) =>
        KernelMethods.Get(typeof(SwappedDecodeGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), Slices(slices), typeof(Two),
            Cluster(cluster));

    /// <summary>Linear's instantiation: <paramref name="boxes"/> 128-row weight boxes a tile.</summary>
    public static MethodInfo LinearVariant(Type element, int slices, int boxes = 2, int cluster = 1) =>
        KernelMethods.Get(typeof(SwappedDecodeGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), Slices(slices),
            boxes == 1 ? typeof(One) : typeof(Two), Cluster(cluster));

    /// <summary>Every (element, epilogue) with one x slice and with four; Linear's with one box too; Linear's bfloat16
    /// four-slice one-box form in a cluster of 4.</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        new[] { 1, 4 }.SelectMany(slices => PairedEpilogues.Variants(typeof(SwappedDecodeGemmKernel), Slices(slices), typeof(Two), typeof(ClusterOf<One>))
            .Concat(PairedEpilogues.Elements.Select(element => LinearVariant(element, slices, boxes: 1))))
        .Append(LinearVariant(typeof(BFloat16Element), 4, boxes: 1, cluster: 4));
}
