namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>
/// fp8_gemm for decode-sized M (≤ <see cref="MaxRows"/>): the [N, K] codes of b stream once from
/// device memory at full rate (the tiled <see cref="Fp8GemmKernel"/> at M = 16 reads them at about
/// 1 TB/s: 60.6 µs at N14336 K4096 on the H200). Each warp owns one 8-row strip of b
/// (<see cref="StripMma"/>: e4m3 fragments straight from 16-byte global loads) against a 16-row
/// slice of a, and keeps <see cref="Unroll"/> 16-byte loads of b in flight per lane. Block: 8 warps =
/// <see cref="Strips"/> strips × <see cref="KParts"/> interleaved k ranges, added through shared
/// memory before the epilogue (scales, bias, one rounding). Block b: slice b % MTiles, strip group
/// b / MTiles. Shape: MTiles = ceil(M / 16), NTiles = ceil(N / <see cref="BlockN"/>). The loop is
/// <see cref="DecodeStripMainloop"/>'s, shared with the 16-bit strips; this kernel supplies its operands and epilogue.
/// </summary>
internal static class Fp8GemmDecodeKernel
{
    public const int Threads = DecodeStripMainloop.Threads, KParts = DecodeStripMainloop.KParts, Strips = DecodeStripMainloop.Strips, Unroll = 4;
    public const int BlockN = Strips * StripMma.StripRows;

    /// <summary>The largest M this kernel is chosen for.</summary>
    public const int MaxRows = 64;

    private const int KIteration = Unroll * StripMma.KStep;

