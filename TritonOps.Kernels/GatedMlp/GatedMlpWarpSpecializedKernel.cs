using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.GatedMlp;

/// <summary>
/// out = act(x · gateᵀ) ⊙ (x · upᵀ) on Hopper's warpgroup tensor cores, with the structure of
/// <see cref="Fp8.Fp8GemmWarpSpecializedKernel"/>: a producer fills a ring of 128-byte-swizzled stages
/// (on the GPU one thread driving the copy engine through three tensor maps; with no maps, the CPU
/// accelerator, the producer warpgroup copying with <c>cp.async</c>), each stage holding 64 elements of K
/// of the tile's 128 rows of x, then 128 rows of gate, then 128 rows of up; two consumer warpgroups wait
/// on the stage's full <see cref="PtxMbarrier"/>, each adds its 64 rows' gate and up products (m64n128
/// <c>wgmma</c>, float32 accumulation in place) and releases the stage. Block tile: 128 × 128 outputs; the
/// activation and product in the epilogue, rounded once. Needs K a multiple of 8 (16-byte rows) and
/// 16-byte-aligned operands. Block order: <see cref="MmaTiles.GroupedTile"/>.
/// </summary>
public static class GatedMlpWarpSpecializedKernel
{
    public const int BlockM = 128, BlockN = 128, Consumers = 2, GroupM = 8;

    /// <summary>Bytes of K a row per stage (64 16-bit elements).</summary>
    public const int BlockKBytes = StagedTiles.KBytes;

    /// <summary>Consumer warpgroups, then the producer.</summary>
    public const int Threads = 128 * (Consumers + 1);

    private const int StageRows = BlockM + 2 * BlockN;

    /// <summary>Dynamic shared bytes of the ring (<see cref="StageRing"/>).</summary>
    public static int SharedBytes(int stages) => StageRing.SharedBytes(StageRows * BlockKBytes, stages);

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    public static void Run<TElement, TActivation>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output,
        GatedMlpShape s, GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int stages)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(stages) at launch
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        var ring = new StageRing(sharedBase, StageRows * BlockKBytes, stages);
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, BlockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;
        long rowBytes = 2L * s.K;
        // As in the FP8 kernel: one arrival (plus the bytes) a stage from the copy engine, or one per copying thread.
        bool tensorCopies = xMap != 0;
        ring.Init(shared, stages, tensorCopies ? 1 : 128, Consumers * 4);

        if (warpgroup == Consumers)
        {
            PtxWgmma.ReleaseRegistersTo40();
            int thread = tid - 128 * Consumers;
            var at = RingCursor.Producer();
            if (tensorCopies && thread != 0)
                return;
            for (int kt = 0; kt < s.KTiles; kt++)
            {
                int stage = ring.Stage(at.Slot), barrier = ring.FullBarrier(at.Slot);
                PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                if (tensorCopies)
                {
                    PtxMbarrier.ArriveExpectingBytes(shared, barrier, ring.StageBytes);
                    PtxTensorCopy.Load2D(stage, xMap, kt * BlockKBytes, m0, barrier);
                    PtxTensorCopy.Load2D(stage + BlockM * BlockKBytes, gateMap, kt * BlockKBytes, n0, barrier);
                    PtxTensorCopy.Load2D(stage + (BlockM + BlockN) * BlockKBytes, upMap, kt * BlockKBytes, n0, barrier);
                }
                else
                {
                    long kByte = (long)kt * BlockKBytes;
                    StagedTiles.LoadSwizzled(shared, stage, BlockM, thread, 128, rowBytes, kByte, BlockM,
                        x, addresses.X, m0, s.M, x, addresses.X, m0, s.M);
                    StagedTiles.LoadSwizzled(shared, stage + BlockM * BlockKBytes, 2 * BlockN, thread, 128, rowBytes, kByte, BlockN,
                        gate, addresses.Gate, n0, s.N, up, addresses.Up, n0, s.N);
                    PtxMbarrier.ArriveWhenCopiesLand(shared, barrier);
                }
                StageRing.ProducerHandsOff();
                at.Advance(stages);
            }
            return;
        }

        PtxWgmma.ClaimRegistersTo232();
        int lane = tid & 31;
        var cursor = RingCursor.Consumer();
        WarpgroupAccN128 accG = default, accU = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            StageRing.ConsumerBegins();
            PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
            PtxWgmma.FenceProxyAsync(); // copies written through the generic proxy (cp.async), to the tensor cores
            int stage = ring.Stage(cursor.Slot);
            var tileX = StagedTiles.SwizzledOperand(stage, warpgroup * 64);
            accG = PtxWgmma.M64N128K64x16Bit<TElement>(accG, shared, tileX, StagedTiles.SwizzledOperand(stage, BlockM), sharedBase);
            accU = PtxWgmma.M64N128K64x16Bit<TElement>(accU, shared, tileX, StagedTiles.SwizzledOperand(stage, BlockM + BlockN), sharedBase);
            if (lane < StageRing.ReleasesPerWarp)
                PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
            StageRing.ConsumerEnds();
            cursor.Advance(stages);
        }

        int row = m0 + warpgroup * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
        Store<TElement, TActivation>(output, accG.Left, accU.Left, row, col, s);
        Store<TElement, TActivation>(output, accG.Right, accU.Right, row, col + 64, s);
    }

    private static void Store<TElement, TActivation>(ArrayView<byte> output, in WarpgroupAcc gate, in WarpgroupAcc up, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N0, up.N0, row, col, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N1, up.N1, row, col + 8, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N2, up.N2, row, col + 16, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N3, up.N3, row, col + 24, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N4, up.N4, row, col + 32, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N5, up.N5, row, col + 40, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N6, up.N6, row, col + 48, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, gate.N7, up.N7, row, col + 56, s);
    }

    public static MethodInfo Variant(Type element, Type activation) =>
        KernelMethods.Get(typeof(GatedMlpWarpSpecializedKernel), nameof(Run), element, activation);

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in new[] { typeof(Float16Element), typeof(BFloat16Element) }
        from activation in GatedMlpKernel.ActivationTypes
        select Variant(element, activation);
}
