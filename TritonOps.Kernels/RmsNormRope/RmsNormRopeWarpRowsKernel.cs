using System.Reflection;
using ILGPU;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRopeKernel"/>) for many 16-bit rows, a whole
/// row per warp. Block b walks rows b, b + G, … through a <see cref="StageRing"/> of slots, each one row of x
/// with its cos and sin rows: one producer thread has the copy engine fill a slot (three <c>cp.async.bulk</c>
/// copies on the slot's full barrier) as soon as its last reader releases it, and consumer warp w takes the
/// block's rows w, w + C, …: it waits for its slot, sums the squares of the row (a warp butterfly, no block
/// barrier), releases nothing until it has read the row a second time to normalize, weight, rotate and store
/// it straight from registers. So no warp waits for another, the copies never wait for arithmetic, and up to
/// <c>slots</c> rows per block are in flight. The staged kernel's blocks shared one reduction barrier per
/// step and refilled a stage only after it, so a block's loads stopped while it reduced.
/// Lane l holds pairs l, l + 32, … of the row (pair p: run p % H of head p / H and the matching run of the
/// head's second half, H = half-head runs); with H dividing 32 every pair of a lane sits at the same place of
/// its head, so its cos and sin runs are read once per row, scaled by the row's rstd, and its columns step by 64
/// runs. Weights are unpacked once per block into shared memory as float32.
/// On the CPU accelerator the producer warp copies the rows itself and the ring runs in lockstep, C rows a round.
/// </summary>
public static class RmsNormRopeWarpRowsKernel
{
    /// <summary>Consumer warps a block by default: enough rows in arithmetic at once that the ring drains as fast as it lands.</summary>
    public const int DefaultConsumers = 8;

    /// <summary>Rows a producer takes from the shared counter at a time in the dynamic tail.</summary>
    public const int TailChunk = 2;

