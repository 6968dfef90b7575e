using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Gemm;
using TritonOps.Kernels.Linear;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.FusedGatedMlp;

/// <summary>
/// Decode-sized M (≤ <see cref="MaxRows"/>): x times two B strips a warp, the weights streamed once from device memory
/// at full rate, the epilogue a trait (<see cref="IPairedTileEpilogue"/>): the gated MLP, out = act(x · gateᵀ) ⊙ (x · upᵀ)
/// (<see cref="GatedEpilogue{TElement, TActivation}"/>), or Linear (<see cref="LinearEpilogue{TElement}"/>: the second strip
/// is W's rows <see cref="BlockN"/> further, a block covers 2 × BlockN output columns). At M = 16 the 128-row tiles of
/// <see cref="GatedMlpKernel"/> spend 7/8 of their work on zero rows and stream the weights at
/// 1.56 TB/s (151 µs at H4096 I14336 on the H200).
/// Each warp owns one 8-row strip of gate and up (<see cref="StripMma"/>: fragments straight from
/// 16-byte global loads) against a 16-row slice of x, which every warp of the block re-reads from
/// L1. Block: 8 warps = <see cref="Strips"/> strips × <see cref="KParts"/> interleaved 64-wide k
/// ranges, added through shared memory before the epilogue. Block b: slice b % MTiles, strips of
/// group b / MTiles, so the slices of one strip run side by side and share its weights in L2.
/// Shape: MTiles = ceil(M / 16), NTiles = ceil(N / <see cref="BlockN"/>).
/// </summary>
internal static class GatedMlpDecodeKernel
{
    public const int Threads = 256, KParts = 2, Strips = Threads / 32 / KParts;
    public const int BlockN = Strips * StripMma.StripRows;

    /// <summary>The largest M this kernel is chosen for; above it the tiled kernel reuses weights better.</summary>
    public const int MaxRows = 64;

