using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.Linear;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

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

    /// <summary>16-row x slices a block takes for <paramref name="m"/> rows (≤ <see cref="MaxRows"/>), when all its rows
    /// go in one block (<see cref="LinearVariant"/>'s <c>allRows</c>): one, or four.</summary>
    public static int SlicesFor(int m) => m <= StripMma.SliceRows ? 1 : 4;

    /// <summary>x rows a tile of a launch with <paramref name="slices"/> slices a block covers.</summary>
    public static int TileRows(int slices) => slices * StripMma.SliceRows;

    [GlobalMemoryOnly]
    public static void Run<TElement, TEpilogue, TSlices>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s, GatedMlpAddresses addresses, EpilogueArgs e)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
    {
        var parked = SharedMemory.Allocate<float>(DecodeStripMainloop.ParkedFloats<PairedStrips<TElement, TSlices>, SlicedAcc>());
        var last = SharedMemory.Allocate<int>(1);
        int warp = Group.IdxX >> 5, lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        int strip = warp % Strips, part = warp / Strips;
        int m0 = Grid.IdxX % s.MTiles * TileRows(TSlices.Count);
        int tileColumns = TEpilogue.SplitsColumns ? 2 * BlockN : BlockN;
        int n0 = Grid.IdxX / s.MTiles * tileColumns + strip * StripMma.StripRows;
        int second = TEpilogue.SplitsColumns ? n0 + BlockN : n0; // the second strip's first row

        SlicedAcc acc = default;
        if (n0 < s.N) // warp-uniform
        {
            // Whole, aligned 64-wide steps load without checks; rows past M or N are clamped (see StripMma.Chunk).
            long kChunks = s.K / (128 / TElement.BitsPerElement);
            var operands = new PairedStrips<TElement, TSlices>(x, gate, up, s, m0, n0, second, g, t, kChunks, addresses);
            // Split-K: this grid row's range of K (split lengths are multiples of KParts · KStep, so a split's tail
            // chunks never reach into the next split's range).
            int kBegin = s.KSplits > 1 ? Grid.IdxY * s.KSplitLength : 0;
            int kEnd = s.KSplits > 1 ? Math.Min(s.K, kBegin + s.KSplitLength) : s.K;
            acc = DecodeStripMainloop.Accumulate<PairedStrips<TElement, TSlices>, SlicedAcc>(operands, kBegin, kEnd, s.KAligned != 0, part, t,
                s.PrefetchAhead);
        }

        bool owner = part == 0 && n0 < s.N;
        acc = DecodeStripMainloop.CombineParts<PairedStrips<TElement, TSlices>, SlicedAcc>(parked, acc, part, strip, owner);
        if (s.KSplits > 1)
        {
            // Serial split-K: each split leaves its sums in the workspace; the block that arrives last for the tile
            // adds all of them in split order (the same bits whichever block that is) and runs the epilogue. It also
            // sets the tile's counter back to zero for the next launch.
            // A (tile, split) region holds float f of owning lane l at f · 128 + l (SplitPartials), eight a slice.
            int tile = Grid.IdxX;
            long stride = RegionFloats(TSlices.Count), mine = ((long)tile * s.KSplits + Grid.IdxY) * stride + Group.IdxX;
            if (owner)
            {
                Write(e.Partials, mine, acc.S0);
                if (TSlices.Count > 1)
                {
                    Write(e.Partials, mine + SliceFloats, acc.S1);
                    Write(e.Partials, mine + 2 * SliceFloats, acc.S2);
                    Write(e.Partials, mine + 3 * SliceFloats, acc.S3);
                }
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
            long first = (long)tile * s.KSplits * stride + Group.IdxX;
            if (TSlices.Count > 1)
            {
                // A split's four slices (32 floats a lane) a round trip: the owner's own sums are in the workspace now.
                acc = default;
                for (int split = 0; split < s.KSplits; split++)
                {
                    long at = first + split * stride;
                    PairedAcc4 a = Load(e, at), b = Load(e, at + SliceFloats), c = Load(e, at + 2 * SliceFloats), d = Load(e, at + 3 * SliceFloats);
                    acc.S0 = Plus(acc.S0, a);
                    acc.S1 = Plus(acc.S1, b);
                    acc.S2 = Plus(acc.S2, c);
                    acc.S3 = Plus(acc.S3, d);
                }
            }
            else
                acc.S0 = new PairedAcc4 { First = SumSplits(e, first, stride, s.KSplits), Second = SumSplits(e, first + 4 * OwnerLanes, stride, s.KSplits) };
        }
        if (!owner)
            return;
        StoreSlices<TEpilogue, TSlices>(output, acc, m0 + g, n0 + 2 * t, s, e, TEpilogue.RoundsPerOp(s, e));
    }

    private static void StoreSlices<TEpilogue, TSlices>(ArrayView<byte> output, in SlicedAcc acc, int row, int col, in GatedMlpShape s, in EpilogueArgs e,
        bool perOp)
        where TEpilogue : struct, IPairedTileEpilogue
        where TSlices : struct, IStaticCount
    {
        TEpilogue.Store(output, acc.S0.First, acc.S0.Second, row, col, BlockN, s, e, perOp);
        if (TSlices.Count > 1)
        {
            TEpilogue.Store(output, acc.S1.First, acc.S1.Second, row + StripMma.SliceRows, col, BlockN, s, e, perOp);
            TEpilogue.Store(output, acc.S2.First, acc.S2.Second, row + 2 * StripMma.SliceRows, col, BlockN, s, e, perOp);
            TEpilogue.Store(output, acc.S3.First, acc.S3.Second, row + 3 * StripMma.SliceRows, col, BlockN, s, e, perOp);
        }
    }

    /// <summary>A warp's two strips' sums against up to four 16-row x slices (with one, S1–S3 are never touched).</summary>
    private struct SlicedAcc
    {
        public PairedAcc4 S0, S1, S2, S3;
    }

    /// <summary>One warp's operands: x's 16-row slices from m0 (one, or four: <typeparamref name="TSlices"/>) and two 8-row
    /// weight strips (gate's and up's rows n0…, or W's rows n0… and second…), a 64-deep step an
    /// iteration (two m16n8k16 a 16-byte chunk and slice). With four slices each weight chunk feeds every slice from
    /// registers: W streams once for 64 rows (one slice a block re-read it from L2 for each 16 rows: at M 64 the H100 ran
    /// the down projection at 1.17 TB/s of weights, ~4.6 TB/s from L2, against 2.3 TB/s at M 16).</summary>
    private readonly struct PairedStrips<TElement, TSlices> : IStripOperands<PairedStrips<TElement, TSlices>, SlicedAcc>
        where TElement : struct, IMmaElement
        where TSlices : struct, IStaticCount
    {
        private readonly ArrayView<byte> x, gate, up;
        private readonly GatedMlpShape s;
        private readonly int m0, n0, second, g, t;
        private readonly long wRow, uRow;

        /// <summary>Device addresses of this lane's gate (W) and up rows (their first chunk), for L2 prefetches.</summary>
        private readonly ulong wRowAddress, uRowAddress;

        /// <summary>Chunk offsets of x rows g and g + 8 of each slice, clamped to the last row.</summary>
        private readonly long top0, bottom0, top1, bottom1, top2, bottom2, top3, bottom3;

        public PairedStrips(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, GatedMlpShape s, int m0, int n0, int second, int g, int t,
            long kChunks, GatedMlpAddresses addresses)
        {
            this.x = x;
            this.gate = gate;
            this.up = up;
            this.s = s;
            this.m0 = m0;
            this.n0 = n0;
            this.second = second;
            this.g = g;
            this.t = t;
            wRow = Math.Min(n0 + g, s.N - 1) * kChunks;
            uRow = Math.Min(second + g, s.N - 1) * kChunks;
            wRowAddress = addresses.Gate + (ulong)wRow * 16;
            uRowAddress = addresses.Up + (ulong)uRow * 16;
            int rows = StripMma.SliceRows;
            top0 = Math.Min(m0 + g, s.M - 1) * kChunks;
            bottom0 = Math.Min(m0 + g + 8, s.M - 1) * kChunks;
            top1 = Math.Min(m0 + rows + g, s.M - 1) * kChunks;
            bottom1 = Math.Min(m0 + rows + g + 8, s.M - 1) * kChunks;
            top2 = Math.Min(m0 + 2 * rows + g, s.M - 1) * kChunks;
            bottom2 = Math.Min(m0 + 2 * rows + g + 8, s.M - 1) * kChunks;
            top3 = Math.Min(m0 + 3 * rows + g, s.M - 1) * kChunks;
            bottom3 = Math.Min(m0 + 3 * rows + g + 8, s.M - 1) * kChunks;
        }

        public static int KIteration => StripMma.KStep;

        // Loading the weights a step ahead measured no faster on the H200: Linear M16 in14336 out4096 42.8 µs against
        // 40.0, gated M16 78.0 against 77.6.
        public static bool PrefetchesWeights => false;

        public static int Chunk(int k0, int t) => (k0 + 16 * t) / (128 / TElement.BitsPerElement);

        public static StripChunks LoadWeights(in PairedStrips<TElement, TSlices> o, int c) => new()
        {
            C0 = StripMma.Chunk(o.gate, o.wRow, c), C1 = StripMma.Chunk(o.gate, o.wRow, c + 1),
            C2 = StripMma.Chunk(o.up, o.uRow, c), C3 = StripMma.Chunk(o.up, o.uRow, c + 1),
        };

        /// <summary>Chunks c and c + 1 (c even: one 32-byte sector) of this lane's two weight rows.</summary>
        public static void PrefetchWeights(in PairedStrips<TElement, TSlices> o, int c)
        {
            PtxCacheHint.PrefetchL2(o.wRowAddress + (ulong)c * 16);
            PtxCacheHint.PrefetchL2(o.uRowAddress + (ulong)c * 16);
        }

        public static SlicedAcc Iteration(in PairedStrips<TElement, TSlices> o, SlicedAcc acc, in StripChunks w, int c, int k0)
        {
            acc.S0 = SliceStep(o.x, acc.S0, w, o.top0, o.bottom0, c);
            if (TSlices.Count > 1)
            {
                acc.S1 = SliceStep(o.x, acc.S1, w, o.top1, o.bottom1, c);
                acc.S2 = SliceStep(o.x, acc.S2, w, o.top2, o.bottom2, c);
                acc.S3 = SliceStep(o.x, acc.S3, w, o.top3, o.bottom3, c);
            }
            return acc;
        }

        /// <summary>One slice's step: its x chunks (L1 hits: every warp of the block reads the same rows) against both strips.</summary>
        private static PairedAcc4 SliceStep(ArrayView<byte> x, PairedAcc4 acc, in StripChunks w, long top, long bottom, int c)
        {
            Vec4U top0 = StripMma.Chunk(x, top, c), top1 = StripMma.Chunk(x, top, c + 1);
            Vec4U bottom0 = StripMma.Chunk(x, bottom, c), bottom1 = StripMma.Chunk(x, bottom, c + 1);
            acc.First = Step(acc.First, top0, bottom0, w.C0, top1, bottom1, w.C1);
            acc.Second = Step(acc.Second, top0, bottom0, w.C2, top1, bottom1, w.C3);
            return acc;
        }

        public static SlicedAcc Tail(in PairedStrips<TElement, TSlices> o, SlicedAcc acc, int k0)
        {
            bool aligned = o.s.KAligned != 0;
            int k = k0 + 16 * o.t;
            var w = new StripChunks
            {
                C0 = MmaTiles.LoadChunk<TElement>(o.gate, o.n0 + o.g, k, o.s.N, o.s.K, aligned),
                C1 = MmaTiles.LoadChunk<TElement>(o.gate, o.n0 + o.g, k + 8, o.s.N, o.s.K, aligned),
                C2 = MmaTiles.LoadChunk<TElement>(o.up, o.second + o.g, k, o.s.N, o.s.K, aligned),
                C3 = MmaTiles.LoadChunk<TElement>(o.up, o.second + o.g, k + 8, o.s.N, o.s.K, aligned),
            };
            acc.S0 = SliceTail(o, acc.S0, w, o.m0, k, aligned);
            if (TSlices.Count > 1)
            {
                acc.S1 = SliceTail(o, acc.S1, w, o.m0 + StripMma.SliceRows, k, aligned);
                acc.S2 = SliceTail(o, acc.S2, w, o.m0 + 2 * StripMma.SliceRows, k, aligned);
                acc.S3 = SliceTail(o, acc.S3, w, o.m0 + 3 * StripMma.SliceRows, k, aligned);
            }
            return acc;
        }

        private static PairedAcc4 SliceTail(in PairedStrips<TElement, TSlices> o, PairedAcc4 acc, in StripChunks w, int sliceRow, int k, bool aligned)
        {
            Vec4U top0 = MmaTiles.LoadChunk<TElement>(o.x, sliceRow + o.g, k, o.s.M, o.s.K, aligned);
            Vec4U top1 = MmaTiles.LoadChunk<TElement>(o.x, sliceRow + o.g, k + 8, o.s.M, o.s.K, aligned);
            Vec4U bottom0 = MmaTiles.LoadChunk<TElement>(o.x, sliceRow + o.g + 8, k, o.s.M, o.s.K, aligned);
            Vec4U bottom1 = MmaTiles.LoadChunk<TElement>(o.x, sliceRow + o.g + 8, k + 8, o.s.M, o.s.K, aligned);
            acc.First = Step(acc.First, top0, bottom0, w.C0, top1, bottom1, w.C1);
            acc.Second = Step(acc.Second, top0, bottom0, w.C2, top1, bottom1, w.C3);
            return acc;
        }

        public static int ParkedFloats => 2 * 128 * TSlices.Count;

        public static void Park(ArrayView<float> scratch, int slot, in SlicedAcc acc)
        {
            int at = 2 * TSlices.Count * slot;
            ParkSlice(scratch, at, acc.S0);
            if (TSlices.Count > 1)
            {
                ParkSlice(scratch, at + 2, acc.S1);
                ParkSlice(scratch, at + 4, acc.S2);
                ParkSlice(scratch, at + 6, acc.S3);
            }
        }

        public static SlicedAcc AddParked(ArrayView<float> scratch, int slot, SlicedAcc acc)
        {
            int at = 2 * TSlices.Count * slot;
            acc.S0 = AddParkedSlice(scratch, at, acc.S0);
            if (TSlices.Count > 1)
            {
                acc.S1 = AddParkedSlice(scratch, at + 2, acc.S1);
                acc.S2 = AddParkedSlice(scratch, at + 4, acc.S2);
                acc.S3 = AddParkedSlice(scratch, at + 6, acc.S3);
            }
            return acc;
        }

        private static void ParkSlice(ArrayView<float> scratch, int at, in PairedAcc4 acc)
        {
            StripMma.Park(scratch, at, acc.First);
            StripMma.Park(scratch, at + 1, acc.Second);
        }

        private static PairedAcc4 AddParkedSlice(ArrayView<float> scratch, int at, PairedAcc4 acc)
        {
            acc.First = StripMma.AddParked(scratch, at, acc.First);
            acc.Second = StripMma.AddParked(scratch, at + 1, acc.Second);
            return acc;
        }

        /// <summary>One 64-wide k step of one weight: this lane's two chunks of x rows (g, g + 8) and of weight row g.</summary>
        private static Acc4 Step(Acc4 acc, Vec4U top0, Vec4U bottom0, Vec4U w0, Vec4U top1, Vec4U bottom1, Vec4U w1) =>
            StripMma.Mma16<TElement>(StripMma.Mma16<TElement>(acc, top0, bottom0, w0), top1, bottom1, w1);
    }

    /// <summary>Lanes that own a strip's sums (part 0's warps).</summary>
    private const int OwnerLanes = Strips * 32;

    /// <summary>Workspace floats of one slice's sums in a (tile, split) region: two Acc4 an owning lane.</summary>
    private const int SliceFloats = 8 * OwnerLanes;

    /// <summary>Workspace floats of one (tile, split) of a launch with <paramref name="slices"/> x slices a block.</summary>
    public static int RegionFloats(int slices) => slices * SliceFloats;

    private static void Write(ArrayView<float> partials, long at, in PairedAcc4 acc)
    {
        SplitPartials.Write(partials, at, OwnerLanes, acc.First);
        SplitPartials.Write(partials, at + 4 * OwnerLanes, OwnerLanes, acc.Second);
    }

    private static PairedAcc4 Load(in EpilogueArgs e, long at) => new()
    {
        First = SplitPartials.Load(e, at, OwnerLanes),
        Second = SplitPartials.Load(e, at + 4 * OwnerLanes, OwnerLanes),
    };

    private static PairedAcc4 Plus(in PairedAcc4 a, in PairedAcc4 b) => new() { First = Acc4.Add(a.First, b.First), Second = Acc4.Add(a.Second, b.Second) };

    /// <summary>One accumulator's sums over every split, added in split order from zero (the same bits whichever block
    /// adds them), four splits' loads issued before their adds: one L2 round trip a batch, not one a split.</summary>
    private static Acc4 SumSplits(in EpilogueArgs e, long first, long stride, int splits)
    {
        Acc4 sum = default;
        int split = 0;
        for (; split + 4 <= splits; split += 4)
        {
            Acc4 a = LoadAcc(e, first, stride, split), b = LoadAcc(e, first, stride, split + 1);
            Acc4 c = LoadAcc(e, first, stride, split + 2), d = LoadAcc(e, first, stride, split + 3);
            sum = Acc4.Add(Acc4.Add(Acc4.Add(Acc4.Add(sum, a), b), c), d);
        }
        for (; split < splits; split++)
            sum = Acc4.Add(sum, LoadAcc(e, first, stride, split));
        return sum;
    }

    private static Acc4 LoadAcc(in EpilogueArgs e, long first, long stride, int split) => SplitPartials.Load(e, first + split * stride, OwnerLanes);

    private static Type Slices(int slices) => slices == 1 ? typeof(One) : typeof(Four);

    /// <summary>The gated MLP's instantiation: a 16-row slice of x a block.</summary>
    public static MethodInfo Variant(Type element, Type activation) =>
        KernelMethods.Get(typeof(DecodeGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), typeof(One));

    /// <summary>Linear's instantiation: a 16-row slice of x a block, or (<paramref name="slices"/> 4) all of its ≤ 64 rows.</summary>
    public static MethodInfo LinearVariant(Type element, int slices = 1) =>
        KernelMethods.Get(typeof(DecodeGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), Slices(slices));

    /// <summary>Every (element, epilogue) with one slice a block, and Linear's with four.</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        (from element in PairedEpilogues.Elements
         from epilogue in PairedEpilogues.For(element)
         select KernelMethods.Get(typeof(DecodeGemmKernel), nameof(Run), element, epilogue, typeof(One)))
        .Concat(PairedEpilogues.Elements.Select(element => LinearVariant(element, 4)));
}
