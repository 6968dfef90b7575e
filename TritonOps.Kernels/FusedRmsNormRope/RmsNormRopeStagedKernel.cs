using TritonOps.Kernels.QkNormRope;

namespace TritonOps.Kernels.FusedRmsNormRope;

/// <summary>Device addresses of the staged kernel's inputs, for its <c>cp.async</c> copies (16-byte aligned).</summary>
internal struct StagedAddresses
{
    public ulong X, Cos, Sin;
}

/// <summary>Where each row's cos and sin row comes from: its index in the sequence (<see cref="Mode"/> 0, the seed's
/// form), or a positions tensor of int32 or int64 (<see cref="Bytes"/>) per token (<c>[batch, seq]</c>, mode 1) or shared by
/// the batch (<c>[seq]</c>, mode 2), read against a table of <see cref="TableRows"/> rows.</summary>
internal struct StagedPositions
{
    public int Mode, Bytes, TableRows;
}

/// <summary>
/// RMSNorm then rotate-half RoPE (formulas: <see cref="RmsNormRope"/>) for many rows: the
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
/// The table (<c>TTable</c>) is x's dtype or float32 beside 16-bit x (OLMo2 and Llama keep it in float32; then a
/// pack of x pairs with two table packs, and only the shared-rope path is launched). With positions, each staged row
/// reads its own table row, the position loaded a step before it is staged (so no warp waits on that load); a
/// position outside the table is never read past it: the row's cos and sin slots are filled with NaN instead, so
/// every output of that row is NaN (the rotation touches every dim: full rotary only).
/// Against the row kernel (H200, bf16 [1, 8192, 8192]): 3.1 → 3.65 TB/s.
/// </summary>
internal static class RmsNormRopeStagedKernel
{
    /// <summary>The most shared bytes for the stages (dynamic shared memory, sized per launch): two steps of two 8 KB
    /// rows with their cos and sin rows (three, 52 KB, ran slower: H200 [1, 8192, 8192] 3.65 → 3.29 TB/s).</summary>
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

    /// <summary>The register cap of the float32-table entry (<see cref="RunFloat32Table"/>; uncapped, 164 registers):
    /// the positions prefill ran 57.4 → 54.5 µs at 128 (H100, 12-06). The x-dtype-table variants stay uncapped (the
    /// same cap cost them 0.5–2 %).</summary>
    public const int Float32TableMaxRegisters = 128;