    [GlobalMemoryOnly]
    public static void Run<TOut, TScales, TFlavour>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s)
        where TOut : struct, IElementType
        where TScales : struct, IFp8ScaleMode
        where TFlavour : struct, IMmaFlavour
    {
        var parked = SharedMemory.Allocate<float>(DecodeStripMainloop.ParkedFloats<StripOperands<TScales, TFlavour>, Acc4>());
        int warp = Group.IdxX >> 5, lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        int strip = warp % Strips, part = warp / Strips;
        int m0 = Grid.IdxX % s.MTiles * StripMma.SliceRows;
        int n0 = (Grid.IdxX / s.MTiles * Strips + strip) * StripMma.StripRows;

        Acc4 acc = default;
        if (n0 < s.N) // warp-uniform
        {
            // Whole, aligned iterations load without checks; rows past M or N are clamped (see StripMma.Chunk).
            long kChunks = s.K / 16;
            var operands = new StripOperands<TScales, TFlavour>(a, b, aScale, bScale, s, m0, n0, g, t,
                Math.Min(n0 + g, s.N - 1) * kChunks, Math.Min(m0 + g, s.M - 1) * kChunks, Math.Min(m0 + g + 8, s.M - 1) * kChunks);
            acc = DecodeStripMainloop.Accumulate<StripOperands<TScales, TFlavour>, Acc4>(operands, 0, s.K, s.KAligned != 0, part, t);
        }
        acc = DecodeStripMainloop.CombineParts<StripOperands<TScales, TFlavour>, Acc4>(parked, acc, part, strip, part == 0 && n0 < s.N);
        if (part != 0 || n0 >= s.N)
            return;
        Fp8GemmKernel.Store<TOut>(output, acc, m0 + g, n0 + 2 * t, aScale, bScale, bias, s);
    }

    /// <summary>One warp's operands: a's 16-row slice at m0 and b's 8-row strip at n0, e4m3 (m16n8k32, a 64-deep step a
    /// 16-byte chunk), four steps an iteration with b prefetched one iteration ahead; with 128-deep scales
    /// (<see cref="KBlockScales"/>) each two steps' sum is promoted with its block's scales.</summary>
    private readonly struct StripOperands<TScales, TFlavour>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        Fp8GemmShape s, int m0, int n0, int g, int t, long wRow, long top, long bottom) : IStripOperands<StripOperands<TScales, TFlavour>, Acc4>
        where TScales : struct, IFp8ScaleMode
        where TFlavour : struct, IMmaFlavour
    {
        private readonly ArrayView<byte> a = a, b = b;
        private readonly ArrayView<float> aScale = aScale, bScale = bScale;
        private readonly Fp8GemmShape s = s;
        private readonly int m0 = m0, n0 = n0, g = g, t = t;
        private readonly long wRow = wRow, top = top, bottom = bottom;

        public static int KIteration => Fp8GemmDecodeKernel.KIteration;

        public static bool PrefetchesWeights => true;

        public static int Chunk(int k0, int t) => k0 / 16 + t;

        public static StripChunks LoadWeights(in StripOperands<TScales, TFlavour> o, int c) => new()
        {
            C0 = StripMma.Chunk(o.b, o.wRow, c), C1 = StripMma.Chunk(o.b, o.wRow, c + 4),
            C2 = StripMma.Chunk(o.b, o.wRow, c + 8), C3 = StripMma.Chunk(o.b, o.wRow, c + 12),
        };

        public static Acc4 Iteration(in StripOperands<TScales, TFlavour> o, Acc4 acc, in StripChunks w, int c, int k0)
        {
            Vec4U top0 = StripMma.Chunk(o.a, o.top, c), bottom0 = StripMma.Chunk(o.a, o.bottom, c);
            Vec4U top1 = StripMma.Chunk(o.a, o.top, c + 4), bottom1 = StripMma.Chunk(o.a, o.bottom, c + 4);
            Vec4U top2 = StripMma.Chunk(o.a, o.top, c + 8), bottom2 = StripMma.Chunk(o.a, o.bottom, c + 8);
            Vec4U top3 = StripMma.Chunk(o.a, o.top, c + 12), bottom3 = StripMma.Chunk(o.a, o.bottom, c + 12);
            if (TScales.PerKBlock)
            {
                // k0 is a multiple of 256: the first two steps are scale block k0 / 128, the last two the next.
                acc = Promote(acc, StripMma.Mma16Twice<Float8E4M3Element, TFlavour>(default, top0, bottom0, w.C0, top1, bottom1, w.C1), o.aScale, o.bScale, o.m0 + o.g, o.n0, k0 / 128, o.s);
                return Promote(acc, StripMma.Mma16Twice<Float8E4M3Element, TFlavour>(default, top2, bottom2, w.C2, top3, bottom3, w.C3), o.aScale, o.bScale, o.m0 + o.g, o.n0, k0 / 128 + 1, o.s);
            }
            acc = StripMma.Mma16Twice<Float8E4M3Element, TFlavour>(acc, top0, bottom0, w.C0, top1, bottom1, w.C1);
            return StripMma.Mma16Twice<Float8E4M3Element, TFlavour>(acc, top2, bottom2, w.C2, top3, bottom3, w.C3);
        }

        public static Acc4 Tail(in StripOperands<TScales, TFlavour> o, Acc4 acc, int k0)
        {
            bool aligned = o.s.KAligned != 0;
            for (int step = 0; step < KIteration; step += StripMma.KStep) // one 64-wide step at a time, zero-filled
            {
                int k = k0 + step + 16 * o.t;
                Vec4U xTop = MmaTiles.LoadChunk<Float8E4M3Element>(o.a, o.m0 + o.g, k, o.s.M, o.s.K, aligned);
                Vec4U xBottom = MmaTiles.LoadChunk<Float8E4M3Element>(o.a, o.m0 + o.g + 8, k, o.s.M, o.s.K, aligned);
                Vec4U w = MmaTiles.LoadChunk<Float8E4M3Element>(o.b, o.n0 + o.g, k, o.s.N, o.s.K, aligned);
                if (!TScales.PerKBlock)
                    acc = StripMma.Mma16<Float8E4M3Element, TFlavour>(acc, xTop, xBottom, w);
                else if (k0 + step < o.s.K) // a 64-deep step lies in one scale block; steps past K hold zeros only
                    acc = Promote(acc, StripMma.Mma16<Float8E4M3Element, TFlavour>(default, xTop, xBottom, w), o.aScale, o.bScale, o.m0 + o.g, o.n0, (k0 + step) / 128, o.s);
            }
            return acc;
        }

        public static int ParkedFloats => 128;

        public static void Park(ArrayView<float> scratch, int slot, in Acc4 acc) => StripMma.Park(scratch, slot, acc);

        public static Acc4 AddParked(ArrayView<float> scratch, int slot, Acc4 acc) => StripMma.AddParked(scratch, slot, acc);
    }

    /// <summary>acc + partial · a_scale[row, kb] · b_scale[kb, n0 / 128] for rows row (C0, C1) and row + 8 (C2, C3):
    /// a strip's 8 columns lie in one 128-wide block.</summary>
    private static Acc4 Promote(Acc4 acc, Acc4 partial, ArrayView<float> aScale, ArrayView<float> bScale, int row, int n0, int kb, in Fp8GemmShape s)
    {
        float fb = KBlockScale.B(bScale, n0, kb, s);
        return KBlockScale.Promote(acc, partial, KBlockScale.A(aScale, row, kb, s) * fb, KBlockScale.A(aScale, row + 8, kb, s) * fb);
    }

    public static MethodInfo Variant(Type output, bool perKBlock = false, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(Fp8GemmDecodeKernel), nameof(Run), output, Fp8GemmKernel.ScaleMode(perKBlock), PtxMma.Flavour(emulatedMma));

    public static IEnumerable<MethodInfo> AllVariants() =>
        Fp8GemmKernel.OutputElements.SelectMany(output => new[] { Variant(output), Variant(output, perKBlock: true) });
}
