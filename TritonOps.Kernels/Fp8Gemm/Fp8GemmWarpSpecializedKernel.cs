using System.Reflection;
using ILGPU;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

using TritonOps.Kernels.QuantizeFp8;

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
    public static void Run<TOut, TTiles, TScales>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s, ulong aAddress, ulong bAddress, ulong aMap, ulong bMap, int stages)
        where TOut : struct, IElementType
        where TTiles : struct, IFp8ConsumerTiles<TTiles>
        where TScales : struct, IFp8ScaleMode
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(blockM, stages) at launch
        int blockM = TTiles.SplitsN ? 64 : Consumers * 64 * TTiles.Count, rows = blockM + BlockN;
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, rows * BlockK, stages);
        // Blocks walk the tiles grid-stride (one tile a block when the grid is the tile count); the ring's cursors run on
        // across tiles, so the producer loads tile t + 1 while the consumers store tile t.
        int tiles = s.MTiles * s.NTiles;
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
            var at = RingCursor.Producer();
            if (tensorCopies && thread != 0)
                return;
            for (int tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
            {
                var (m0, n0) = MmaTiles.GroupedTile(tile, s.MTiles, s.NTiles, GroupM, blockM, BlockN);
                for (int kt = 0; kt < s.KTiles; kt++)
                {
                    int stage = ring.Stage(at.Slot), barrier = ring.FullBarrier(at.Slot);
                    PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                    if (tensorCopies)
                    {
                        PtxMbarrier.ArriveExpectingBytes(shared, barrier, ring.StageBytes);
                        PtxTensorCopy.Load2D(stage, aMap, kt * BlockK, m0, barrier);
                        PtxTensorCopy.Load2D(stage + blockM * BlockK, bMap, kt * BlockK, n0, barrier);
                    }
                    else
                    {
                        StagedTiles.LoadSwizzled(shared, stage, rows, thread, 128, s.K, (long)kt * BlockK, blockM,
                            a, aAddress, m0, s.M,
                            b, bAddress, n0, s.N);
                        PtxMbarrier.ArriveWhenCopiesLand(shared, barrier);
                    }
                    StageRing.ProducerHandsOff();
                    at.Advance(stages);
                }
            }
            return;
        }

        if (TTiles.Count > 1)
            PtxWgmma.ClaimRegistersTo232();
        int lane = tid & 31;
        // This consumer's rows of a and of b (columns of the output) in the stage.
        int aRows = TTiles.SplitsN ? 0 : warpgroup * 64 * TTiles.Count, bRows = TTiles.SplitsN ? warpgroup * 64 : 0;
        var cursor = RingCursor.Consumer();
        for (int tile = Grid.IdxX; tile < tiles; tile += Grid.DimX)
        {
            var (m0, n0) = MmaTiles.GroupedTile(tile, s.MTiles, s.NTiles, GroupM, blockM, BlockN);
            int row = m0 + aRows + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + bRows + 2 * (lane & 3);
            TTiles acc = default;
            for (int kt = 0; kt < s.KTiles; kt++)
            {
                StageRing.ConsumerBegins();
                PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
                PtxWgmma.FenceProxyAsync(); // copies written through the generic proxy (cp.async), to the tensor cores
                var tileA = StagedTiles.SwizzledOperand(ring.Stage(cursor.Slot), aRows);
                var tileB = StagedTiles.SwizzledOperand(ring.Stage(cursor.Slot), blockM + bRows);
                // A k tile is 128 deep: one block of the scales (KBlockScales), applied as it is added.
                acc = TScales.PerKBlock
                    ? TTiles.MmaScaled(acc, shared, sharedBase, tileA, tileB, aScale, bScale, row, col, kt, s)
                    : TTiles.Mma(acc, shared, sharedBase, tileA, tileB, kt > 0);
                if (lane < StageRing.ReleasesPerWarp)
                    PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
                StageRing.ConsumerEnds();
                cursor.Advance(stages);
            }

            TTiles.Store<TOut>(acc, output, row, col, aScale, bScale, bias, s);
        }
    }

    /// <summary>The instantiation for an output dtype, tile height (<see cref="TileRows"/>) and scale mode.</summary>
    public static MethodInfo Variant(Type output, int blockM, bool perKBlock = false) =>
        KernelMethods.Get(typeof(Fp8GemmWarpSpecializedKernel), nameof(Run), output,
            blockM switch { 64 => typeof(M64N64), 128 => typeof(M64N128), 256 => typeof(M128N128), _ => throw new ArgumentOutOfRangeException(nameof(blockM)) },
            Fp8GemmKernel.ScaleMode(perKBlock));

    public static IEnumerable<MethodInfo> AllVariants() =>
        from output in Fp8GemmKernel.OutputElements
        from blockM in TileRows
        from perKBlock in new[] { false, true }
        select Variant(output, blockM, perKBlock);
}
