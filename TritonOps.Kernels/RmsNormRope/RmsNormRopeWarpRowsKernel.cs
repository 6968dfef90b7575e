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

    [GlobalMemoryOnly]
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedAddresses addresses, int slots)
        where TAccess : struct, IRunAccess
    {
        var shared = SharedMemory.GetDynamic<byte>(); // SharedBytes(…) at launch
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, warp = t >> 5, lane = t & 31, consumers = Group.DimX / 32 - 1, grid = Grid.DimX;
        var ring = new StageRing(PtxWgmma.DynamicSharedBase(), StageBytes(shape), slots);
        int weightRun = ring.End(slots) / 16;
        int blockRows = Grid.IdxX < shape.Rows ? (shape.Rows - 1 - Grid.IdxX) / grid + 1 : 0;

        // The copy engine starts on the first slots before anything else (GPU); the CPU's producer fills them in its rounds.
        int prefilled = 0;
        if (t == 0)
        {
            for (int slot = 0; slot < slots; slot++)
            {
                PtxMbarrier.Init(shared, ring.FullBarrier(slot), 1);
                PtxMbarrier.Init(shared, ring.EmptyBarrier(slot), StageRing.ReleasesPerWarp);
            }
            PtxMbarrier.FenceInit();
            if (!StageRing.Lockstep)
            {
                for (; prefilled < slots && prefilled < blockRows; prefilled++)
                    Issue(shared, ring, prefilled, Grid.IdxX + prefilled * grid, addresses, shape);
            }
        }
        if (warp > 0)
        {
            for (int r = t - 32; r < shape.RowRuns; r += Group.DimX - 32)
            {
                Vec8F w = TAccess.Unpack(TAccess.LoadRaw(weight, r));
                runs[weightRun + 2 * r] = new Vec4U(Bits(w.E0), Bits(w.E1), Bits(w.E2), Bits(w.E3));
                runs[weightRun + 2 * r + 1] = new Vec4U(Bits(w.E4), Bits(w.E5), Bits(w.E6), Bits(w.E7));
            }
        }
        Group.Barrier();

        if (warp == 0)
        {
            if (!StageRing.Lockstep && lane != 0)
                return;
            int first = StageRing.Lockstep ? 0 : slots < blockRows ? slots : blockRows;
            var at = new RingCursor { Slot = first % slots, Parity = 1 ^ ((first / slots) & 1) };
            for (int round = 0; round < blockRows; round += consumers)
            {
                for (int i = round > first ? round : first; i < round + consumers && i < blockRows; i++)
                {
                    PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                    int row = Grid.IdxX + i * grid;
                    if (StageRing.Lockstep)
                        CopyRow(runs, ring.Stage(at.Slot) / 16, lane, row, x, cos, sin, shape, shared, ring.FullBarrier(at.Slot));
                    else
                        Issue(shared, ring, at.Slot, row, addresses, shape);
                    at.Advance(slots);
                }
                StageRing.ProducerHandsOff();
            }
            return;
        }

        int w0 = warp - 1;
        var cursor = new RingCursor { Slot = w0 % slots, Parity = (w0 / slots) & 1 };
        for (int round = 0; round < blockRows; round += consumers)
        {
            StageRing.ConsumerBegins();
            int i = round + w0;
            if (i < blockRows)
            {
                PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
                NormalizeRow<TAccess>(runs, ring.Stage(cursor.Slot) / 16, weightRun, output, Grid.IdxX + i * grid, lane, shape);
                Warp.Barrier();
                if (lane < StageRing.ReleasesPerWarp)
                    PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
            }
            StageRing.ConsumerEnds();
            for (int step = 0; step < consumers; step++)
                cursor.Advance(slots);
        }
    }

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

    /// <summary>Dynamic shared bytes of a launch: the ring, then the weights as float32 (two runs per run of x).</summary>
    public static int SharedBytes(in RmsNormRopeShape s, int slots) => StageRing.SharedBytes(StageBytes(s), slots) + 32 * s.RowRuns;

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
