namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>Sizes of one FP8 GEMM: a [M, K] codes, b stored [N, K] (K-contiguous), out [M, N].</summary>
internal struct Fp8GemmShape
{
    public int M, N, K;
    public int KTiles, MTiles, NTiles;
    /// <summary>K % 16 == 0: rows start on 16-byte boundaries.</summary>
    public int KAligned;
    /// <summary>a's scale: elements between rows (0: one scale for all rows). b's scale: elements between columns
    /// (per column), or, with <see cref="BBlocked"/>, between 128-wide column blocks (0: one for all).</summary>
    public int AScaleStride, BScaleStride;
    public int HasBias;
    /// <summary>1: a's scale is per token and 128-deep group, <c>[M, ceil(K/128)]</c>, elements
    /// <see cref="AScaleKStride"/> apart along K (applied at the promotion, <see cref="KBlockScales"/>).</summary>
    public int AGrouped, AScaleKStride;
    /// <summary>1: b's scale is per 128 × 128 block, <c>[ceil(K/128), ceil(N/128)]</c>, rows
    /// <see cref="BScaleKStride"/> elements apart (applied at the promotion, <see cref="KBlockScales"/>).</summary>
    public int BBlocked, BScaleKStride;
}

/// <summary>
/// out = (a_q · b_qᵀ) · a_scale · b_scale (+ bias), float32 accumulation on FP8 tensor cores
/// (<c>mma.sync.m16n8k32 … e4m3</c>), written once in the output dtype: the FP8 operands of
/// <see cref="RegisterStagedMainloop"/> (GPUs before Hopper, and K not a multiple of 16).
/// Block: 256 threads, a 128 × 64 output tile; warp w covers rows 32·(w/2), cols 32·(w%2) (a 32 × 64 warp tile at one
/// block an SM ran 204–220 against this one's 214 TFLOP/s, H200 8192³: the one-tile-ahead pipeline is the limit).
/// K advances 64 codes a tile; tails are zero-filled on load and masked on store.
/// </summary>
internal static class Fp8GemmKernel
{
    public const int BlockM = 128, BlockN = 64, BlockK = 64, Threads = RegisterStagedMainloop.Threads, GroupM = 16;
    private const int RowWords = MmaTiles.RowWords;
    private const int AStage = BlockM * RowWords, BStage = BlockN * RowWords;

