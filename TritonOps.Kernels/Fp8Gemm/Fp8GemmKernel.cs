using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

using TritonOps.Kernels.QuantizeFp8;

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
/// (<c>mma.sync.m16n8k32 … e4m3</c>), written once in the output dtype.
/// Block: 256 threads, a 128 × 64 output tile; warp w covers rows 32·(w/2), cols 32·(w%2)
/// (measured on the H200 at 8192³: a 32 × 64 warp tile used 183 registers, one block per SM, 204–220
/// TFLOP/s; this tile 120 registers, two blocks per SM, 214 TFLOP/s: occupancy is not the limit, the
/// one-tile-ahead pipeline is — see docs/performance.md).
/// K advances 64 codes at a time through two shared-memory stages (tile layout and block order:
/// <see cref="MmaTiles"/>); tails are zero-filled on load and masked on store.
/// </summary>
internal static class Fp8GemmKernel
{
    public const int BlockM = 128, BlockN = 64, BlockK = 64, Threads = 256, GroupM = 16;
    private const int RowWords = MmaTiles.RowWords;
    private const int AStage = BlockM * RowWords, BStage = BlockN * RowWords;

    [GlobalMemoryOnly]
    public static void Run<TOut, TScales>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s)
        where TOut : struct, IElementType
        where TScales : struct, IFp8ScaleMode
    {
        var sA = SharedMemory.Allocate<uint>(2 * AStage);
        var sB = SharedMemory.Allocate<uint>(2 * BStage);
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, BlockN);

        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int g = lane >> 2, t = lane & 3;
        int warpRow = (warp >> 1) * 32, warpCol = (warp & 1) * 32;
        // Warp-uniform: warps whose 32 rows all lie past M skip their mma. For decode (M = 16) the
        // tile's other 6 warps would otherwise spend 3/4 of the tensor-core time on zero rows. (A
        // `break` inside the k16 loop instead stopped ptxas unrolling it: 139 registers, 1 block/SM,
        // 224 → 157 TFLOP/s at M = 8192 on the H200.)
        bool upperLive = m0 + warpRow < s.M;
        int chunkRow = tid >> 2, chunk = tid & 3, chunkK = chunk * 16;
        bool aligned = s.KAligned != 0;

        Vec4U a0 = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + chunkRow, chunkK, s.M, s.K, aligned);
        Vec4U a1 = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + chunkRow + 64, chunkK, s.M, s.K, aligned);
        Vec4U b0 = MmaTiles.LoadChunk<Float8E4M3Element>(b, n0 + chunkRow, chunkK, s.N, s.K, aligned);
        StoreChunks(sA, sB, 0, chunkRow, chunk, a0, a1, b0);
        Group.Barrier();

        // Block scales: the two 64-deep k tiles of each 128-deep block sum into part, added to acc times its scales.
        WarpAcc acc = default, part = default;
        int row = m0 + warpRow + g, col = n0 + warpCol + 2 * t;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            int stage = kt & 1;
            bool more = kt + 1 < s.KTiles;
            if (more)
            {
                int k = (kt + 1) * BlockK + chunkK;
                a0 = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + chunkRow, k, s.M, s.K, aligned);
                a1 = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + chunkRow + 64, k, s.M, s.K, aligned);
                b0 = MmaTiles.LoadChunk<Float8E4M3Element>(b, n0 + chunkRow, k, s.N, s.K, aligned);
            }
            if (upperLive)
            {
                WarpAcc sum = TScales.PerKBlock ? part : acc;
                for (int half = 0; half < 2; half++)
                {
                    int aBase = stage * AStage + MmaTiles.Word(warpRow + g, half * 8 + t);
                    int bBase = stage * BStage + MmaTiles.Word(warpCol + g, half * 8 + t);
                    FragA f0 = MmaTiles.LoadFragA(sA, aBase), f1 = MmaTiles.LoadFragA(sA, aBase + 16 * RowWords);
                    sum = Step(sum, f0, f1, sB, bBase);
                }
                if (TScales.PerKBlock)
                    part = sum;
                else
                    acc = sum;
            }
            if (TScales.PerKBlock && ((kt & 1) == 1 || kt + 1 == s.KTiles))
            {
                int kb = kt >> 1; // BlockK = 64: two k tiles a scale block
                float fb = KBlockScale.B(bScale, col, kb, s);
                acc = KBlockScale.Promote(acc, part,
                    KBlockScale.A(aScale, row, kb, s) * fb, KBlockScale.A(aScale, row + 8, kb, s) * fb,
                    KBlockScale.A(aScale, row + 16, kb, s) * fb, KBlockScale.A(aScale, row + 24, kb, s) * fb);
                part = default;
            }
            if (more)
                StoreChunks(sA, sB, stage ^ 1, chunkRow, chunk, a0, a1, b0);
            Group.Barrier();
        }

        Store<TOut>(output, acc.T00, row, col, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T01, row, col + 8, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T02, row, col + 16, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T03, row, col + 24, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T10, row + 16, col, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T11, row + 16, col + 8, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T12, row + 16, col + 16, aScale, bScale, bias, s);
        Store<TOut>(output, acc.T13, row + 16, col + 24, aScale, bScale, bias, s);
    }

    /// <summary>One k32 step of a warp's 32 × 32 quarter: two A fragments against four B fragments.</summary>
    private static WarpAcc Step(WarpAcc acc, FragA f0, FragA f1, ArrayView<uint> sB, int bBase)
    {
        uint b00 = sB[bBase], b01 = sB[bBase + 4];
        uint b10 = sB[bBase + 8 * RowWords], b11 = sB[bBase + 8 * RowWords + 4];
        uint b20 = sB[bBase + 16 * RowWords], b21 = sB[bBase + 16 * RowWords + 4];
        uint b30 = sB[bBase + 24 * RowWords], b31 = sB[bBase + 24 * RowWords + 4];
        acc.T00 = PtxMma.MmaM16N8K32E4M3(acc.T00, f0, b00, b01);
        acc.T01 = PtxMma.MmaM16N8K32E4M3(acc.T01, f0, b10, b11);
        acc.T02 = PtxMma.MmaM16N8K32E4M3(acc.T02, f0, b20, b21);
        acc.T03 = PtxMma.MmaM16N8K32E4M3(acc.T03, f0, b30, b31);
        acc.T10 = PtxMma.MmaM16N8K32E4M3(acc.T10, f1, b00, b01);
        acc.T11 = PtxMma.MmaM16N8K32E4M3(acc.T11, f1, b10, b11);
        acc.T12 = PtxMma.MmaM16N8K32E4M3(acc.T12, f1, b20, b21);
        acc.T13 = PtxMma.MmaM16N8K32E4M3(acc.T13, f1, b30, b31);
        return acc;
    }

    private static void StoreChunks(ArrayView<uint> sA, ArrayView<uint> sB, int stage, int chunkRow, int chunk,
        Vec4U a0, Vec4U a1, Vec4U b0)
    {
        MmaTiles.StoreChunk(sA, stage * AStage, chunkRow, chunk, a0);
        MmaTiles.StoreChunk(sA, stage * AStage, chunkRow + 64, chunk, a1);
        MmaTiles.StoreChunk(sB, stage * BStage, chunkRow, chunk, b0);
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

    /// <summary>The scale modes: <see cref="EpilogueScales"/>, <see cref="KBlockScales"/>.</summary>
    public static readonly Type[] ScaleModes = [typeof(EpilogueScales), typeof(KBlockScales)];

    public static Type ScaleMode(bool perKBlock) => perKBlock ? typeof(KBlockScales) : typeof(EpilogueScales);

    public static MethodInfo Variant(Type output, bool perKBlock = false) =>
        KernelMethods.Get(typeof(Fp8GemmKernel), nameof(Run), output, ScaleMode(perKBlock));

    public static IEnumerable<MethodInfo> AllVariants() =>
        OutputElements.SelectMany(output => new[] { Variant(output), Variant(output, perKBlock: true) });
}