    /// <summary>
    /// <paramref name="staticRows"/>: rows each block takes by stride (block b: b, b + G, …) before the tail; the
    /// rest (from staticRows · G) go to whichever producer asks first, <see cref="TailChunk"/> at a time, through the
    /// counter at <paramref name="counters"/> (two zeroed words, which the last block to finish zeroes again), so
    /// blocks whose rows landed sooner take more and all end within a row or two of each other.
    /// </summary>
    [GlobalMemoryOnly]
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedAddresses addresses, int slots, int staticRows, ulong counters)
        where TAccess : struct, IRunAccess
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(…) at launch
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, warp = t >> 5, lane = t & 31, consumers = Group.DimX / 32 - 1;
        var ring = new StageRing(PtxWgmma.DynamicSharedBase(), StageBytes(shape), slots);
        int rowOf = ring.End(slots), weightRun = (rowOf + RowIndexBytes(slots)) / 16;
        if (t == 0)
        {
            for (int slot = 0; slot < slots; slot++)
            {
                PtxMbarrier.Init(shared, ring.FullBarrier(slot), 1);
                PtxMbarrier.Init(shared, ring.EmptyBarrier(slot), StageRing.ReleasesPerWarp);
            }
            PtxMbarrier.FenceInit();
        }
        if (StageRing.Lockstep)
        {
            UnpackWeights<TAccess>(runs, weightRun, weight, t, Group.DimX, shape);
            Group.Barrier();
            RunLockstep<TAccess>(shared, runs, ring, weightRun, warp, lane, consumers, slots, x, cos, sin, output, shape);
            return;
        }
        Group.Barrier(); // the barriers are initialized

        if (warp == 0)
        {
            if (lane == 0)
                Produce(shared, ring, rowOf, slots, consumers, staticRows, counters, addresses, shape);
            return;
        }
        // The producer is already filling slots while the consumers unpack the weights.
        UnpackWeights<TAccess>(runs, weightRun, weight, t - 32, Group.DimX - 32, shape);
        CudaAsm.Emit("bar.sync 1, %0;", (uint)(Group.DimX - 32));
        var cursor = new RingCursor { Slot = (warp - 1) % slots, Parity = ((warp - 1) / slots) & 1 };
        var rowIndex = shared.Cast<int>();
        while (true)
        {
            PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
            int row = rowIndex[rowOf / 4 + cursor.Slot];
            if (row < 0)
                return;
            NormalizeRow<TAccess>(runs, ring.Stage(cursor.Slot) / 16, weightRun, output, row, lane, shape);
            Warp.Barrier();
            if (lane == 0)
                PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
            for (int step = 0; step < consumers; step++)
                cursor.Advance(slots);
        }
    }

    /// <summary>The producer thread (GPU): the block's strided rows, then tail rows from the counter, then one
    /// stop mark (row −1, no bytes) per consumer warp; the last block to finish zeroes the counters.</summary>
    private static void Produce(ArrayView<byte> shared, in StageRing ring, int rowOf, int slots, int consumers, int staticRows, ulong counters,
        in StagedAddresses addresses, in RmsNormRopeShape s)
    {
        var rowIndex = shared.Cast<int>();
        int grid = Grid.DimX, tailFirst = staticRows * grid, tailRows = s.Rows - tailFirst;
        // Asked long before it is needed, so the answer's round trip hides behind the strided rows.
        int next = tailRows > 0 ? AtomicAdd(counters, TailChunk) : tailRows;
        var at = RingCursor.Producer();
        for (int i = 0; i < staticRows; i++)
        {
            PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
            int row = Grid.IdxX + i * grid;
            rowIndex[rowOf / 4 + at.Slot] = row;
            Issue(shared, ring, at.Slot, row, addresses, s);
            at.Advance(slots);
        }
        while (next < tailRows)
        {
            int chunk = next;
            next = AtomicAdd(counters, TailChunk);
            for (int j = chunk; j < chunk + TailChunk && j < tailRows; j++)
            {
                PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                rowIndex[rowOf / 4 + at.Slot] = tailFirst + j;
                Issue(shared, ring, at.Slot, tailFirst + j, addresses, s);
                at.Advance(slots);
            }
        }
        for (int w = 0; w < consumers; w++)
        {
            PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
            rowIndex[rowOf / 4 + at.Slot] = -1;
            PtxMbarrier.Arrive(shared, ring.FullBarrier(at.Slot));
            at.Advance(slots);
        }
        if (tailRows > 0 && AtomicAdd(counters + 4, 1) == grid - 1)
        {
            AtomicExchange(counters, 0);
            AtomicExchange(counters + 4, 0);
        }
    }

    /// <summary>The CPU accelerator: strided rows only, C a round; the producer warp copies them, every warp meets twice a round.</summary>
    private static void RunLockstep<TAccess>(ArrayView<byte> shared, ArrayView<Vec4U> runs, in StageRing ring, int weightRun, int warp, int lane,
        int consumers, int slots, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> output, in RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        int grid = Grid.DimX, blockRows = Grid.IdxX < shape.Rows ? (shape.Rows - 1 - Grid.IdxX) / grid + 1 : 0;
        if (warp == 0)
        {
            var at = RingCursor.Producer();
            for (int round = 0; round < blockRows; round += consumers)
            {
                for (int i = round; i < round + consumers && i < blockRows; i++)
                {
                    PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                    CopyRow(runs, ring.Stage(at.Slot) / 16, lane, Grid.IdxX + i * grid, x, cos, sin, shape, shared, ring.FullBarrier(at.Slot));
                    at.Advance(slots);
                }
                StageRing.ProducerHandsOff();
            }
            return;
        }
        var cursor = new RingCursor { Slot = (warp - 1) % slots, Parity = ((warp - 1) / slots) & 1 };
        for (int round = 0; round < blockRows; round += consumers)
        {
            StageRing.ConsumerBegins();
            int i = round + warp - 1;
            if (i < blockRows)
            {
                PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
                NormalizeRow<TAccess>(runs, ring.Stage(cursor.Slot) / 16, weightRun, output, Grid.IdxX + i * grid, lane, shape);
                PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
            }
            StageRing.ConsumerEnds();
            for (int step = 0; step < consumers; step++)
                cursor.Advance(slots);
        }
    }

    /// <summary>The weights as float32 into shared memory, two runs per run of the row.</summary>
    private static void UnpackWeights<TAccess>(ArrayView<Vec4U> runs, int weightRun, ArrayView<byte> weight, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        for (int r = first; r < s.RowRuns; r += step)
        {
            Vec8F w = TAccess.Unpack(TAccess.LoadRaw(weight, r));
            runs[weightRun + 2 * r] = new Vec4U(Bits(w.E0), Bits(w.E1), Bits(w.E2), Bits(w.E3));
            runs[weightRun + 2 * r + 1] = new Vec4U(Bits(w.E4), Bits(w.E5), Bits(w.E6), Bits(w.E7));
        }
    }

    private static int AtomicAdd(ulong address, int value)
    {
        CudaAsm.Emit("atom.global.add.u32 %0, [%1], %2;", out uint old, address, (uint)value);
        return (int)old;
    }

    private static void AtomicExchange(ulong address, int value) =>
        CudaAsm.Emit("{ .reg .b32 old; atom.global.exch.b32 old, [%0], %1; }", address, (uint)value);

    /// <summary>Bytes of the slots' row numbers (16-byte aligned).</summary>
    private static int RowIndexBytes(int slots) => (4 * slots + 15) / 16 * 16;

    /// <summary>One warp's row: the sum of squares from the slot, then a second pass over the slot that
    /// normalizes, weights, rotates and stores. cos and sin come scaled by rstd, so a pair costs two products a half.</summary>
    private static void NormalizeRow<TAccess>(ArrayView<Vec4U> runs, int stage, int weightRun, ArrayView<byte> output, int row, int lane,
        in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        int h = s.HalfRuns, laneColumn = lane / h * s.HeadRuns + lane % h;
        float sum = 0f;
        for (int p = lane, c = laneColumn; p < s.Pairs; p += 32, c += 64)
            sum += TAccess.Unpack(runs[stage + c]).SumOfSquares() + TAccess.Unpack(runs[stage + c + h]).SumOfSquares();
        float rstd = PtxMath.Rsqrt(BlockReduce.WarpSum(sum) * s.InvHidden + s.Eps);

        int rope = stage + s.RowRuns + lane % h;
        Vec8F cosA = TAccess.Unpack(runs[rope]).Scaled(rstd), cosB = TAccess.Unpack(runs[rope + h]).Scaled(rstd);
        Vec8F sinA = TAccess.Unpack(runs[rope + s.HeadRuns]).Scaled(rstd), sinB = TAccess.Unpack(runs[rope + s.HeadRuns + h]).Scaled(rstd);
        long rowRun = (long)row * s.RowRuns;
        for (int p = lane, c = laneColumn; p < s.Pairs; p += 32, c += 64)
        {
            Vec8F a = TAccess.Unpack(runs[stage + c]).Times(Weights(runs, weightRun, c));
            Vec8F b = TAccess.Unpack(runs[stage + c + h]).Times(Weights(runs, weightRun, c + h));
            TAccess.Store(output, rowRun + c, Vec8F.MulAddMul(a, cosA, -1f, b, sinA));
            TAccess.Store(output, rowRun + c + h, Vec8F.MulAddMul(b, cosB, 1f, a, sinB));
        }
    }

    private static Vec8F Weights(ArrayView<Vec4U> runs, int weightRun, int column)
    {
        Vec4U lo = runs[weightRun + 2 * column], hi = runs[weightRun + 2 * column + 1];
        return new Vec8F
        {
            E0 = Interop.IntAsFloat(lo.X), E1 = Interop.IntAsFloat(lo.Y), E2 = Interop.IntAsFloat(lo.Z), E3 = Interop.IntAsFloat(lo.W),
            E4 = Interop.IntAsFloat(hi.X), E5 = Interop.IntAsFloat(hi.Y), E6 = Interop.IntAsFloat(hi.Z), E7 = Interop.IntAsFloat(hi.W),
        };
    }

    private static uint Bits(float value) => Interop.FloatAsInt(value);

    /// <summary>Producer thread (GPU): the slot's full barrier expects the row's bytes, and three bulk copies deliver them.</summary>
    private static void Issue(ArrayView<byte> shared, in StageRing ring, int slot, int row, in StagedAddresses addresses, in RmsNormRopeShape s)
    {
        int stage = ring.Stage(slot), barrier = ring.FullBarrier(slot), rowBytes = 16 * s.RowRuns, ropeBytes = 16 * s.HeadRuns;
        long position = row % s.Seq;
        PtxMbarrier.ArriveExpectingBytes(shared, barrier, rowBytes + 2 * ropeBytes);
        PtxTensorCopy.LoadBytes(stage, addresses.X + (ulong)((long)row * rowBytes), rowBytes, barrier);
        PtxTensorCopy.LoadBytes(stage + rowBytes, addresses.Cos + (ulong)(position * ropeBytes), ropeBytes, barrier);
        PtxTensorCopy.LoadBytes(stage + rowBytes + ropeBytes, addresses.Sin + (ulong)(position * ropeBytes), ropeBytes, barrier);
    }

    /// <summary>Producer warp (CPU accelerator): copies the row and its rope rows into the slot, then lane 0 arrives.</summary>
    private static void CopyRow(ArrayView<Vec4U> runs, int stage, int lane, int row, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin,
        in RmsNormRopeShape s, ArrayView<byte> shared, int barrier)
    {
        long ropeRun = (long)(row % s.Seq) * s.HeadRuns;
        for (int r = lane; r < s.RowRuns + 2 * s.HeadRuns; r += 32)
        {
            runs[stage + r] = r < s.RowRuns ? x.Cast<Vec4U>()[(long)row * s.RowRuns + r]
                : r < s.RowRuns + s.HeadRuns ? cos.Cast<Vec4U>()[ropeRun + r - s.RowRuns]
                : sin.Cast<Vec4U>()[ropeRun + r - s.RowRuns - s.HeadRuns];
        }
        if (lane == 0)
            PtxMbarrier.Arrive(shared, barrier);
    }

    /// <summary>Bytes of one slot: a row of x, then one cos and one sin row.</summary>
    public static int StageBytes(in RmsNormRopeShape s) => 16 * (s.RowRuns + 2 * s.HeadRuns);

    /// <summary>Dynamic shared bytes of a launch: the ring, the slots' row numbers, then the weights as float32 (two runs per run of x).</summary>
    public static int SharedBytes(in RmsNormRopeShape s, int slots) => StageRing.SharedBytes(StageBytes(s), slots) + RowIndexBytes(slots) + 32 * s.RowRuns;

    /// <summary>Whether the kernel takes rows of this shape: packed 16-bit runs with a half-head that divides the warp.</summary>
    public static bool Takes(in RmsNormRopeShape s) => s.HalfRuns <= 32 && 32 % s.HalfRuns == 0;

    public static MethodInfo Variant(Type element) =>
        s_variants.GetOrAdd(element, key => KernelMethods.Get(typeof(RmsNormRopeWarpRowsKernel), nameof(Run), typeof(PackedRun<>).MakeGenericType(key)));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, MethodInfo> s_variants = new();

    public static IEnumerable<MethodInfo> AllVariants()
    {
        yield return Variant(typeof(Float16Element));
        yield return Variant(typeof(BFloat16Element));
    }
}