    [GlobalMemoryOnly]
    public static void Run<TOut, TScales, TFlavour>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s)
        where TOut : struct, IElementType
        where TScales : struct, IFp8ScaleMode
        where TFlavour : struct, IMmaFlavour
    {
        var shared = SharedMemory.Allocate<uint>(2 * (AStage + BStage));
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, BlockN);
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        int row = m0 + warpRow + (lane >> 2), col = n0 + warpCol + 2 * (lane & 3);
        var operands = new Fp8Operands<TScales, TFlavour>(a, b, aScale, bScale, s, m0, n0, new StagedLanes(tid), row, col, upperLive: m0 + warpRow < s.M);
        WarpAcc acc = RegisterStagedMainloop.Run<Fp8Operands<TScales, TFlavour>, PromotedWarpAcc>(operands, shared, s.KTiles).Acc;

        Store<TOut>(output, acc.T00, row, col, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T01, row, col + 8, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T02, row, col + 16, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T03, row, col + 24, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T10, row + 16, col, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T11, row + 16, col + 8, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T12, row + 16, col + 16, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T13, row + 16, col + 24, aScale, bScale, bias, s);
    }

    /// <summary>A warp's float32 sums and, with 128-deep scales (<see cref="KBlockScales"/>), the current block's partial:
    /// the two 64-deep k tiles of each block sum into Part, which is added into Acc times its scales.</summary>
    private struct PromotedWarpAcc
    {
        public WarpAcc Acc, Part;
    }

    /// <summary>a's 128 rows from m0 and b's 64 from n0 (codes, K-contiguous), each k tile 64 deep.</summary>
    private readonly struct Fp8Operands<TScales, TFlavour>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        in Fp8GemmShape s, int m0, int n0, StagedLanes at, int row, int col, bool upperLive) : IStagedOperands<Fp8Operands<TScales, TFlavour>, PromotedWarpAcc>
        where TScales : struct, IFp8ScaleMode
        where TFlavour : struct, IMmaFlavour
    {
        private readonly ArrayView<byte> a = a, b = b;
        private readonly ArrayView<float> aScale = aScale, bScale = bScale;
        private readonly Fp8GemmShape s = s;
        private readonly int m0 = m0, n0 = n0, row = row, col = col;
        private readonly StagedLanes at = at;
        // Warp-uniform: warps whose 32 rows all lie past M skip their mma. For decode (M = 16) the
        // tile's other 6 warps would otherwise spend 3/4 of the tensor-core time on zero rows. (Not a
        // `break` in the k32 loop: ptxas stopped unrolling it, 224 → 157 TFLOP/s at M = 8192, H200.)
        private readonly bool upperLive = upperLive;

        public static StagedChunks Load(in Fp8Operands<TScales, TFlavour> o, int kt)
        {
            int k = kt * BlockK + o.at.Chunk * 16, row = o.at.ChunkRow;
            bool aligned = o.s.KAligned != 0;
            return new StagedChunks
            {
                A0 = MmaTiles.LoadChunk<Float8E4M3Element>(o.a, o.m0 + row, k, o.s.M, o.s.K, aligned),
                A1 = MmaTiles.LoadChunk<Float8E4M3Element>(o.a, o.m0 + row + 64, k, o.s.M, o.s.K, aligned),
                B0 = MmaTiles.LoadChunk<Float8E4M3Element>(o.b, o.n0 + row, k, o.s.N, o.s.K, aligned),
            };
        }

        public static void Store(in Fp8Operands<TScales, TFlavour> o, ArrayView<uint> shared, int stage, in StagedChunks c)
        {
            MmaTiles.StoreChunk(shared, stage * AStage, o.at.ChunkRow, o.at.Chunk, c.A0);
            MmaTiles.StoreChunk(shared, stage * AStage, o.at.ChunkRow + 64, o.at.Chunk, c.A1);
            MmaTiles.StoreChunk(shared, 2 * AStage + stage * BStage, o.at.ChunkRow, o.at.Chunk, c.B0);
        }

        public static PromotedWarpAcc Mma(in Fp8Operands<TScales, TFlavour> o, PromotedWarpAcc acc, ArrayView<uint> shared, int stage, int kt)
        {
            if (o.upperLive)
            {
                WarpAcc sum = TScales.PerKBlock ? acc.Part : acc.Acc;
                for (int half = 0; half < 2; half++)
                {
                    int aBase = stage * AStage + MmaTiles.Word(o.at.ARow, half * 8 + o.at.KWord);
                    int bBase = 2 * AStage + stage * BStage + MmaTiles.Word(o.at.BRow, half * 8 + o.at.KWord);
                    FragA f0 = MmaTiles.LoadFragA(shared, aBase), f1 = MmaTiles.LoadFragA(shared, aBase + 16 * RowWords);
                    sum = MmaTiles.WarpStep<Float8E4M3Element, TFlavour>(sum, f0, f1, shared, bBase);
                }
                if (TScales.PerKBlock)
                    acc.Part = sum;
                else
                    acc.Acc = sum;
            }
            if (TScales.PerKBlock) // its own if: ILGPU folds a trait constant only there, not inside an && chain
            {
                if ((kt & 1) == 1 || kt + 1 == o.s.KTiles)
                {
                    int kb = kt >> 1; // BlockK = 64: two k tiles a scale block
                    float fb = KBlockScale.B(o.bScale, o.col, kb, o.s);
                    acc.Acc = KBlockScale.Promote(acc.Acc, acc.Part,
                        KBlockScale.A(o.aScale, o.row, kb, o.s) * fb, KBlockScale.A(o.aScale, o.row + 8, kb, o.s) * fb,
                        KBlockScale.A(o.aScale, o.row + 16, kb, o.s) * fb, KBlockScale.A(o.aScale, o.row + 24, kb, o.s) * fb);
                    acc.Part = default;
                }
            }
            return acc;
        }
    }

    internal static void Store<TOut>(ArrayView<byte> output, Acc4 acc, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        if (col >= s.N)
            return;
        bool second = col + 1 < s.N;
        // Scales that vary along K were applied at the promotion (KBlockScales): 1 here.
        float b0 = s.BBlocked != 0 ? 1f : bScale[col * s.BScaleStride], b1 = s.BBlocked != 0 ? 1f : second ? bScale[(col + 1) * s.BScaleStride] : 0f;
        float bias0 = s.HasBias != 0 ? bias[col] : 0f, bias1 = s.HasBias != 0 && second ? bias[col + 1] : 0f;
        if (row < s.M)
        {
            float sa = s.AGrouped != 0 ? 1f : aScale[row * s.AScaleStride];
            long at = (long)row * s.N + col;
            TOut.StoreBits(output, at, TOut.Narrow(acc.C0 * sa * b0 + bias0));
            if (second)
                TOut.StoreBits(output, at + 1, TOut.Narrow(acc.C1 * sa * b1 + bias1));
        }
        if (row + 8 < s.M)
        {
            float sa = s.AGrouped != 0 ? 1f : aScale[(row + 8) * s.AScaleStride];
            long at = (long)(row + 8) * s.N + col;
            TOut.StoreBits(output, at, TOut.Narrow(acc.C2 * sa * b0 + bias0));
            if (second)
                TOut.StoreBits(output, at + 1, TOut.Narrow(acc.C3 * sa * b1 + bias1));
        }
    }

    public static readonly Type[] OutputElements = [typeof(Float16Element), typeof(BFloat16Element), typeof(Float32Element)];

    public static Type ScaleMode(bool perKBlock) => perKBlock ? typeof(KBlockScales) : typeof(EpilogueScales);

    public static MethodInfo Variant(Type output, bool perKBlock = false, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(Fp8GemmKernel), nameof(Run), output, ScaleMode(perKBlock), PtxMma.Flavour(emulatedMma));

    public static IEnumerable<MethodInfo> AllVariants() =>
        OutputElements.SelectMany(output => new[] { Variant(output), Variant(output, perKBlock: true) });
}
