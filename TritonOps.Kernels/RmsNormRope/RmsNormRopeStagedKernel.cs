using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>Device addresses of the staged kernel's inputs, for its <c>cp.async</c> copies (16-byte aligned).</summary>
internal struct StagedAddresses
{
    public ulong X, Cos, Sin;
}

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRopeKernel"/>) for many rows: the
/// thread layout of <see cref="RmsNormRopeRowKernel"/> (thread i holds pairs i, i + blockDim, …), but
/// each block walks steps b, b + G, … of one or two rows (<c>TRows</c>) and keeps the
/// next <c>stages − 1</c> steps in flight through <c>cp.async</c> into shared memory: each row's x and
/// its cos and sin rows. The weights sit in registers for the whole walk, so after the wait for a
/// step a block touches nothing off the SM but its stores. The row kernel could only keep in flight
/// what its registers held, and its weight, cos and sin loads came from L2 after the reduction.
/// Each thread reads back only the x runs it copied; the rope runs are read by every thread, so the
/// barrier inside the step's reduction publishes them, and a slot is refilled only after the next
/// step's barrier (when every thread has finished reading it). When all of a thread's pairs sit at
/// the same position of their heads (thread count a multiple of the half-head) and it holds at most
/// two, a row's cos and sin runs are read and unpacked once for all its pairs. Packed (16-byte) runs only.
/// Measured on the H200 (bf16, GPU time): [4, 2048, 4096] 3.0 → 3.33 TB/s, [8, 2048, 4096] 3.6,
/// [1, 8192, 8192] 3.1 → 3.65–3.68 TB/s against the row kernel; see docs/performance.md for what was tried.
/// </summary>
internal static class RmsNormRopeStagedKernel
{
    /// <summary>The most shared bytes for the stages (dynamic shared memory, sized per launch): two steps of
    /// two 8 KB rows with their cos and sin rows. Three such steps (52 KB, past the static limit) ran slower
    /// on the H200: bf16 [4, 2048, 4096] 3.35 → 3.07–3.11 TB/s, [1, 8192, 8192] 3.65 → 3.29.</summary>
    public const int MaxSharedBytes = 36 * 1024;

    /// <summary>The most stages (<c>cp.async.wait_group</c> counts up to 3 pending).</summary>
    public const int MaxStages = 4;

    /// <summary>Rows a block takes per step when a thread holds at most this many pairs of one row: two
    /// rows share one reduction barrier and give each thread twice the independent work (bf16
    /// [4, 2048, 4096]: 3.05 TB/s with one row a step and four stages, 3.2–3.3 with two rows and two).</summary>
    public const int TwoRowsMaxPairs = 2;

    /// <summary>The most pairs a thread holds for the shared-rope path (a row's cos and sin unpacked once):
    /// with four, the 32 unpacked floats next to the pairs took the variant to 215 registers, two blocks per SM.</summary>
    public const int SharedRopeMaxPairs = 2;

