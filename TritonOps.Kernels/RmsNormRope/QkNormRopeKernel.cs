using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>The sizes and choices of one <see cref="QkNormRopeKernel"/> launch (up to two tensors, q and k).</summary>
internal struct QkNormRopeShape
{
    /// <summary>Tokens: batch · seq.</summary>
    public int Rows;
    public int Seq;
    /// <summary>Heads of tensor 0 (q) and tensor 1 (k, 0 when absent).</summary>
    public int Heads0, Heads1;
    public int HeadDim;
    /// <summary>Rotary dimensions of each head (the first ones), even, ≤ HeadDim.</summary>
    public int RotaryDim;
    /// <summary>0: rotate-half (i with i + RotaryDim/2); 1: interleaved (2i with 2i + 1).</summary>
    public int Interleaved;
    /// <summary>0: norm over the token's whole tensor row; 1: per head; 2: no norm (RoPE alone).</summary>
    public int Scope;
    public float Eps;
    /// <summary>Added to every weight (1 for Gemma's (1 + w)).</summary>
    public float WeightOffset;
    /// <summary>Rows of the cos/sin table.</summary>
    public int TableRows;
    /// <summary>0: token (b, s) reads table row s; 1: positions [batch · seq]; 2: positions [seq] shared by the batch.</summary>
    public int PositionsMode;
    /// <summary>4 (int32) or 8 (int64).</summary>
    public int PositionBytes;
}

/// <summary>Where one thread's packs and a row's parts sit in a stage of the packed kernel (the same for every row).</summary>
internal struct PackedStageLayout
{
    /// <summary>16-byte runs in a row of the tensor, and this thread's first run in it.</summary>
    public long RowRuns, Column;
    public int HalfRuns, TableRuns;
    /// <summary>Byte offsets in a row's part of a stage: cos, sin, the position; the part's size.</summary>
    public int CosOffset, SinOffset, PositionOffset, RowBytes;
    public bool Active;
    public int Tid, Threads;
}

/// <summary>Device addresses of the packed kernel's inputs, for its <c>cp.async</c> copies (16-byte aligned).</summary>
internal struct QkNormRopeAddresses
{
    public ulong Q, K, Cos, Sin;
}

/// <summary>
/// RMSNorm (over the token's row, per head, or none) then RoPE (rotate-half or interleaved, over the first
/// RotaryDim dimensions of each head; the rest are normalized and weighted only) for q and k in one launch,
/// each token at its own position in a [TableRows, RotaryDim] cos/sin table of <c>TTable</c>
/// (float32, or x's dtype). Block (token, tensor): 4 warps; warp w takes heads w, w + 4, …; each lane takes
/// rotary pairs lane, lane + 32, …, then the pass-through dims. Float32 math, one rounding at the store;
/// sums of squares in a fixed order (the same bits on every run). A position outside [0, TableRows) reads
/// nothing and writes NaN over the token's whole row.
/// For y = norm(x)·(w + offset) and dim j of a pair (i, j): out_i = y_i·cos_i − y_j·sin_i, out_j = y_j·cos_j + y_i·sin_j.
/// </summary>
internal static class QkNormRopeKernel
{
    public const int Threads = 128, Warps = Threads / 32;

    [GlobalMemoryOnly]
    public static void Run<TElement, TTable>(
        ArrayView<byte> q, ArrayView<byte> k, ArrayView<byte> qWeight, ArrayView<byte> kWeight,
        ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> qOut, ArrayView<byte> kOut, QkNormRopeShape s)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int row = Grid.IdxX, tensor = Grid.IdxY;
        int heads = tensor == 0 ? s.Heads0 : s.Heads1;
        var x = tensor == 0 ? q : k;
        var weight = tensor == 0 ? qWeight : kWeight;
        var output = tensor == 0 ? qOut : kOut;
        int hidden = heads * s.HeadDim;
        long first = (long)row * hidden;
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;

        int position = Position(positions, row, s);
        if (position < 0 || position >= s.TableRows)
        {
            // Never read outside the table: the token's row becomes NaN, which no later step can mistake for a value.
            uint nan = TElement.Narrow(float.NaN);
            for (int i = tid; i < hidden; i += Threads)
                TElement.StoreBits(output, first + i, nan);
            return;
        }

