using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.GatedMlp;

/// <summary>
/// out = act(x · gateᵀ) ⊙ (x · upᵀ) on Hopper's warpgroup tensor cores (<c>wgmma … f16/bf16</c>,
/// sm_90a; emulated from shared memory on the CPU accelerator), both products from the same x tile,
/// the activation and product in the epilogue. Block: 256 threads = two warpgroups, a 128 ×
/// <c>64·TTiles.Count</c> output tile; warpgroup w owns rows 64w…64w+63 and all its columns, as a gate
/// and an up accumulator per 64 columns. K advances 32 elements (64 bytes) per stage through a ring
/// of <see cref="StagesFor"/> shared-memory stages filled by <c>cp.async</c>; a stage holds 128 rows
/// of x, then the tile's gate rows, then its up rows (<see cref="StagedTiles"/>). Needs hidden a
/// multiple of 8 and 16-byte-aligned operands (the op falls back to <see cref="GatedMlpKernel"/>).
/// </summary>
public static class GatedMlpWgmmaKernel
{
    public const int BlockM = 128, BlockK = 32, Threads = 256, GroupM = 8;
    public const int SharedBytes = 48 * 1024;

    /// <summary>Stages of (128 + 2·blockN) rows × 64 bytes in <see cref="SharedBytes"/>: 3 for blockN 64, 2 for 128.</summary>
    public static int StagesFor(int blockN) => SharedBytes / ((BlockM + 2 * blockN) * StagedTiles.KBytes);

    [GlobalMemoryOnly]
    public static void Run<TElement, TActivation, TTiles>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s,
        ulong xAddress, ulong gateAddress, ulong upAddress)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
        where TTiles : struct, IGatedWarpgroupTiles<TTiles>
    {
        var shared = SharedMemory.Allocate<byte>(SharedBytes); // first allocation: __shared_alloca0
        int blockN = 64 * TTiles.Count, rows = BlockM + 2 * blockN, stages = StagesFor(blockN);
        int stageBytes = rows * StagedTiles.KBytes;
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, blockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;

        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < s.KTiles)
                LoadStage(shared, x, gate, up, xAddress, gateAddress, upAddress, stage * stageBytes, stage, m0, n0, blockN, rows, s);
            PtxAsyncCopy.Commit();
        }

        TTiles acc = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            PtxAsyncCopy.Wait(stages - 2);
            PtxWgmma.FenceProxyAsync();
            Group.Barrier();
            int ahead = kt + stages - 1;
            if (ahead < s.KTiles)
                LoadStage(shared, x, gate, up, xAddress, gateAddress, upAddress, ahead % stages * stageBytes, ahead, m0, n0, blockN, rows, s);
            PtxAsyncCopy.Commit();

            int slot = kt % stages * stageBytes;
            acc = TTiles.Mma<TElement>(acc, shared, StagedTiles.Operand(slot, rows, warpgroup * 64),
                StagedTiles.Operand(slot, rows, BlockM), StagedTiles.Operand(slot, rows, BlockM + blockN), kt > 0);
        }

        int lane = tid & 31;
        int row = m0 + warpgroup * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
        TTiles.Store<TElement, TActivation>(acc, output, row, col, s);
    }

    /// <summary>
    /// <see cref="Run{TElement, TActivation, TTiles}"/> with the tensor cores kept busy across k tiles:
    /// tile kt's products are issued before waiting for tile kt − 1's, and the slot kt − 1 used is
    /// refilled only after a second barrier shows every warpgroup is done reading it.
    /// </summary>
    [GlobalMemoryOnly]
    public static void RunPipelined<TElement, TActivation, TTiles>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s,
        ulong xAddress, ulong gateAddress, ulong upAddress)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
        where TTiles : struct, IGatedWarpgroupTiles<TTiles>
    {
        var shared = SharedMemory.Allocate<byte>(SharedBytes); // first allocation: __shared_alloca0
        int blockN = 64 * TTiles.Count, rows = BlockM + 2 * blockN, stages = StagesFor(blockN);
        int stageBytes = rows * StagedTiles.KBytes;
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, blockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;

        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < s.KTiles)
                LoadStage(shared, x, gate, up, xAddress, gateAddress, upAddress, stage * stageBytes, stage, m0, n0, blockN, rows, s);
            PtxAsyncCopy.Commit();
        }

        TTiles acc = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            PtxAsyncCopy.Wait(stages - 2);
            PtxWgmma.FenceProxyAsync();
            Group.Barrier();
            int slot = kt % stages * stageBytes;
            acc = TTiles.Issue<TElement>(acc, shared, StagedTiles.Operand(slot, rows, warpgroup * 64),
                StagedTiles.Operand(slot, rows, BlockM), StagedTiles.Operand(slot, rows, BlockM + blockN), kt > 0);
            PtxWgmma.Wait(2 * TTiles.Count); // tile kt − 1's groups are done; tile kt's may run on
            Group.Barrier();                  // every warpgroup is done with slot (kt − 1) % stages
            int ahead = kt + stages - 1;
            if (ahead < s.KTiles)
                LoadStage(shared, x, gate, up, xAddress, gateAddress, upAddress, ahead % stages * stageBytes, ahead, m0, n0, blockN, rows, s);
            PtxAsyncCopy.Commit();
        }
        PtxWgmma.Wait(0);

        int lane = tid & 31;
        int row = m0 + warpgroup * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
        TTiles.Store<TElement, TActivation>(acc, output, row, col, s);
    }

    private static void LoadStage(ArrayView<byte> shared, ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up,
        ulong xAddress, ulong gateAddress, ulong upAddress, int slot, int kt, int m0, int n0, int blockN, int rows, in GatedMlpShape s) =>
        StagedTiles.Load(shared, slot, rows, Threads, 2L * s.K, (long)kt * StagedTiles.KBytes,
            x, xAddress, m0, s.M, BlockM,
            gate, gateAddress, n0, s.N, BlockM + blockN,
            up, upAddress, n0, s.N);

    /// <summary>Accumulator sets per output-tile width: 64 columns or 128.</summary>
    public static Type TilesFor(int blockN) => blockN == 128 ? typeof(TwoGatedN64<GatedN64>) : typeof(GatedN64);

    public static readonly int[] BlockNs = [64, 128];

    public static MethodInfo Variant(Type element, Type activation, int blockN, bool pipelined) =>
        KernelMethods.Get(typeof(GatedMlpWgmmaKernel), pipelined ? nameof(RunPipelined) : nameof(Run), element, activation, TilesFor(blockN));

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type activation in GatedMlpKernel.ActivationTypes)
            foreach (int blockN in BlockNs)
                foreach (bool pipelined in new[] { false, true })
                {
                    yield return Variant(typeof(Float16Element), activation, blockN, pipelined);
                    yield return Variant(typeof(BFloat16Element), activation, blockN, pipelined);
                }
    }
}
