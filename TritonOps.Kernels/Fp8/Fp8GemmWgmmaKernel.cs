using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Fp8;

/// <summary>
/// out = (a_q · b_qᵀ) · a_scale · b_scale (+ bias) on Hopper's warpgroup tensor cores
/// (<c>wgmma … e4m3</c>, sm_90a; emulated from shared memory on the CPU accelerator).
/// Block: 256 threads = two warpgroups, a 128 × <c>64·TTiles.Count</c> output tile; warpgroup w owns
/// rows 64w…64w+63 and all columns. K advances 64 codes per stage through a ring of
/// <see cref="StagesFor"/> shared-memory stages filled by <c>cp.async</c> (16-byte copies that bypass
/// registers; tails zero-filled), so the next tiles stream in while the tensor cores work.
/// A stage holds the 128 rows of a, then the rows of b (<see cref="StagedTiles"/>). Needs K a
/// multiple of 16 and 16-byte-aligned operands (the op falls back to <see cref="Fp8GemmKernel"/>).
/// Block order: <see cref="MmaTiles.GroupedTile"/>.
/// </summary>
public static class Fp8GemmWgmmaKernel
{
    public const int BlockM = 128, BlockK = 64, Threads = 256, GroupM = 8;

    /// <summary>Static shared memory is capped at 48 KB; every configuration uses all of it.</summary>
    public const int SharedBytes = 48 * 1024;

    /// <summary>Stages of (128 + blockN) rows × 64 bytes that fit <see cref="SharedBytes"/>: 3 for blockN 128, 2 for 256.</summary>
    public static int StagesFor(int blockN) => SharedBytes / ((BlockM + blockN) * BlockK);

    [GlobalMemoryOnly]
    public static void Run<TOut, TTiles>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s, ulong aAddress, ulong bAddress)
        where TOut : struct, IElementType
        where TTiles : struct, IFp8WarpgroupTiles<TTiles>
    {
        var shared = SharedMemory.Allocate<byte>(SharedBytes); // first allocation: __shared_alloca0
        int blockN = 64 * TTiles.Count, rows = BlockM + blockN, stages = StagesFor(blockN);
        int stageBytes = rows * BlockK;
        var (m0, n0) = MmaTiles.GroupedTile(Grid.IdxX, s.MTiles, s.NTiles, GroupM, BlockM, blockN);
        int tid = Group.IdxX, warpgroup = tid >> 7;

        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < s.KTiles)
                LoadStage(shared, a, b, aAddress, bAddress, stage * stageBytes, stage, m0, n0, rows, s);
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
                LoadStage(shared, a, b, aAddress, bAddress, ahead % stages * stageBytes, ahead, m0, n0, rows, s);
            PtxAsyncCopy.Commit(); // empty groups too, so Wait counts stay aligned

            int slot = kt % stages * stageBytes;
            var tileA = StagedTiles.Operand(slot, rows, warpgroup * 64);
            var tileB = StagedTiles.Operand(slot, rows, BlockM);
            acc = TTiles.Mma(acc, shared, tileA, tileB, 64 * 16, kt > 0);
        }

        int lane = tid & 31;
        int row = m0 + warpgroup * 64 + ((tid >> 5) & 3) * 16 + (lane >> 2), col = n0 + 2 * (lane & 3);
        TTiles.Store<TOut>(acc, output, row, col, aScale, bScale, bias, s);
    }

    private static void LoadStage(ArrayView<byte> shared, ArrayView<byte> a, ArrayView<byte> b, ulong aAddress, ulong bAddress,
        int slot, int kt, int m0, int n0, int rows, in Fp8GemmShape s) =>
        StagedTiles.Load(shared, slot, rows, Threads, s.K, (long)kt * BlockK, BlockM,
            a, aAddress, m0, s.M,
            b, bAddress, n0, s.N);

    /// <summary>Output columns per block: two 64-wide accumulator tiles per warpgroup. (Four, 128 × 256
    /// blocks with two stages and 172 registers, ran at 289 against 315 TFLOP/s at 8192³ on the H200.)</summary>
    public const int BlockN = 128;

    public static MethodInfo Variant(Type output) =>
        KernelMethods.Get(typeof(Fp8GemmWgmmaKernel), nameof(Run), output, typeof(TwoN64<OneN64>));

    public static IEnumerable<MethodInfo> AllVariants() => Fp8GemmKernel.OutputElements.Select(Variant);
}
