using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Fp8;

/// <summary>
/// out = (a_q · b_qᵀ) · a_scale · b_scale (+ bias) on Hopper's warpgroup tensor cores
/// (<c>wgmma … e4m3</c>, sm_90a; emulated from shared memory on the CPU accelerator).
/// Block: one warpgroup (128 threads) per 64 rows of a <c>BlockM</c> × <c>64·TTiles.Count</c> output tile,
/// BlockM = threads / 2; warpgroup w owns rows 64w…64w+63 and all columns. K advances 128 codes per stage
/// through a ring of <c>stages</c> stages in dynamic shared memory filled by <c>cp.async</c> (16-byte copies
/// that bypass registers; tails zero-filled), so the next tiles stream in while the tensor cores work.
/// A stage holds the BlockM rows of a, then the rows of b (<see cref="StagedTiles"/>). Needs K a
/// multiple of 16 and 16-byte-aligned operands (the op falls back to <see cref="Fp8GemmKernel"/>).
/// Block order: <see cref="MmaTiles.GroupedTile"/>.
/// </summary>
public static class Fp8GemmWgmmaKernel
{
    public const int BlockK = StagedTiles.KBytes, GroupM = 8;

    /// <summary>The most threads a block takes: four warpgroups, 256-row tiles.</summary>
    public const int MaxThreads = 512;

    /// <summary>Dynamic shared bytes of <paramref name="stages"/> stages of (blockM + blockN) rows × <see cref="BlockK"/> bytes.</summary>
    public static int SharedBytes(int blockM, int blockN, int stages) => stages * (blockM + blockN) * BlockK;

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(MaxThreads)]
    public static void Run<TOut, TTiles>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s, ulong aAddress, ulong bAddress, int stages)
        where TOut : struct, IElementType
        where TTiles : struct, IFp8WarpgroupTiles<TTiles>
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(blockM, blockN, stages) at launch
        uint sharedBase = PtxWgmma.DynamicSharedBase();
        int threads = Group.DimX, blockM = threads / 2, blockN = 64 * TTiles.Count, rows = blockM + blockN;
        int stageBytes = rows * BlockK;
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, blockM, blockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;

        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < s.KTiles)
                LoadStage(shared, a, b, aAddress, bAddress, stage * stageBytes, stage, m0, n0, blockM, rows, threads, s);
            PtxAsyncCopy.Commit();
        }

        TTiles acc = default;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            // This thread's copies of tile kt have landed; after the fence and barrier everyone's have,
            // and everyone is done reading the slot the next load overwrites.
            PtxAsyncCopy.Wait(stages - 2);
            PtxWgmma.FenceProxyAsync();
            Group.Barrier();
            int ahead = kt + stages - 1;
            if (ahead < s.KTiles)
                LoadStage(shared, a, b, aAddress, bAddress, ahead % stages * stageBytes, ahead, m0, n0, blockM, rows, threads, s);
            PtxAsyncCopy.Commit(); // empty groups too, so Wait counts stay aligned

            int slot = kt % stages * stageBytes;
            var tileA = StagedTiles.Operand(slot, rows, warpgroup * 64);
            var tileB = StagedTiles.Operand(slot, rows, blockM);
            acc = TTiles.Mma(acc, shared, sharedBase, tileA, tileB, 64 * 16, kt > 0);
        }

        int lane = tid & 31;
        int row = m0 + warpgroup * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
        TTiles.Store<TOut>(acc, output, row, col, aScale, bScale, bias, s);
    }

    private static void LoadStage(ArrayView<byte> shared, ArrayView<byte> a, ArrayView<byte> b, ulong aAddress, ulong bAddress,
        int slot, int kt, int m0, int n0, int blockM, int rows, int threads, in Fp8GemmShape s) =>
        StagedTiles.Load(shared, slot, rows, Group.IdxX, threads, s.K, (long)kt * BlockK, blockM,
            a, aAddress, m0, s.M,
            b, bAddress, n0, s.N);

    /// <summary>Output columns per block: two 64-wide accumulator tiles per warpgroup. (Four, 128 × 256
    /// blocks with two stages and 172 registers, ran at 289 against 315 TFLOP/s at 8192³ on the H200.)</summary>
    public const int BlockN = 128;

    public static MethodInfo Variant(Type output) =>
        KernelMethods.Get(typeof(Fp8GemmWgmmaKernel), nameof(Run), output, typeof(TwoN64<OneN64>));

    public static IEnumerable<MethodInfo> AllVariants() => Fp8GemmKernel.OutputElements.Select(Variant);
}