    [GlobalMemoryOnly]
    public static void Run<TAccess, TPairs, TRows>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedAddresses addresses, int stages)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs>
        where TRows : struct, IStaticCount
    {
        var shared = SharedMemory.GetDynamic<byte>(); // the stages: StageBytes(…) at launch
        var scratch = SharedMemory.Allocate<float>(BlockReduce.TwoSumsScratchLength);
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, threads = Group.DimX, grid = Grid.DimX;
        int rowSlotRuns = SlotRuns(TPairs.Count, threads, shape.HeadRuns), xRuns = 2 * TPairs.Count * threads;
        int slotRuns = TRows.Count * rowSlotRuns;
        int steps = TRows.Count == 2 ? (shape.Rows + 1) / 2 : shape.Rows;
        // With a thread count that is a multiple of the half-head, all of a thread's pairs sit at the
        // same position of their heads: cos and sin are read and unpacked once per row, not per pair.
        bool sharedRope = threads % shape.HalfRuns == 0;
        // Sequence position of the next staged step's first row, advanced as steps are staged (no division per row).
        int position = TRows.Count * Grid.IdxX % shape.Seq, advance = TRows.Count * grid % shape.Seq;

        // Where this thread's pairs sit, and their weights: the same for every row.
        TPairs located = TPairs.LoadRotation<TAccess>(TPairs.Locate(t, threads, shape), weight, cos, sin, 0, t, threads, shape);
        for (int s = 0; s < stages - 1; s++)
        {
            int ahead = Grid.IdxX + s * grid;
            if (ahead < steps)
                StageStep<TPairs, TRows>(shared, s * slotRuns, rowSlotRuns, x, cos, sin, addresses, ahead, position, located, xRuns, t, threads, shape);
            PtxAsyncCopy.Commit();
            position = Advance(position, advance, shape.Seq);
        }

        int slot = 0, parity = 0;
        for (int step = Grid.IdxX; step < steps; step += grid)
        {
            PtxAsyncCopy.Wait(stages - 2); // this thread's copies of this step's rows have landed
            int row = TRows.Count * step, slotRun = slot * slotRuns;
            TPairs first = TPairs.Unstage(runs, slotRun, located, 0, t, threads), second = default;
            float firstSum = TPairs.SumOfSquares<TAccess>(first), secondSum = 0f;
            if (TRows.Count == 2)
            {
                second = TPairs.Unstage(runs, slotRun + rowSlotRuns, located, 0, t, threads); // unused past the last row
                secondSum = TPairs.SumOfSquares<TAccess>(second);
            }
            // The reduction's barrier publishes everyone's rope runs of this step, and it also means
            // every thread is done with last step's slot: refill that with the step stages − 1 ahead.
            var (firstTotal, secondTotal) = BlockReduce.TwoSums(firstSum, secondSum, scratch, parity);
            int ahead = step + (stages - 1) * grid;
            if (ahead < steps)
                StageStep<TPairs, TRows>(shared, (slot == 0 ? stages - 1 : slot - 1) * slotRuns, rowSlotRuns, x, cos, sin, addresses, ahead, position, located, xRuns, t, threads, shape);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            position = Advance(position, advance, shape.Seq);

            RotateAndStore<TAccess, TPairs>(first, located, runs, slotRun + xRuns, sharedRope, output, (long)row * shape.RowRuns,
                PtxMath.Rsqrt(firstTotal * shape.InvHidden + shape.Eps), shape);
            if (TRows.Count == 2 && row + 1 < shape.Rows)
                RotateAndStore<TAccess, TPairs>(second, located, runs, slotRun + rowSlotRuns + xRuns, sharedRope, output, (long)(row + 1) * shape.RowRuns,
                    PtxMath.Rsqrt(secondTotal * shape.InvHidden + shape.Eps), shape);
            slot = slot == stages - 1 ? 0 : slot + 1;
            parity ^= 1;
        }
    }

    private static int Advance(int position, int advance, int seq)
    {
        position += advance;
        return position >= seq ? position - seq : position;
    }

    /// <summary>One row's rotation and store, its cos and sin runs at <paramref name="ropeSlotRun"/> of the stage.</summary>
    private static void RotateAndStore<TAccess, TPairs>(in TPairs pairs, in TPairs located, ArrayView<Vec4U> runs, int ropeSlotRun,
        bool sharedRope, ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
        where TPairs : struct, IRowPairs<TPairs>
    {
        if (sharedRope && TPairs.Count <= SharedRopeMaxPairs)
        {
            int cos = ropeSlotRun + TPairs.RopeRun(located), sin = cos + shape.HeadRuns;
            TPairs.RotateAndStoreSharedRope<TAccess>(pairs, located, TAccess.Unpack(runs[cos]), TAccess.Unpack(runs[cos + shape.HalfRuns]),
                TAccess.Unpack(runs[sin]), TAccess.Unpack(runs[sin + shape.HalfRuns]), output, rowRun, rstd, shape);
        }
        else
        {
            TPairs.RotateAndStoreStaged<TAccess>(pairs, located, runs, ropeSlotRun, output, rowRun, rstd, shape);
        }
    }

    /// <summary>Starts the copies of step <paramref name="step"/>'s rows (the first at sequence position
    /// <paramref name="position"/>) into the slot at run <paramref name="slotRun"/>, one row slot each.</summary>
    private static void StageStep<TPairs, TRows>(ArrayView<byte> shared, int slotRun, int rowSlotRuns, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin,
        in StagedAddresses addresses, int step, int position, in TPairs located, int xRuns, int t, int threads, in RmsNormRopeShape shape)
        where TPairs : struct, IRowPairs<TPairs>
        where TRows : struct, IStaticCount
    {
        int row = TRows.Count * step;
        StageRow(shared, slotRun, x, cos, sin, addresses, row, position, located, xRuns, t, threads, shape);
        if (TRows.Count == 2 && row + 1 < shape.Rows)
            StageRow(shared, slotRun + rowSlotRuns, x, cos, sin, addresses, row + 1, position + 1 == shape.Seq ? 0 : position + 1,
                located, xRuns, t, threads, shape);
    }

    /// <summary>Starts the copies of row <paramref name="row"/> (sequence position <paramref name="position"/>) into the slot
    /// at run <paramref name="slotRun"/>: x as <see cref="IRowPairs{TSelf}.Stage"/> lays it out, then the row's cos run and sin runs.</summary>
    private static void StageRow<TPairs>(ArrayView<byte> shared, int slotRun, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin,
        in StagedAddresses addresses, int row, int position, in TPairs located, int xRuns, int t, int threads, in RmsNormRopeShape shape)
        where TPairs : struct, IRowPairs<TPairs>
    {
        TPairs.Stage(shared, slotRun * 16, x, addresses.X, (long)row * shape.RowRuns, located, 0, t, threads, shape);
        if (t >= 2 * shape.HeadRuns)
            return;
        long ropeRun = (long)position * shape.HeadRuns;
        for (int i = t; i < 2 * shape.HeadRuns; i += threads)
        {
            bool isCos = i < shape.HeadRuns;
            int r = isCos ? i : i - shape.HeadRuns;
            PtxAsyncCopy.Copy16ToDynamic(shared, (slotRun + xRuns + i) * 16, isCos ? cos : sin, isCos ? addresses.Cos : addresses.Sin, (ropeRun + r) * 16, 16);
        }
    }

    /// <summary>16-byte runs per slot: the row's x runs (padding pairs included), then cos and sin of one position.</summary>
    public static int SlotRuns(int pairsPerThread, int threads, int headRuns) => 2 * pairsPerThread * threads + 2 * headRuns;

    /// <summary>Stages for rows of <paramref name="pairsPerThread"/> · <paramref name="threads"/> pairs, or 0 when fewer than two fit.</summary>
    public static int Stages(int pairsPerThread, int threads, int headRuns, int rows)
    {
        int stages = Math.Min(MaxStages, MaxSharedBytes / StepBytes(pairsPerThread, threads, headRuns, rows));
        return stages >= 2 ? stages : 0;
    }

    /// <summary>Bytes of one stage (a step's rows with their rope runs).</summary>
    public static int StepBytes(int pairsPerThread, int threads, int headRuns, int rows) => 16 * rows * SlotRuns(pairsPerThread, threads, headRuns);

    /// <summary>The rows per step the op takes for rows of <paramref name="pairsPerThread"/> pairs a thread.</summary>
    public static int RowsPerStep(int pairsPerThread) => pairsPerThread <= TwoRowsMaxPairs ? 2 : 1;

    public static MethodInfo Variant(Type element, int pairsPerThread, int rowsPerStep) =>
        s_variants.TryGetValue((element, pairsPerThread, rowsPerStep), out var method) ? method
            : s_variants.GetOrAdd((element, pairsPerThread, rowsPerStep), key => KernelMethods.Get(typeof(RmsNormRopeStagedKernel), nameof(Run),
                typeof(PackedRun<>).MakeGenericType(key.Element),
                RmsNormRopeRowKernel.PairTypes[System.Numerics.BitOperations.Log2((uint)key.PerThread)],
                key.Rows == 2 ? typeof(Two) : typeof(One)));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type Element, int PerThread, int Rows), MethodInfo> s_variants = new();

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element) })
            for (int perThread = 1; perThread <= RmsNormRopeRowKernel.MaxPairsPerThread; perThread *= 2)
                yield return Variant(element, perThread, RowsPerStep(perThread));
    }
}
