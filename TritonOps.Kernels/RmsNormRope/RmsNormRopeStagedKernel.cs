using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRopeKernel"/>) for many rows: the
/// thread layout of <see cref="RmsNormRopeRowKernel"/> (thread i holds pairs i, i + blockDim, …), but
/// each block walks rows b, b + G, … and keeps the next <c>stages − 1</c> rows' x in flight through
/// <c>cp.async</c> into shared memory. The row kernel can only keep in flight what its registers
/// hold (one row per block, a few blocks per SM), which left bf16 at 3.05–3.17 TB/s on the H200;
/// here shared memory holds the rows on their way, so DRAM stays busy through every block's
/// reduction and stores. Each thread reads back only the runs it copied, so a stage needs no
/// barrier; it is refilled after the reduction, when the thread's reads of it have been used.
/// Packed (16-byte) runs only.
/// </summary>
public static class RmsNormRopeStagedKernel
{
    /// <summary>Shared bytes for the stages (static allocations stop at 48 KB).</summary>
    public const int SharedBytes = 32 * 1024;

    /// <summary>The most stages (<c>cp.async.wait_group</c> counts up to 3 pending).</summary>
    public const int MaxStages = 4;

    [GlobalMemoryOnly]
    public static void Run<TAccess, TPairs>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, ulong xAddress, int stages)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs>
    {
        var shared = SharedMemory.Allocate<byte>(SharedBytes); // first allocation: __shared_alloca0
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, threads = Group.DimX, grid = Grid.DimX;
        int stageRuns = 2 * TPairs.Count * threads;

        for (int s = 0; s < stages - 1; s++)
        {
            int ahead = Grid.IdxX + s * grid;
            if (ahead < shape.Rows)
                TPairs.Stage(shared, s * stageRuns * 16, x, xAddress, (long)ahead * shape.RowRuns, 0, t, threads, shape);
            PtxAsyncCopy.Commit();
        }

        int slot = 0;
        for (int row = Grid.IdxX; row < shape.Rows; row += grid)
        {
            // Refill the slot freed last round with the row stages − 1 ahead, then wait for this row.
            int ahead = row + (stages - 1) * grid;
            int refill = slot == 0 ? stages - 1 : slot - 1;
            if (ahead < shape.Rows)
                TPairs.Stage(shared, refill * stageRuns * 16, x, xAddress, (long)ahead * shape.RowRuns, 0, t, threads, shape);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            PtxAsyncCopy.Wait(stages - 1);

            TPairs pairs = TPairs.Unstage(runs, slot * stageRuns, 0, t, threads, shape);
            long rowRun = (long)row * shape.RowRuns;
            int ropeRun = row % shape.Seq * shape.HeadRuns;
            float sumOfSquares = BlockReduce.Sum(TPairs.SumOfSquares<TAccess>(pairs), scratch);
            float rstd = XMath.Rsqrt(sumOfSquares * shape.InvHidden + shape.Eps);
            TPairs.RotateAndStore<TAccess>(pairs, weight, cos, sin, output, rowRun, ropeRun, t, threads, rstd, false, shape);
            slot = slot == stages - 1 ? 0 : slot + 1;
        }
    }

    /// <summary>Stages for rows of <paramref name="pairsPerThread"/> · <paramref name="threads"/> pairs, or 0 when fewer than two fit.</summary>
    public static int Stages(int pairsPerThread, int threads)
    {
        int stages = Math.Min(MaxStages, SharedBytes / (2 * pairsPerThread * threads * 16));
        return stages >= 2 ? stages : 0;
    }

    public static MethodInfo Variant(Type element, int pairsPerThread) =>
        s_variants.TryGetValue((element, pairsPerThread), out var method) ? method
            : s_variants.GetOrAdd((element, pairsPerThread), key => KernelMethods.Get(typeof(RmsNormRopeStagedKernel), nameof(Run),
                typeof(PackedRun<>).MakeGenericType(key.Element),
                RmsNormRopeRowKernel.PairTypes[System.Numerics.BitOperations.Log2((uint)key.PerThread)]));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type Element, int PerThread), MethodInfo> s_variants = new();

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element) })
            for (int perThread = 1; perThread <= RmsNormRopeRowKernel.MaxPairsPerThread; perThread *= 2)
                yield return Variant(element, perThread);
    }
}
