using TritonOps.Kernels.Linear;

namespace TritonOps.Kernels.Gemm;

/// <summary>
/// Decode-sized M (≤ <see cref="MaxRows"/>): x times two B strips a warp, the weights streamed once from device memory
/// at full rate, the epilogue a trait (<see cref="IPairedTileEpilogue"/>): the gated MLP, out = act(x · gateᵀ) ⊙ (x · upᵀ)
/// (<see cref="GatedEpilogue{TElement, TActivation}"/>), or Linear (<see cref="LinearEpilogue{TElement}"/>: the second strip
/// is W's rows <see cref="BlockN"/> further, a block covers 2 × BlockN output columns). At M = 16 the 128-row tiles of
/// <see cref="RegisterStagedGemmKernel"/> spend 7/8 of their work on zero rows and stream the weights at
/// 1.56 TB/s (151 µs at H4096 I14336 on the H200).
/// Each warp owns one 8-row strip of gate and up (<see cref="StripMma"/>: fragments straight from
/// 16-byte global loads) against a 16-row slice of x, which every warp of the block re-reads from
/// L1. Block: 8 warps = <see cref="Strips"/> strips × <see cref="KParts"/> interleaved 64-wide k
/// ranges, added through shared memory before the epilogue. Block b: slice b % MTiles, strips of
/// group b / MTiles, so the slices of one strip run side by side and share its weights in L2.
/// Shape: MTiles = ceil(M / 16), NTiles = ceil(N / <see cref="BlockN"/>). The loop is <see cref="DecodeStripMainloop"/>'s,
/// shared with the FP8 strip; this kernel supplies its paired operands, the split-K reduction and the epilogue.
/// </summary>
internal static class DecodeGemmKernel
{
    public const int Threads = DecodeStripMainloop.Threads, KParts = DecodeStripMainloop.KParts, Strips = DecodeStripMainloop.Strips;
    public const int BlockN = Strips * StripMma.StripRows;

    /// <summary>The largest M this kernel is chosen for; above it the tiled kernel reuses weights better.</summary>
    public const int MaxRows = 64;