    [GlobalMemoryOnly]
    public static void Run<TElement, TEpilogue>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s, EpilogueArgs e)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
    {
        var parked = SharedMemory.Allocate<float>((KParts - 1) * Strips * 2 * 128);
        var last = SharedMemory.Allocate<int>(1);
        int warp = Group.IdxX >> 5, lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        int strip = warp % Strips, part = warp / Strips;
        int m0 = Grid.IdxX % s.MTiles * StripMma.SliceRows;
        int tileColumns = TEpilogue.SplitsColumns ? 2 * BlockN : BlockN;
        int n0 = Grid.IdxX / s.MTiles * tileColumns + strip * StripMma.StripRows;
        int second = TEpilogue.SplitsColumns ? n0 + BlockN : n0; // the second strip's first row
        bool aligned = s.KAligned != 0;

        Acc4 accG = default, accU = default;
        if (n0 < s.N) // warp-uniform
        {
            // Whole, aligned 64-wide steps load without checks; rows past M or N are clamped (see StripMma.Chunk).
            int perChunk = 128 / TElement.BitsPerElement;
            long kChunks = s.K / perChunk;
            long wRow = Math.Min(n0 + g, s.N - 1) * kChunks, uRow = Math.Min(second + g, s.N - 1) * kChunks;
            long top = Math.Min(m0 + g, s.M - 1) * kChunks, bottom = Math.Min(m0 + g + 8, s.M - 1) * kChunks;
            // Split-K: this grid row's range of K (split lengths are multiples of KParts · KStep, so a split's tail
            // chunks never reach into the next split's range).
            int kBegin = s.KSplits > 1 ? Grid.IdxY * s.KSplitLength : 0;
            int kEnd = s.KSplits > 1 ? Math.Min(s.K, kBegin + s.KSplitLength) : s.K;
            int fullEnd = aligned ? kEnd / StripMma.KStep * StripMma.KStep : kBegin;
            int k0 = kBegin + part * StripMma.KStep;
            for (; k0 < fullEnd; k0 += KParts * StripMma.KStep)
            {
                int c = (k0 + 16 * t) / perChunk;
                // Weights first: they come from DRAM; x (16 rows) is an L1/L2 hit. (Loading them a step ahead measured
                // no faster on the H200: Linear M16 in14336 out4096 42.8 µs against 40.0, gated M16 78.0 against 77.6.)
                Vec4U g0 = StripMma.Chunk(gate, wRow, c), g1 = StripMma.Chunk(gate, wRow, c + 1);
                Vec4U u0 = StripMma.Chunk(up, uRow, c), u1 = StripMma.Chunk(up, uRow, c + 1);
                Vec4U top0 = StripMma.Chunk(x, top, c), top1 = StripMma.Chunk(x, top, c + 1);
                Vec4U bottom0 = StripMma.Chunk(x, bottom, c), bottom1 = StripMma.Chunk(x, bottom, c + 1);
                accG = Step<TElement>(accG, top0, bottom0, g0, top1, bottom1, g1);
                accU = Step<TElement>(accU, top0, bottom0, u0, top1, bottom1, u1);
            }
            for (; k0 < kEnd; k0 += KParts * StripMma.KStep) // the K tail, zero-filled
            {
                int k = k0 + 16 * t;
                Vec4U g0 = MmaTiles.LoadChunk<TElement>(gate, n0 + g, k, s.N, s.K, aligned);
                Vec4U g1 = MmaTiles.LoadChunk<TElement>(gate, n0 + g, k + 8, s.N, s.K, aligned);
                Vec4U u0 = MmaTiles.LoadChunk<TElement>(up, second + g, k, s.N, s.K, aligned);
                Vec4U u1 = MmaTiles.LoadChunk<TElement>(up, second + g, k + 8, s.N, s.K, aligned);
                Vec4U top0 = MmaTiles.LoadChunk<TElement>(x, m0 + g, k, s.M, s.K, aligned);
                Vec4U top1 = MmaTiles.LoadChunk<TElement>(x, m0 + g, k + 8, s.M, s.K, aligned);
                Vec4U bottom0 = MmaTiles.LoadChunk<TElement>(x, m0 + g + 8, k, s.M, s.K, aligned);
                Vec4U bottom1 = MmaTiles.LoadChunk<TElement>(x, m0 + g + 8, k + 8, s.M, s.K, aligned);
                accG = Step<TElement>(accG, top0, bottom0, g0, top1, bottom1, g1);
                accU = Step<TElement>(accU, top0, bottom0, u0, top1, bottom1, u1);
            }
        }

        if (part > 0)
        {
            int slot = ((part - 1) * Strips + strip) * 2;
            StripMma.Park(parked, slot, accG);
            StripMma.Park(parked, slot + 1, accU);
        }
        Group.Barrier();
        bool owner = part == 0 && n0 < s.N;
        if (owner)
        {
            for (int p = 1; p < KParts; p++)
            {
                int slot = ((p - 1) * Strips + strip) * 2;
                accG = StripMma.AddParked(parked, slot, accG);
                accU = StripMma.AddParked(parked, slot + 1, accU);
            }
        }
        if (s.KSplits > 1)
        {
            // Serial split-K: each split leaves its sums in the workspace; the block that arrives last for the tile
            // adds all of them in split order (the same bits whichever block that is) and runs the epilogue. It also
            // sets the tile's counter back to zero for the next launch.
            int lanes = Strips * 32, tile = Grid.IdxX;
            long mine = ((long)tile * s.KSplits + Grid.IdxY) * lanes + Group.IdxX;
            if (owner)
            {
                Write(e.Partials, 2 * mine, accG);
                Write(e.Partials, 2 * mine + 1, accU);
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
            accG = default;
            accU = default;
            for (int split = 0; split < s.KSplits; split++)
            {
                long slot = ((long)tile * s.KSplits + split) * lanes + Group.IdxX;
                accG = Add(accG, e, 2 * slot);
                accU = Add(accU, e, 2 * slot + 1);
            }
        }
        if (owner)
            TEpilogue.Store(output, accG, accU, m0 + g, n0 + 2 * t, BlockN, s, e, TEpilogue.RoundsPerOp(s, e));
    }

    private static void Write(ArrayView<float> partials, long slot, Acc4 acc)
    {
        partials[4 * slot] = acc.C0;
        partials[4 * slot + 1] = acc.C1;
        partials[4 * slot + 2] = acc.C2;
        partials[4 * slot + 3] = acc.C3;
    }

    private static Acc4 Add(Acc4 acc, in EpilogueArgs e, long slot)
    {
        acc.C0 += PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, 4 * slot);
        acc.C1 += PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, 4 * slot + 1);
        acc.C2 += PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, 4 * slot + 2);
        acc.C3 += PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, 4 * slot + 3);
        return acc;
    }

    /// <summary>One 64-wide k step of one weight: this lane's two chunks of x rows (g, g + 8) and of weight row g.</summary>
    private static Acc4 Step<TElement>(Acc4 acc, Vec4U top0, Vec4U bottom0, Vec4U w0, Vec4U top1, Vec4U bottom1, Vec4U w1)
        where TElement : struct, IMmaElement =>
        StripMma.Mma16<TElement>(StripMma.Mma16<TElement>(acc, top0, bottom0, w0), top1, bottom1, w1);

    public static MethodInfo Variant(Type element, Type activation) =>
        KernelMethods.Get(typeof(GatedMlpDecodeKernel), nameof(Run), element, typeof(GatedEpilogue<,>).MakeGenericType(element, activation));

    /// <summary>Linear's instantiation.</summary>
    public static MethodInfo LinearVariant(Type element) =>
        KernelMethods.Get(typeof(GatedMlpDecodeKernel), nameof(Run), element, typeof(LinearEpilogue<>).MakeGenericType(element));

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in new[] { typeof(Float16Element), typeof(BFloat16Element) }
        from variant in GatedMlpKernel.ActivationTypes.Select(activation => Variant(element, activation)).Append(LinearVariant(element))
        select variant;
}
