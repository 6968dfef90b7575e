using System.Reflection;
using ILGPU;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>Device addresses of the bulk kernel's inputs (16-byte aligned).</summary>
public struct BulkAddresses
{
    public ulong X, Cos, Sin;
}

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRopeKernel"/>) for many 16-bit rows on
/// Hopper's bulk copy engine: each block walks rows b, b + G, … through a ring of
/// <c>stages</c> shared-memory slots, each slot one row of x with its cos and sin rows, landed by
/// three <c>cp.async.bulk</c> copies that thread 0 issues and that complete on the slot's
/// <c>mbarrier</c>. So a block keeps <c>stages − 1</c> whole rows in flight at the cost of a few
/// instructions of one thread, and starts them before it does anything else (the staged kernel's
/// threads issued four 16-byte copies each per row and held one step ahead). The thread layout is
/// the row kernel's (<typeparamref name="TPairs"/>), weights in registers for the whole walk, one
/// block barrier per row: the reduction's, after which every thread is done with the previous row's
/// slot, which thread 0 then refills. Outputs go straight from registers to global memory.
/// On the CPU accelerator the waiting threads copy the row themselves, then meet at a barrier.
/// </summary>
public static class RmsNormRopeBulkKernel
{
    /// <summary>The most slots (their barriers take the first 8 bytes each of the dynamic shared memory).</summary>
    public const int MaxStages = 16;

    /// <summary>Bytes before the first slot: the slots' barriers.</summary>
    public const int BarrierBytes = 8 * MaxStages;

    [GlobalMemoryOnly]
    public static void Run<TAccess, TPairs>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, BulkAddresses addresses, int stages)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs>
    {
        var shared = SharedMemory.GetDynamic<byte>(); // BarrierBytes + stages · SlotBytes(…) at launch
        var scratch = SharedMemory.Allocate<float>(BlockReduce.TwoSumsScratchLength);
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, threads = Group.DimX, grid = Grid.DimX;
        int slotRuns = SlotRuns(shape.RowRuns, shape.HeadRuns);
        bool sharedRope = threads % shape.HalfRuns == 0;

        if (t == 0)
        {
            for (int s = 0; s < stages; s++)
                PtxBulkCopy.InitBarrier(8 * s, 1);
            PtxBulkCopy.FenceInit();
        }
        Group.Barrier();
        if (t == 0)
        {
            for (int s = 0, row = Grid.IdxX; s < stages && row < shape.Rows; s++, row += grid)
                IssueRow(s, row, slotRuns, addresses, shape);
        }
        // Where this thread's pairs sit, and their weights: the same for every row (loaded while the rows land).
        TPairs located = TPairs.LoadRotation<TAccess>(TPairs.Locate(t, threads, shape), weight, cos, sin, 0, t, threads, shape);

        int slot = 0, phase = 0, parity = 0;
        for (int row = Grid.IdxX; row < shape.Rows; row += grid)
        {
            int slotRun = BarrierBytes / 16 + slot * slotRuns;
            Land(runs, slotRun, slot, phase, row, x, cos, sin, t, threads, shape);
            TPairs pairs = TPairs.UnstageRow(runs, slotRun, located, shape);
            var (total, _) = BlockReduce.TwoSums(TPairs.SumOfSquares<TAccess>(pairs), 0f, scratch, parity);
            // Past the reduction's barrier every thread is done with the previous row's slot: refill it.
            int ahead = row + (stages - 1) * grid;
            if (t == 0 && row != Grid.IdxX && ahead < shape.Rows)
                IssueRow(slot == 0 ? stages - 1 : slot - 1, ahead, slotRuns, addresses, shape);
            RmsNormRopeStagedKernel.RotateAndStore<TAccess, TPairs>(pairs, located, runs, slotRun + shape.RowRuns, sharedRope,
                output, (long)row * shape.RowRuns, PtxMath.Rsqrt(total * shape.InvHidden + shape.Eps), shape);
            parity ^= 1;
            if (++slot == stages)
            {
                slot = 0;
                phase ^= 1;
            }
        }
    }

    /// <summary>Thread 0: the slot's barrier expects the row's bytes, and three copies deliver them (x, cos, sin).</summary>
    private static void IssueRow(int slot, int row, int slotRuns, in BulkAddresses addresses, in RmsNormRopeShape shape)
    {
        int slotByte = BarrierBytes + slot * slotRuns * 16, rowBytes = shape.RowRuns * 16, ropeBytes = shape.HeadRuns * 16;
        long position = row % shape.Seq;
        PtxBulkCopy.ArriveExpectingBytes(8 * slot, (uint)(rowBytes + 2 * ropeBytes));
        PtxBulkCopy.Load(slotByte, addresses.X + (ulong)((long)row * rowBytes), (uint)rowBytes, 8 * slot);
        PtxBulkCopy.Load(slotByte + rowBytes, addresses.Cos + (ulong)(position * ropeBytes), (uint)ropeBytes, 8 * slot);
        PtxBulkCopy.Load(slotByte + rowBytes + ropeBytes, addresses.Sin + (ulong)(position * ropeBytes), (uint)ropeBytes, 8 * slot);
    }

    /// <summary>Waits until the row in the slot has landed. On the CPU accelerator, where nothing was
    /// issued, the block copies it here and meets at a barrier.</summary>
    private static void Land(ArrayView<Vec4U> runs, int slotRun, int slot, int phase, int row,
        ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin, int t, int threads, in RmsNormRopeShape shape)
    {
        if (CudaAsm.IsSupported)
        {
            PtxBulkCopy.Wait(8 * slot, phase);
            return;
        }
        long ropeRun = (long)(row % shape.Seq) * shape.HeadRuns;
        for (int r = t; r < shape.RowRuns + 2 * shape.HeadRuns; r += threads)
        {
            runs[slotRun + r] = r < shape.RowRuns ? x.Cast<Vec4U>()[(long)row * shape.RowRuns + r]
                : r < shape.RowRuns + shape.HeadRuns ? cos.Cast<Vec4U>()[ropeRun + r - shape.RowRuns]
                : sin.Cast<Vec4U>()[ropeRun + r - shape.RowRuns - shape.HeadRuns];
        }
        Group.Barrier();
    }

    /// <summary>16-byte runs of one slot: a row of x, then one cos and one sin row.</summary>
    public static int SlotRuns(int rowRuns, int headRuns) => rowRuns + 2 * headRuns;

    /// <summary>Dynamic shared bytes of a launch with <paramref name="stages"/> slots.</summary>
    public static int SharedBytes(int stages, int rowRuns, int headRuns) => BarrierBytes + 16 * stages * SlotRuns(rowRuns, headRuns);

    public static MethodInfo Variant(Type element, int pairsPerThread) =>
        s_variants.TryGetValue((element, pairsPerThread), out var method) ? method
            : s_variants.GetOrAdd((element, pairsPerThread), key => KernelMethods.Get(typeof(RmsNormRopeBulkKernel), nameof(Run),
                typeof(PackedRun<>).MakeGenericType(key.Element),
                RmsNormRopeRowKernel.PairTypes[System.Numerics.BitOperations.Log2((uint)key.PerThread)]));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type Element, int PerThread), MethodInfo> s_variants = new();

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float16Element), typeof(BFloat16Element) })
            for (int perThread = 1; perThread <= RmsNormRopeRowKernel.MaxPairsPerThread; perThread *= 2)
                yield return Variant(element, perThread);
    }
}