    [GlobalMemoryOnly]
    [ProgrammaticLaunch]
    public static void Run<TElement, TEpilogue, TFlavour>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s, EpilogueArgs e)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TFlavour : struct, IMmaFlavour
    {
        PtxGridDependency.AtEntry();
        var parked = SharedMemory.Allocate<float>(DecodeStripMainloop.ParkedFloats<PairedStrips<TElement, TFlavour>, PairedAcc4>());
        var last = SharedMemory.Allocate<int>(1);
        int warp = Group.IdxX >> 5, lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        int strip = warp % Strips, part = warp / Strips;
        int m0 = Grid.IdxX % s.MTiles * StripMma.SliceRows;
        int tileColumns = TEpilogue.SplitsColumns ? 2 * BlockN : BlockN;
        int n0 = Grid.IdxX / s.MTiles * tileColumns + strip * StripMma.StripRows;
        int second = TEpilogue.SplitsColumns ? n0 + BlockN : n0; // the second strip's first row

        PairedAcc4 acc = default;
        if (n0 < s.N) // warp-uniform
        {
            // Whole, aligned 64-wide steps load without checks; rows past M or N are clamped (see StripMma.Chunk).
            long kChunks = s.K / (128 / TElement.BitsPerElement);
            var operands = new PairedStrips<TElement, TFlavour>(x, gate, up, s, m0, n0, second, g, t,
                Math.Min(n0 + g, s.N - 1) * kChunks, Math.Min(second + g, s.N - 1) * kChunks,
                Math.Min(m0 + g, s.M - 1) * kChunks, Math.Min(m0 + g + 8, s.M - 1) * kChunks);
            // Split-K: this grid row's range of K (split lengths are multiples of KParts · KStep, so a split's tail
            // chunks never reach into the next split's range).
            int kBegin = s.KSplits > 1 ? Grid.IdxY * s.KSplitLength : 0;
            int kEnd = s.KSplits > 1 ? Math.Min(s.K, kBegin + s.KSplitLength) : s.K;
            acc = DecodeStripMainloop.Accumulate<PairedStrips<TElement, TFlavour>, PairedAcc4>(operands, kBegin, kEnd, s.KAligned != 0, part, t);
        }

        bool owner = part == 0 && n0 < s.N;
        acc = DecodeStripMainloop.CombineParts<PairedStrips<TElement, TFlavour>, PairedAcc4>(parked, acc, part, strip, owner);
        Acc4 accG = acc.First, accU = acc.Second;
        if (s.KSplits > 1)
        {
            // Serial split-K: each split leaves its sums in the workspace; the block that arrives last for the tile
            // adds all of them in split order (the same bits whichever block that is) and runs the epilogue. It also
            // sets the tile's counter back to zero for the next launch.
            // A (tile, split) region holds float f of owning lane l at f · 128 + l (SplitPartials).
            int tile = Grid.IdxX;
            long mine = ((long)tile * s.KSplits + Grid.IdxY) * RegionFloats + Group.IdxX;
            if (owner)
            {
                SplitPartials.Write(e.Partials, mine, OwnerLanes, accG);
                SplitPartials.Write(e.Partials, mine + 4 * OwnerLanes, OwnerLanes, accU);
            }
            MemoryFence.DeviceLevel();
            Group.Barrier();
            if (Group.IdxX == 0)
                last[0] = Atomic.Add(ref e.Arrivals[tile], 1) == s.KSplits - 1 ? 1 : 0;
            Group.Barrier();
            if (last[0] == 0)
                return;
            MemoryFence.DeviceLevel();
            if (Group.IdxX == 0)
                e.Arrivals[tile] = 0;
            if (!owner)
                return;
            var sums = SumSplits(e, (long)tile * s.KSplits * RegionFloats + Group.IdxX, s.KSplits);
            accG = sums.First;
            accU = sums.Second;
        }
        if (owner)
            TEpilogue.Store(output, accG, accU, m0 + g, n0 + 2 * t, BlockN, s, e, TEpilogue.RoundsPerOp(s, e));
    }

    /// <summary>One warp's operands: x's 16-row slice at m0 and two 8-row weight strips (gate's and up's rows n0…, or W's
    /// rows n0… and <paramref name="second"/>…), a 64-deep step an iteration (two m16n8k16 a 16-byte chunk).</summary>
    private readonly struct PairedStrips<TElement, TFlavour>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, GatedMlpShape s,
        int m0, int n0, int second, int g, int t, long wRow, long uRow, long top, long bottom) : IStripOperands<PairedStrips<TElement, TFlavour>, PairedAcc4>
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
    {
        private readonly ArrayView<byte> x = x, gate = gate, up = up;
        private readonly GatedMlpShape s = s;
        private readonly int m0 = m0, n0 = n0, second = second, g = g, t = t;
        private readonly long wRow = wRow, uRow = uRow, top = top, bottom = bottom;

        public static int KIteration => StripMma.KStep;

        // No faster with the weights loaded a step ahead (H200, Linear M16 in14336 out4096: 42.8 against 40.0 µs).
        public static bool PrefetchesWeights => false;

        public static int Chunk(int k0, int t) => (k0 + 16 * t) / (128 / TElement.BitsPerElement);

        public static StripChunks LoadWeights(in PairedStrips<TElement, TFlavour> o, int c) => new()
        {
            C0 = StripMma.Chunk(o.gate, o.wRow, c), C1 = StripMma.Chunk(o.gate, o.wRow, c + 1),
            C2 = StripMma.Chunk(o.up, o.uRow, c), C3 = StripMma.Chunk(o.up, o.uRow, c + 1),
        };

        public static PairedAcc4 Iteration(in PairedStrips<TElement, TFlavour> o, PairedAcc4 acc, in StripChunks w, int c, int k0)
        {
            Vec4U top0 = StripMma.Chunk(o.x, o.top, c), top1 = StripMma.Chunk(o.x, o.top, c + 1);
            Vec4U bottom0 = StripMma.Chunk(o.x, o.bottom, c), bottom1 = StripMma.Chunk(o.x, o.bottom, c + 1);
            acc.First = Step(acc.First, top0, bottom0, w.C0, top1, bottom1, w.C1);
            acc.Second = Step(acc.Second, top0, bottom0, w.C2, top1, bottom1, w.C3);
            return acc;
        }

        public static PairedAcc4 Tail(in PairedStrips<TElement, TFlavour> o, PairedAcc4 acc, int k0)
        {
            bool aligned = o.s.KAligned != 0;
            int k = k0 + 16 * o.t;
            Vec4U g0 = MmaTiles.LoadChunk<TElement>(o.gate, o.n0 + o.g, k, o.s.N, o.s.K, aligned);
            Vec4U g1 = MmaTiles.LoadChunk<TElement>(o.gate, o.n0 + o.g, k + 8, o.s.N, o.s.K, aligned);
            Vec4U u0 = MmaTiles.LoadChunk<TElement>(o.up, o.second + o.g, k, o.s.N, o.s.K, aligned);
            Vec4U u1 = MmaTiles.LoadChunk<TElement>(o.up, o.second + o.g, k + 8, o.s.N, o.s.K, aligned);
            Vec4U top0 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + o.g, k, o.s.M, o.s.K, aligned);
            Vec4U top1 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + o.g, k + 8, o.s.M, o.s.K, aligned);
            Vec4U bottom0 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + o.g + 8, k, o.s.M, o.s.K, aligned);
            Vec4U bottom1 = MmaTiles.LoadChunk<TElement>(o.x, o.m0 + o.g + 8, k + 8, o.s.M, o.s.K, aligned);
            acc.First = Step(acc.First, top0, bottom0, g0, top1, bottom1, g1);
            acc.Second = Step(acc.Second, top0, bottom0, u0, top1, bottom1, u1);
            return acc;
        }

        public static int ParkedFloats => 2 * 128;

        public static void Park(ArrayView<float> scratch, int slot, in PairedAcc4 acc)
        {
            StripMma.Park(scratch, 2 * slot, acc.First);
            StripMma.Park(scratch, 2 * slot + 1, acc.Second);
        }

        public static PairedAcc4 AddParked(ArrayView<float> scratch, int slot, PairedAcc4 acc)
        {
            acc.First = StripMma.AddParked(scratch, 2 * slot, acc.First);
            acc.Second = StripMma.AddParked(scratch, 2 * slot + 1, acc.Second);
            return acc;
        }

        /// <summary>One 64-wide k step of one weight: this lane's two chunks of x rows (g, g + 8) and of weight row g.</summary>
        private static Acc4 Step(Acc4 acc, Vec4U top0, Vec4U bottom0, Vec4U w0, Vec4U top1, Vec4U bottom1, Vec4U w1) =>
            StripMma.Mma16Twice<TElement, TFlavour>(acc, top0, bottom0, w0, top1, bottom1, w1);
    }

    /// <summary>Lanes that own a strip's sums (part 0's warps).</summary>
    private const int OwnerLanes = Strips * 32;

    /// <summary>Workspace floats of one (tile, split): two Acc4 an owning lane.</summary>
    public const int RegionFloats = 8 * OwnerLanes;

    /// <summary>Both accumulators' sums over every split, each added in split order from zero (the same bits whichever
    /// block adds them), four splits' loads of both issued before their adds: one L2 round trip a batch of four splits
    /// (the two accumulators one after the other took two).</summary>
    private static PairedAcc4 SumSplits(in EpilogueArgs e, long first, int splits)
    {
        PairedAcc4 sum = default;
        int split = 0;
        for (; split + 4 <= splits; split += 4)
        {
            PairedAcc4 a = Load(e, first, split), b = Load(e, first, split + 1), c = Load(e, first, split + 2), d = Load(e, first, split + 3);
            sum.First = Acc4.Add(Acc4.Add(Acc4.Add(Acc4.Add(sum.First, a.First), b.First), c.First), d.First);
            sum.Second = Acc4.Add(Acc4.Add(Acc4.Add(Acc4.Add(sum.Second, a.Second), b.Second), c.Second), d.Second);
        }
        for (; split < splits; split++)
        {
            PairedAcc4 a = Load(e, first, split);
            sum.First = Acc4.Add(sum.First, a.First);
            sum.Second = Acc4.Add(sum.Second, a.Second);
        }
        return sum;
    }

    /// <summary>A (tile, split) region's two Acc4 of an owning lane: the first at float 0, the second at 4 · OwnerLanes.</summary>
    private static PairedAcc4 Load(in EpilogueArgs e, long first, int split)
    {
        long at = first + split * (long)RegionFloats;
        return new PairedAcc4 { First = SplitPartials.Load(e, at, OwnerLanes), Second = SplitPartials.Load(e, at + 4 * OwnerLanes, OwnerLanes) };
    }

    public static MethodInfo Variant(Type element, Type activation, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(DecodeGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), PtxMma.Flavour(emulatedMma));

    /// <summary>Linear's instantiation.</summary>
    public static MethodInfo LinearVariant(Type element, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(DecodeGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), PtxMma.Flavour(emulatedMma));

    public static IEnumerable<MethodInfo> AllVariants() => PairedEpilogues.Variants(typeof(DecodeGemmKernel));
}