    /// <summary><see cref="Run"/> for a float32 table beside 16-bit x, under <see cref="Float32TableMaxRegisters"/>.</summary>
    [GlobalMemoryOnly, MaxRegisters(Float32TableMaxRegisters)]
    public static void RunFloat32Table<TAccess, TTable, TPairs, TRows>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedPositions at, StagedAddresses addresses, int stages)
        where TAccess : struct, IRunAccess
        where TTable : struct, IElementType
        where TPairs : struct, IRowPairs<TPairs>
        where TRows : struct, IStaticCount =>
        Run<TAccess, TTable, TPairs, TRows>(x, weight, cos, sin, positions, output, shape, at, addresses, stages);

    [GlobalMemoryOnly]
    public static void Run<TAccess, TTable, TPairs, TRows>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedPositions at, StagedAddresses addresses, int stages)
        where TAccess : struct, IRunAccess
        where TTable : struct, IElementType
        where TPairs : struct, IRowPairs<TPairs>
        where TRows : struct, IStaticCount
    {
        var shared = SharedMemory.GetDynamic<byte>(); // the stages: StageBytes(…) at launch
        var scratch = SharedMemory.Allocate<float>(BlockReduce.TwoSumsScratchLength);
        var runs = shared.Cast<Vec4U>();
        int t = Group.IdxX, threads = Group.DimX, grid = Grid.DimX;
        int tableRuns = TableRatio<TAccess, TTable>() * shape.HeadRuns;
        int rowSlotRuns = SlotRuns(TPairs.Count, threads, tableRuns), xRuns = 2 * TPairs.Count * threads;
        int slotRuns = TRows.Count * rowSlotRuns;
        int steps = TRows.Count == 2 ? (shape.Rows + 1) / 2 : shape.Rows;
        // With a thread count that is a multiple of the half-head, all of a thread's pairs sit at the
        // same position of their heads: cos and sin are read and unpacked once per row, not per pair.
        bool sharedRope = threads % shape.HalfRuns == 0;
        // Sequence position of the next staged step's first row, advanced as steps are staged (no division per row).
        int position = TRows.Count * Grid.IdxX % shape.Seq, advance = TRows.Count * grid % shape.Seq;

        // Where this thread's pairs sit, and their weights: the same for every row.
        TPairs located = TPairs.LoadRotation<TAccess>(TPairs.Locate(t, threads, shape), weight, cos, sin, 0, t, threads, shape);
        // The positions of the next step to stage, loaded a step ahead.
        var next = NextPositions<TRows>(positions, at, Grid.IdxX, position, shape);
        for (int s = 0; s < stages - 1; s++)
        {
            int ahead = Grid.IdxX + s * grid;
            if (ahead < steps)
                StageStep<TTable, TPairs, TRows>(shared, s * slotRuns, rowSlotRuns, x, cos, sin, addresses, ahead, position, next, at, located, xRuns, tableRuns, t, threads, shape);
            PtxAsyncCopy.Commit();
            position = Advance(position, advance, shape.Seq);
            next = NextPositions<TRows>(positions, at, ahead + grid, position, shape);
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
                StageStep<TTable, TPairs, TRows>(shared, (slot == 0 ? stages - 1 : slot - 1) * slotRuns, rowSlotRuns, x, cos, sin, addresses, ahead, position, next, at,
                    located, xRuns, tableRuns, t, threads, shape);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            position = Advance(position, advance, shape.Seq);
            next = NextPositions<TRows>(positions, at, ahead + grid, position, shape);

            RotateAndStore<TAccess, TTable, TPairs>(first, located, runs, slotRun + xRuns, tableRuns, sharedRope, output, (long)row * shape.RowRuns,
                PtxMath.Rsqrt(firstTotal * shape.InvHidden + shape.Eps), shape);
            if (TRows.Count == 2 && row + 1 < shape.Rows)
                RotateAndStore<TAccess, TTable, TPairs>(second, located, runs, slotRun + rowSlotRuns + xRuns, tableRuns, sharedRope, output, (long)(row + 1) * shape.RowRuns,
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

    /// <summary>Table packs per x pack: 1 when the table is x's dtype, 2 for a float32 table beside 16-bit x.</summary>
    public static int TableRatio<TAccess, TTable>() where TAccess : struct, IRunAccess where TTable : struct, IElementType =>
        TAccess.Width / TTable.PackWidth;

    /// <summary>The table entries of x pack <paramref name="xRun"/> of a half-head, from a staged table row at run
    /// <paramref name="tableSlotRun"/>: one pack, or two float32 packs beside 16-bit x.</summary>
    private static Vec8F TableRun<TAccess, TTable>(ArrayView<Vec4U> runs, int tableSlotRun, int xRun)
        where TAccess : struct, IRunAccess
        where TTable : struct, IElementType
    {
        if (TableRatio<TAccess, TTable>() == 1)
            return TTable.Unpack(runs[tableSlotRun + xRun]);
        Vec8F low = TTable.Unpack(runs[tableSlotRun + 2 * xRun]), high = TTable.Unpack(runs[tableSlotRun + 2 * xRun + 1]);
        return new Vec8F { E0 = low.E0, E1 = low.E1, E2 = low.E2, E3 = low.E3, E4 = high.E0, E5 = high.E1, E6 = high.E2, E7 = high.E3 };
    }

    /// <summary>One row's rotation and store, its cos and sin runs at <paramref name="ropeSlotRun"/> of the stage
    /// (<paramref name="tableRuns"/> runs each). A table of another pack width than x takes only the shared-rope path:
    /// the op launches those variants only where every thread's pairs share one place in their heads.</summary>
    private static void RotateAndStore<TAccess, TTable, TPairs>(in TPairs pairs, in TPairs located, ArrayView<Vec4U> runs, int ropeSlotRun,
        int tableRuns, bool sharedRope, ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
        where TTable : struct, IElementType
        where TPairs : struct, IRowPairs<TPairs>
    {
        if (TableRatio<TAccess, TTable>() != 1 || sharedRope && TPairs.Count <= SharedRopeMaxPairs)
        {
            int cos = ropeSlotRun, sin = cos + tableRuns, run = TPairs.RopeRun(located);
            TPairs.RotateAndStoreSharedRope<TAccess>(pairs, located,
                TableRun<TAccess, TTable>(runs, cos, run), TableRun<TAccess, TTable>(runs, cos, run + shape.HalfRuns),
                TableRun<TAccess, TTable>(runs, sin, run), TableRun<TAccess, TTable>(runs, sin, run + shape.HalfRuns), output, rowRun, rstd, shape);
        }
        else
        {
            TPairs.RotateAndStoreStaged<TAccess>(pairs, located, runs, ropeSlotRun, output, rowRun, rstd, shape);
        }
    }

    /// <summary>The 32-bit words of two rows' positions as loaded (an int64 position's low and high words; an int32
    /// position in both), put together only where the rows are staged.</summary>
    private struct RawPositions
    {
        public int Low0, High0, Low1, High1;
    }

    /// <summary>The positions of step <paramref name="step"/>'s rows, whose first sits at sequence index
    /// <paramref name="position"/>: every thread issues the same four 32-bit loads, from indices clamped into the tensor
    /// (past the last row, or without positions: words never used), and nothing touches the loaded words before the
    /// staging a step later (a select and widening right after the loads: H200, 39.9–40.9 → 42.0–43.2 µs).</summary>
    private static RawPositions NextPositions<TRows>(ArrayView<byte> positions, in StagedPositions at, int step, int position, in RmsNormRopeShape shape)
        where TRows : struct, IStaticCount
    {
        var raw = new RawPositions();
        if (at.Mode == 0)
            return raw; // no loads: the sequence index is the position
        int row = TRows.Count * step, last = shape.Rows - 1;
        int secondPosition = position + 1 == shape.Seq ? 0 : position + 1;
        int first = at.Mode == 1 ? Math.Min(row, last) : at.Mode == 2 ? position : 0;
        int second = at.Mode == 1 ? Math.Min(row + 1, last) : at.Mode == 2 ? secondPosition : 0;
        int words = at.Bytes / 4, high = words - 1; // int64: words 2i and 2i + 1; int32: word i twice
        var view = positions.Cast<int>();
        raw.Low0 = view[words * first];
        raw.High0 = view[words * first + high];
        if (TRows.Count == 2)
        {
            raw.Low1 = view[words * second];
            raw.High1 = view[words * second + high];
        }
        return raw;
    }

    /// <summary>A row's position: its sequence index without positions, else the loaded words put together.</summary>
    private static long PositionOf(int low, int high, int sequenceIndex, in StagedPositions at) =>
        at.Mode == 0 ? sequenceIndex : at.Bytes == 8 ? (long)high << 32 | (uint)low : low;

    /// <summary>Starts the copies of step <paramref name="step"/>'s rows (the first at sequence index <paramref name="position"/>,
    /// their positions loaded as <paramref name="next"/>) into the slot at run <paramref name="slotRun"/>, one row slot each.</summary>
    private static void StageStep<TTable, TPairs, TRows>(ArrayView<byte> shared, int slotRun, int rowSlotRuns, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin,
        in StagedAddresses addresses, int step, int position, in RawPositions next, in StagedPositions at, in TPairs located, int xRuns, int tableRuns,
        int t, int threads, in RmsNormRopeShape shape)
        where TTable : struct, IElementType
        where TPairs : struct, IRowPairs<TPairs>
        where TRows : struct, IStaticCount
    {
        int row = TRows.Count * step;
        StageRow(shared, slotRun, x, cos, sin, addresses, row, PositionOf(next.Low0, next.High0, position, at), at, located, xRuns, tableRuns, t, threads, shape);
        if (TRows.Count == 2 && row + 1 < shape.Rows)
            StageRow(shared, slotRun + rowSlotRuns, x, cos, sin, addresses, row + 1,
                PositionOf(next.Low1, next.High1, position + 1 == shape.Seq ? 0 : position + 1, at), at, located, xRuns, tableRuns, t, threads, shape);
    }

    /// <summary>Starts the copies of row <paramref name="row"/> (at position <paramref name="position"/>) into the slot
    /// at run <paramref name="slotRun"/>: x as <see cref="IRowPairs{TSelf}.Stage"/> lays it out, then the table row's cos runs
    /// and sin runs, or NaN runs in their place when the position lies outside the table.</summary>
    private static void StageRow<TPairs>(ArrayView<byte> shared, int slotRun, ArrayView<byte> x, ArrayView<byte> cos, ArrayView<byte> sin,
        in StagedAddresses addresses, int row, long position, in StagedPositions at, in TPairs located, int xRuns, int tableRuns,
        int t, int threads, in RmsNormRopeShape shape)
        where TPairs : struct, IRowPairs<TPairs>
    {
        TPairs.Stage(shared, slotRun * 16, x, addresses.X, (long)row * shape.RowRuns, located, 0, t, threads, shape);
        if (t >= 2 * tableRuns)
            return;
        bool inTable = position >= 0 && position < at.TableRows;
        long ropeRun = position * tableRuns;
        for (int i = t; i < 2 * tableRuns; i += threads)
        {
            bool isCos = i < tableRuns;
            int r = isCos ? i : i - tableRuns;
            if (inTable)
                PtxAsyncCopy.Copy16ToDynamic(shared, (slotRun + xRuns + i) * 16, isCos ? cos : sin, isCos ? addresses.Cos : addresses.Sin, (ropeRun + r) * 16, 16);
            else // all-ones bits are NaN in float32, float16 and bfloat16; the barrier before the row's rotation publishes them
                shared.Cast<Vec4U>()[slotRun + xRuns + i] = new Vec4U(uint.MaxValue, uint.MaxValue, uint.MaxValue, uint.MaxValue);
        }
    }

    /// <summary>16-byte runs per slot: the row's x runs (padding pairs included), then cos and sin of one position
    /// (<paramref name="tableRuns"/> each: a head's runs times <see cref="TableRatio"/>).</summary>
    public static int SlotRuns(int pairsPerThread, int threads, int tableRuns) => 2 * pairsPerThread * threads + 2 * tableRuns;

    /// <summary>Stages for rows of <paramref name="pairsPerThread"/> · <paramref name="threads"/> pairs, or 0 when fewer than two fit.</summary>
    public static int Stages(int pairsPerThread, int threads, int tableRuns, int rows)
    {
        int stages = Math.Min(MaxStages, MaxSharedBytes / StepBytes(pairsPerThread, threads, tableRuns, rows));
        return stages >= 2 ? stages : 0;
    }

    /// <summary>Bytes of one stage (a step's rows with their rope runs).</summary>
    public static int StepBytes(int pairsPerThread, int threads, int tableRuns, int rows) => 16 * rows * SlotRuns(pairsPerThread, threads, tableRuns);

    /// <summary>The rows per step the op takes for rows of <paramref name="pairsPerThread"/> pairs a thread.</summary>
    public static int RowsPerStep(int pairsPerThread) => pairsPerThread <= TwoRowsMaxPairs ? 2 : 1;

    /// <summary>The variant for x of <paramref name="element"/> and a table of <paramref name="table"/> (x's element, or
    /// float32 beside 16-bit x: then <paramref name="pairsPerThread"/> ≤ <see cref="SharedRopeMaxPairs"/>).</summary>
    public static MethodInfo Variant(Type element, Type table, int pairsPerThread, int rowsPerStep) =>
        KernelMethods.Get(typeof(RmsNormRopeStagedKernel),
            table == typeof(Float32Element) && element != typeof(Float32Element) ? nameof(RunFloat32Table) : nameof(Run),
            RunAccess.Of(element, packed: true), table, RmsNormRopeRowKernel.PairTypes[System.Numerics.BitOperations.Log2((uint)pairsPerThread)],
            rowsPerStep == 2 ? typeof(Two) : typeof(One));

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
        {
            for (int perThread = 1; perThread <= RmsNormRopeRowKernel.MaxPairsPerThread; perThread *= 2)
                yield return Variant(element, element, perThread, RowsPerStep(perThread));
            if (element != typeof(Float32Element))
                for (int perThread = 1; perThread <= SharedRopeMaxPairs; perThread *= 2)
                    yield return Variant(element, typeof(Float32Element), perThread, RowsPerStep(perThread));
        }
    }
}