        float rstd = 1f;
        if (s.Scope == 0)
        {
            float sum = 0f;
            for (int i = tid; i < hidden; i += Threads)
            {
                float v = TElement.Widen(TElement.LoadBits(x, first + i));
                sum += v * v;
            }
            rstd = XMath.Rsqrt(BlockReduce.Sum(sum, scratch) / hidden + s.Eps);
        }

        long tableRow = (long)position * s.RotaryDim;
        int halfRotary = s.RotaryDim / 2;
        for (int head = warp; head < heads; head += Warps)
        {
            long headFirst = first + (long)head * s.HeadDim;
            int weightFirst = s.Scope == 0 ? head * s.HeadDim : 0;
            float scale = rstd;
            if (s.Scope == 1)
            {
                float sum = 0f;
                for (int d = lane; d < s.HeadDim; d += 32)
                {
                    float v = TElement.Widen(TElement.LoadBits(x, headFirst + d));
                    sum += v * v;
                }
                scale = XMath.Rsqrt(BlockReduce.WarpSum(sum) / s.HeadDim + s.Eps);
            }

            for (int p = lane; p < halfRotary; p += 32)
            {
                int i = s.Interleaved != 0 ? 2 * p : p;
                int j = s.Interleaved != 0 ? 2 * p + 1 : p + halfRotary;
                float yi = Normed<TElement>(x, weight, headFirst, weightFirst, i, scale, s);
                float yj = Normed<TElement>(x, weight, headFirst, weightFirst, j, scale, s);
                float cosI = TTable.Widen(TTable.LoadBits(cos, tableRow + i)), sinI = TTable.Widen(TTable.LoadBits(sin, tableRow + i));
                float cosJ = TTable.Widen(TTable.LoadBits(cos, tableRow + j)), sinJ = TTable.Widen(TTable.LoadBits(sin, tableRow + j));
                TElement.StoreBits(output, headFirst + i, TElement.Narrow(yi * cosI - yj * sinI));
                TElement.StoreBits(output, headFirst + j, TElement.Narrow(yj * cosJ + yi * sinJ));
            }
            for (int d = s.RotaryDim + lane; d < s.HeadDim; d += 32)
                TElement.StoreBits(output, headFirst + d, TElement.Narrow(Normed<TElement>(x, weight, headFirst, weightFirst, d, scale, s)));
        }
    }

    /// <summary>Bytes of one row's part of a <see cref="RunPacked"/> stage: each thread's two x packs, the row's cos and
    /// sin (the rotary dims in the table's dtype) and the position (16 bytes). A stage holds <c>TRows</c> of them.</summary>
    public static int StageBytes(int threads, int rotaryDim, int tableElementBytes) => threads * 32 + 2 * rotaryDim * tableElementBytes + 16;

    /// <summary>Static shared bytes of <see cref="RunPacked"/> (the reduction's scratch), left out of the dynamic budget.</summary>
    public const int StaticSharedBytes = 4 * BlockReduce.TwoSumsScratchLength;

    /// <summary>
    /// <see cref="Run"/> for full rotate-half rotary (RotaryDim = HeadDim, half a head a whole number of 16-byte
    /// packs): one thread per pair of packs (a pack of a head's first half and its partner in the second half), so
    /// x, the weights, the table and the output move 16 bytes per access and x is read once. The block is the row's
    /// pair count rounded up to 32 (≤ 1024); a per-head norm sums over the head's consecutive lanes with xor
    /// shuffles (the head's pack pairs must be a power of two ≤ 32). Fixed-order sums, as in <see cref="Run"/>.
    /// Persistent and staged (as <see cref="RmsNormRopeStagedKernel"/>): block b walks steps b, b + G, … of
    /// <c>TRows</c> rows of its tensor (grid row) and keeps the next <paramref name="stages"/> − 1 steps in flight
    /// through <c>cp.async</c> into dynamic shared memory: each thread's own x packs, and each row's cos and sin rows
    /// (read from the table at the row's position, loaded a step before it is staged) once for all heads. Each thread
    /// reads back only its own x; the tables are published by the step's one barrier (the two-sum reduction's, or a
    /// plain one for per-head and no norm), after which every thread is also done with the slot the step then
    /// refills. An out-of-table position stages no table and marks the row (−1): the row becomes NaN.
    /// Prefill bf16 [4, 2048, 4096], float32 table at scattered positions, on the H200: 83.0 µs a block per row,
    /// 75.1 µs persistent with the next row's x in registers, 61.4 µs staged one row a step (ncu: issue-bound at
    /// 1.5 IPC, stalls on the barrier and the staged loads); two rows a step share the barrier and give each thread
    /// two rows of independent work, as in the seed's staged kernel.
    /// </summary>
    [GlobalMemoryOnly]
    public static void RunPacked<TElement, TTable, TRows>(
        ArrayView<byte> q, ArrayView<byte> k, ArrayView<byte> qWeight, ArrayView<byte> kWeight,
        ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> qOut, ArrayView<byte> kOut, QkNormRopeShape s, QkNormRopeAddresses addresses, int stages)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
        where TRows : struct, IRowsPerStep
    {
        var shared = SharedMemory.GetDynamic<byte>(); // stages × TRows × StageBytes(…), sized at launch
        var scratch = SharedMemory.Allocate<float>(BlockReduce.TwoSumsScratchLength);
        int tensor = Grid.IdxY;
        int heads = tensor == 0 ? s.Heads0 : s.Heads1;
        var x = tensor == 0 ? q : k;
        ulong xAddress = tensor == 0 ? addresses.Q : addresses.K;
        var weight = (tensor == 0 ? qWeight : kWeight).Cast<Vec4U>();
        int width = TElement.PackWidth, headRuns = s.HeadDim / width, halfRuns = headRuns / 2;
        int tid = Group.IdxX, threads = Group.DimX, grid = Grid.DimX;
        bool active = tid < heads * halfRuns;
        int head = active ? tid / halfRuns : 0, run = active ? tid - head * halfRuns : 0;
        var layout = new PackedStageLayout
        {
            RowRuns = (long)heads * headRuns, Column = (long)head * headRuns + run, HalfRuns = halfRuns,
            TableRuns = s.RotaryDim / TTable.PackWidth, // 16-byte runs in one table row (cos or sin)
            Active = active, Tid = tid, Threads = threads,
        };
        layout.CosOffset = threads * 32;
        layout.SinOffset = layout.CosOffset + 16 * layout.TableRuns;
        layout.PositionOffset = layout.SinOffset + 16 * layout.TableRuns;
        layout.RowBytes = layout.PositionOffset + 16;
        int stepBytes = TRows.Count * layout.RowBytes;
        int steps = TRows.Count == 2 ? (s.Rows + 1) / 2 : s.Rows;
        var runs = shared.Cast<Vec4U>();
        float inverseCount = 1f / (s.Scope == 0 ? heads * s.HeadDim : s.HeadDim);

        // The weights are the same for every row: loaded once.
        Vec8F weightA = default, weightB = default;
        if (active && s.Scope != 2)
        {
            long weightRun = s.Scope == 0 ? layout.Column : run;
            weightA = Offset(TElement.Unpack(weight[weightRun]), s.WeightOffset);
            weightB = Offset(TElement.Unpack(weight[weightRun + halfRuns]), s.WeightOffset);
        }

        // The positions of the next step to stage, loaded a step ahead of its staging.
        int stageStep = Grid.IdxX;
        var (position0, position1) = StepPositions<TRows>(positions, stageStep, steps, s);
        for (int st = 0; st < stages - 1; st++)
        {
            if (stageStep < steps)
                StageStep<TRows>(shared, st * stepBytes, x, xAddress, cos, sin, addresses, stageStep, position0, position1, layout, s.Rows);
            PtxAsyncCopy.Commit();
            stageStep += grid;
            (position0, position1) = StepPositions<TRows>(positions, stageStep, steps, s);
        }

        int slot = 0, parity = 0;
        for (int step = Grid.IdxX; step < steps; step += grid)
        {
            PtxAsyncCopy.Wait(stages - 2); // this thread's copies of this step's rows have landed
            int slotBytes = slot * stepBytes, row = TRows.Count * step, xRun0 = slotBytes / 16 + 2 * tid, xRun1 = xRun0 + layout.RowBytes / 16;
            // Threads past the row's pairs staged nothing, and a second row past the last holds stale bytes: kept out of
            // the sums used. x is read from the slot here for the sums and again for the rotation (the slot is refilled
            // only after the next step's barrier), so no row is held in registers across the barrier.
            float sum0 = 0f, sum1 = 0f;
            if (active)
            {
                sum0 = TElement.Unpack(runs[xRun0]).SumOfSquares() + TElement.Unpack(runs[xRun0 + 1]).SumOfSquares();
                if (TRows.Count == 2)
                    sum1 = TElement.Unpack(runs[xRun1]).SumOfSquares() + TElement.Unpack(runs[xRun1 + 1]).SumOfSquares();
            }
            float scale0 = 1f, scale1 = 1f;
            // The hardware rsqrt times the reciprocal count, as the tuned seed kernels: the IEEE divide and XMath's
            // rounded rsqrt were ~30 instructions a row per thread in a kernel whose issue rate bounds it.
            if (s.Scope == 0)
            {
                var (total0, total1) = BlockReduce.TwoSums(sum0, sum1, scratch, parity);
                scale0 = PtxMath.Rsqrt(total0 * inverseCount + s.Eps);
                scale1 = PtxMath.Rsqrt(total1 * inverseCount + s.Eps);
            }
            else
            {
                if (s.Scope == 1)
                {
                    for (int mask = halfRuns >> 1; mask > 0; mask >>= 1)
                    {
                        sum0 += Warp.ShuffleXor(sum0, mask);
                        if (TRows.Count == 2)
                            sum1 += Warp.ShuffleXor(sum1, mask);
                    }
                    scale0 = PtxMath.Rsqrt(sum0 * inverseCount + s.Eps);
                    scale1 = PtxMath.Rsqrt(sum1 * inverseCount + s.Eps);
                }
                Group.Barrier(); // publishes the staged tables (the row norm's reduction does it there)
            }
            // Every thread is past this step's barrier, so done with the previous slot: refill it stages − 1 steps ahead.
            if (stageStep < steps)
                StageStep<TRows>(shared, (slot == 0 ? stages - 1 : slot - 1) * stepBytes, x, xAddress, cos, sin, addresses, stageStep,
                    position0, position1, layout, s.Rows);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            stageStep += grid;
            (position0, position1) = StepPositions<TRows>(positions, stageStep, steps, s);
            slot = slot == stages - 1 ? 0 : slot + 1;
            parity ^= 1;

            if (!active)
                continue;
            RotateAndStore<TElement, TTable>(shared, slotBytes, xRun0, scale0, weightA, weightB, row, tensor, qOut, kOut, layout, run * width, s);
            if (TRows.Count == 2 && row + 1 < s.Rows)
                RotateAndStore<TElement, TTable>(shared, slotBytes + layout.RowBytes, xRun1, scale1, weightA, weightB, row + 1, tensor, qOut, kOut, layout, run * width, s);
        }
    }

    /// <summary>One row's norm, weight, rotation and store: its packs at run <paramref name="xRun"/> (a head's first half)
    /// and the next (their partners) of the slot at <paramref name="rowSlotBytes"/>, with the table staged there; a row
    /// whose position was outside the table becomes NaN.</summary>
    private static void RotateAndStore<TElement, TTable>(ArrayView<byte> shared, int rowSlotBytes, int xRun, float scale, in Vec8F weightA, in Vec8F weightB,
        int row, int tensor, ArrayView<byte> qOut, ArrayView<byte> kOut, in PackedStageLayout layout, int firstElement, in QkNormRopeShape s)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
    {
        int width = TElement.PackWidth;
        long iRun = row * layout.RowRuns + layout.Column, jRun = iRun + layout.HalfRuns;
        Vec4U outI, outJ;
        if (shared.Cast<int>()[(rowSlotBytes + layout.PositionOffset) / 4] < 0)
        {
            // Never read outside the table: the token's row becomes NaN.
            outI = outJ = TElement.Pack(new Vec8F { E0 = float.NaN, E1 = float.NaN, E2 = float.NaN, E3 = float.NaN, E4 = float.NaN, E5 = float.NaN, E6 = float.NaN, E7 = float.NaN });
        }
        else
        {
            // The staged table through the whole-slot view: 16-byte shared loads (a sub-view at a runtime offset
            // compiled to four 4-byte loads a pack).
            var runs = shared.Cast<Vec4U>();
            Vec8F a = TElement.Unpack(runs[xRun]), b = TElement.Unpack(runs[xRun + 1]);
            if (s.Scope != 2)
            {
                a = a.MultiplyScaled(weightA, scale);
                b = b.MultiplyScaled(weightB, scale);
            }
            long halfTable = s.RotaryDim / 2;
            int cosPacks = (rowSlotBytes + layout.CosOffset) / 16, sinPacks = (rowSlotBytes + layout.SinOffset) / 16;
            Vec8F cosA = StagedTableRun<TTable>(runs, cosPacks, firstElement, width);
            Vec8F sinA = StagedTableRun<TTable>(runs, sinPacks, firstElement, width);
            Vec8F cosB = StagedTableRun<TTable>(runs, cosPacks, firstElement + halfTable, width);
            Vec8F sinB = StagedTableRun<TTable>(runs, sinPacks, firstElement + halfTable, width);
            outI = TElement.Pack(Vec8F.MulAddMul(a, cosA, -1f, b, sinA));
            outJ = TElement.Pack(Vec8F.MulAddMul(b, cosB, 1f, a, sinB));
        }
        // Each output through its own kernel parameter: a view chosen by a select lost its alignment, and with it
        // the 16-byte store (st.global.b32 ×4 a pack, measured in the PTX).
        if (tensor == 0)
        {
            qOut.Cast<Vec4U>()[iRun] = outI;
            qOut.Cast<Vec4U>()[jRun] = outJ;
        }
        else
        {
            kOut.Cast<Vec4U>()[iRun] = outI;
            kOut.Cast<Vec4U>()[jRun] = outJ;
        }
    }

    /// <summary><paramref name="width"/> table entries from element <paramref name="first"/> (a multiple of width) of a staged table that starts at 16-byte pack <paramref name="firstPack"/> of shared memory: one pack, or two when the table's packs are narrower (a float32 table beside 16-bit x).</summary>
    private static Vec8F StagedTableRun<TTable>(ArrayView<Vec4U> packs, int firstPack, long first, int width) where TTable : struct, IElementType
    {
        long pack = firstPack + first / TTable.PackWidth;
        Vec8F low = TTable.Unpack(packs[pack]);
        if (TTable.PackWidth >= width)
            return low;
        Vec8F high = TTable.Unpack(packs[pack + 1]);
        return new Vec8F { E0 = low.E0, E1 = low.E1, E2 = low.E2, E3 = low.E3, E4 = high.E0, E5 = high.E1, E6 = high.E2, E7 = high.E3 };
    }

    /// <summary>The positions of step <paramref name="step"/>'s rows (0 past the last step or row).</summary>
    private static (int First, int Second) StepPositions<TRows>(ArrayView<byte> positions, int step, int steps, in QkNormRopeShape s)
        where TRows : struct, IRowsPerStep
    {
        if (step >= steps)
            return (0, 0);
        int row = TRows.Count * step;
        return (Position(positions, row, s), TRows.Count == 2 && row + 1 < s.Rows ? Position(positions, row + 1, s) : 0);
    }

    /// <summary>Issues the copies of step <paramref name="step"/>'s rows into the stage at <paramref name="stageOffset"/>,
    /// one row part each; the second row's table copies go to the other half of the threads.</summary>
    private static void StageStep<TRows>(ArrayView<byte> shared, int stageOffset, ArrayView<byte> x, ulong xAddress,
        ArrayView<byte> cos, ArrayView<byte> sin, in QkNormRopeAddresses addresses, int step, int position0, int position1,
        in PackedStageLayout layout, int rows)
        where TRows : struct, IRowsPerStep
    {
        int row = TRows.Count * step;
        Stage(shared, stageOffset, x, xAddress, cos, sin, addresses, row, position0, layout, layout.Tid);
        if (TRows.Count == 2 && row + 1 < rows)
        {
            int half = layout.Threads / 2;
            Stage(shared, stageOffset + layout.RowBytes, x, xAddress, cos, sin, addresses, row + 1, position1, layout,
                layout.Tid >= half ? layout.Tid - half : layout.Tid + half);
        }
    }

    /// <summary>Issues the copies of one row into its part of a stage: this thread's x packs, a share of the table row at
    /// <paramref name="position"/> (none when it is outside the table; table run <paramref name="tableThread"/>, + threads, …)
    /// and the position itself (table thread 0).</summary>
    private static void Stage(ArrayView<byte> shared, int rowOffset, ArrayView<byte> x, ulong xAddress,
        ArrayView<byte> cos, ArrayView<byte> sin, in QkNormRopeAddresses addresses, int row, int position, in PackedStageLayout layout, int tableThread)
    {
        if (layout.Active)
        {
            long iRun = row * layout.RowRuns + layout.Column;
            PtxAsyncCopy.Copy16ToDynamic(shared, rowOffset + 32 * layout.Tid, x, xAddress, 16 * iRun, 16);
            PtxAsyncCopy.Copy16ToDynamic(shared, rowOffset + 32 * layout.Tid + 16, x, xAddress, 16 * (iRun + layout.HalfRuns), 16);
        }
        int tableRuns = layout.TableRuns;
        if (position >= 0)
        {
            long tableRun = (long)position * tableRuns;
            for (int j = tableThread; j < 2 * tableRuns; j += layout.Threads)
            {
                if (j < tableRuns)
                    PtxAsyncCopy.Copy16ToDynamic(shared, rowOffset + layout.CosOffset + 16 * j, cos, addresses.Cos, 16 * (tableRun + j), 16);
                else
                    PtxAsyncCopy.Copy16ToDynamic(shared, rowOffset + layout.SinOffset + 16 * (j - tableRuns), sin, addresses.Sin, 16 * (tableRun + j - tableRuns), 16);
            }
        }
        if (tableThread == 0)
            shared.Cast<int>()[(rowOffset + layout.PositionOffset) / 4] = position;
    }

    /// <summary>Token <paramref name="row"/>'s table row: its position (from the positions tensor, or its index in the
    /// sequence), or −1 when that lies outside the table.</summary>
    private static int Position(ArrayView<byte> positions, int row, in QkNormRopeShape s)
    {
        if (s.PositionsMode == 0)
            return row % s.Seq;
        long at = s.PositionsMode == 1 ? row : row % s.Seq;
        long wide = s.PositionBytes == 8 ? positions.Cast<long>()[at] : positions.Cast<int>()[at];
        return wide < 0 || wide >= s.TableRows ? -1 : (int)wide;
    }

    /// <summary>w + offset, lane by lane.</summary>
    private static Vec8F Offset(Vec8F w, float offset) => new()
    {
        E0 = w.E0 + offset, E1 = w.E1 + offset, E2 = w.E2 + offset, E3 = w.E3 + offset,
        E4 = w.E4 + offset, E5 = w.E5 + offset, E6 = w.E6 + offset, E7 = w.E7 + offset,
    };

    /// <summary>Dim <paramref name="d"/> of a head, normalized and weighted (no weight without a norm).</summary>
    private static float Normed<TElement>(ArrayView<byte> x, ArrayView<byte> weight, long headFirst, int weightFirst, int d, float scale, in QkNormRopeShape s)
        where TElement : struct, IElementType
    {
        float v = TElement.Widen(TElement.LoadBits(x, headFirst + d));
        if (s.Scope == 2)
            return v;
        float w = TElement.Widen(TElement.LoadBits(weight, weightFirst + d)) + s.WeightOffset;
        return v * scale * w;
    }

    public static MethodInfo Variant(Type element, Type table) => KernelMethods.Get(typeof(QkNormRopeKernel), nameof(Run), element, table);

    /// <summary>The packed kernel taking <paramref name="rowsPerStep"/> (1 or 2) rows a step.</summary>
    public static MethodInfo PackedVariant(Type element, Type table, int rowsPerStep) =>
        KernelMethods.Get(typeof(QkNormRopeKernel), nameof(RunPacked), element, table, rowsPerStep == 2 ? typeof(TwoRows) : typeof(OneRow));

    /// <summary>Rows a step of the packed kernel for rows of <paramref name="rowBytes"/> stage bytes: two when two stages of
    /// two rows fit in <paramref name="sharedBudget"/>.</summary>
    public static int PackedRowsPerStep(int rowBytes, int sharedBudget) => 4 * rowBytes <= sharedBudget ? 2 : 1;

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element) })
            foreach (Type table in element == typeof(Float32Element) ? new[] { element } : new[] { element, typeof(Float32Element) })
            {
                yield return Variant(element, table);
                yield return PackedVariant(element, table, 1);
                yield return PackedVariant(element, table, 2);
            }
    }
}
