using ILGPU.Algorithms;

using TritonOps.Kernels.FusedRmsNormRope;

namespace TritonOps.Kernels.QkNormRope;

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
    /// <summary>1: x · rstd rounded into the dtype before the weight scales it (Llama/Qwen3's norms); the general kernel only.</summary>
    public int NormRoundBeforeWeight;
    /// <summary>1: RoPE as PyTorch eager computes <c>(q * cos) + (rotate_half(q) * sin)</c>: the norm's output rounded into
    /// the dtype, each product and the sum rounded into the promoted dtype (x's when the table is x's dtype, else float32),
    /// the result into x's dtype; the general kernel only.</summary>
    public int RopePerOp;
    /// <summary>Elements from one token's row to the next in q and k (In) and in their outputs (Out): heads · HeadDim for a
    /// dense tensor, more for a slice of a wider row (q and k as views of a fused q/k/v projection).</summary>
    public int InRowStride0, InRowStride1, OutRowStride0, OutRowStride1;
}

/// <summary>Where one thread's pairs sit in a row, and the parts of a stage of the packed kernel (the same for every row).</summary>
internal struct PackedStageLayout
{
    /// <summary>16-byte runs from one token's row to the next in the tensor and in its output; the first run of the thread's
    /// pairs 0 and 1 in a row (a head's first half).</summary>
    public long InRowRuns, OutRowRuns, Column0, Column1;
    /// <summary>Each pair's run within its half-head (its place in the table).</summary>
    public int Run0, Run1;
    public int HalfRuns, TableRuns;
    /// <summary>Byte offsets in a stage: cos, sin, the position; the stage's size.</summary>
    public int CosOffset, SinOffset, PositionOffset, StageBytes;
    public bool Active0, Active1;
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
    [ProgrammaticLaunch]
    public static void Run<TElement, TTable>(
        ArrayView<byte> q, ArrayView<byte> k, ArrayView<byte> qWeight, ArrayView<byte> kWeight,
        ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> qOut, ArrayView<byte> kOut, QkNormRopeShape s)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
    {
        PtxGridDependency.AtEntry();
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int row = Grid.IdxX, tensor = Grid.IdxY;
        int heads = tensor == 0 ? s.Heads0 : s.Heads1;
        var x = tensor == 0 ? q : k;
        var weight = tensor == 0 ? qWeight : kWeight;
        var output = tensor == 0 ? qOut : kOut;
        int hidden = heads * s.HeadDim;
        long first = (long)row * (tensor == 0 ? s.InRowStride0 : s.InRowStride1);
        long outFirst = (long)row * (tensor == 0 ? s.OutRowStride0 : s.OutRowStride1);
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;

        int position = Position(positions, row, s);
        if (position < 0 || position >= s.TableRows)
        {
            // Never read outside the table: the token's row becomes NaN, which no later step can mistake for a value.
            uint nan = TElement.Narrow(float.NaN);
            for (int i = tid; i < hidden; i += Threads)
                TElement.StoreBits(output, outFirst + i, nan);
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
            long headFirst = first + (long)head * s.HeadDim, headOut = outFirst + (long)head * s.HeadDim;
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
                if (s.RopePerOp != 0)
                {
                    yi = Round<TElement>(yi);
                    yj = Round<TElement>(yj);
                    // The sum's own rounding is the store's: into x's dtype either way.
                    TElement.StoreBits(output, headOut + i, TElement.Narrow(PtxMath.Add(
                        Promoted<TElement, TTable>(PtxMath.Mul(yi, cosI)), -Promoted<TElement, TTable>(PtxMath.Mul(yj, sinI)))));
                    TElement.StoreBits(output, headOut + j, TElement.Narrow(PtxMath.Add(
                        Promoted<TElement, TTable>(PtxMath.Mul(yj, cosJ)), Promoted<TElement, TTable>(PtxMath.Mul(yi, sinJ)))));
                    continue;
                }
                TElement.StoreBits(output, headOut + i, TElement.Narrow(yi * cosI - yj * sinI));
                TElement.StoreBits(output, headOut + j, TElement.Narrow(yj * cosJ + yi * sinJ));
            }
            for (int d = s.RotaryDim + lane; d < s.HeadDim; d += 32)
                TElement.StoreBits(output, headOut + d, TElement.Narrow(Normed<TElement>(x, weight, headFirst, weightFirst, d, scale, s)));
        }
    }

    /// <summary>Bytes of one stage of <see cref="RunPacked"/>: each thread's x packs (two a pair), the row's cos and sin (the
    /// rotary dims in the table's dtype) and the position (16 bytes).</summary>
    public static int StageBytes(int threads, int pairsPerThread, int rotaryDim, int tableElementBytes) =>
        threads * 32 * pairsPerThread + 2 * rotaryDim * tableElementBytes + 16;

    /// <summary>Static shared bytes of <see cref="RunPacked"/> (the reduction's scratch), left out of the dynamic budget.</summary>
    public const int StaticSharedBytes = 4 * BlockReduce.ScratchLength;

    /// <summary>
    /// <see cref="Run"/> for full rotate-half rotary (RotaryDim = HeadDim, half a head a whole number of 16-byte
    /// packs): each thread takes <c>TPairs</c> pairs of packs (a pack of a head's first half and its partner in the
    /// second half; pairs t and t + blockDim), so x, the weights, the table and the output move 16 bytes per access
    /// and x is read once. The block is the row's pair count over <c>TPairs</c>, rounded up to 32 (≤ 1024); a per-head
    /// norm sums over the head's consecutive lanes with xor shuffles (the head's pack pairs must be a power of two
    /// ≤ 32). Fixed-order sums, as in <see cref="Run"/>.
    /// Persistent and staged (as <see cref="RmsNormRopeStagedKernel"/>): block b walks rows b, b + G, … of its tensor
    /// (grid row) and keeps the next <paramref name="stages"/> − 1 rows in flight through <c>cp.async</c> into dynamic
    /// shared memory: each thread's own x packs, and the row's cos and sin rows (read from the table at the row's
    /// position, loaded a row before it is staged) once for all heads. Each thread reads back only its own x (once for
    /// the sum, again for the rotation: no row waits in registers across the barrier); the table is published by the
    /// step's barrier (the reduction's, or a plain one for per-head and no norm), after which every thread is also done
    /// with the slot the step then refills. An out-of-table position stages no table and marks the slot (−1): the row
    /// becomes NaN. Long rows take two pairs a thread, sharing a row's fixed work (staging, position, reduction, table)
    /// between them (H200, prefill bf16 [4, 2048, 4096]: 61.4–64.4 → 58.1 µs).
    /// </summary>
    [GlobalMemoryOnly]
    [ProgrammaticLaunch]
    public static void RunPacked<TElement, TTable, TPairs>(
        ArrayView<byte> q, ArrayView<byte> k, ArrayView<byte> qWeight, ArrayView<byte> kWeight,
        ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> qOut, ArrayView<byte> kOut, QkNormRopeShape s, QkNormRopeAddresses addresses, int stages)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
        where TPairs : struct, IStaticCount
    {
        PtxGridDependency.AtEntry();
        var shared = SharedMemory.GetDynamic<byte>(); // stages × StageBytes(…), sized at launch
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int tensor = Grid.IdxY;
        int heads = tensor == 0 ? s.Heads0 : s.Heads1;
        var x = tensor == 0 ? q : k;
        ulong xAddress = tensor == 0 ? addresses.Q : addresses.K;
        var weight = (tensor == 0 ? qWeight : kWeight).Cast<Vec4U>();
        int width = TElement.PackWidth, headRuns = s.HeadDim / width, halfRuns = headRuns / 2;
        int tid = Group.IdxX, threads = Group.DimX, grid = Grid.DimX, pairs = heads * halfRuns;
        var layout = new PackedStageLayout
        {
            InRowRuns = (tensor == 0 ? s.InRowStride0 : s.InRowStride1) / width, OutRowRuns = (tensor == 0 ? s.OutRowStride0 : s.OutRowStride1) / width,
            HalfRuns = halfRuns, TableRuns = s.RotaryDim / TTable.PackWidth, // table: 16-byte runs a row
            Active0 = tid < pairs, Active1 = TPairs.Count == 2 && tid + threads < pairs, Tid = tid, Threads = threads,
        };
        int head0 = layout.Active0 ? tid / halfRuns : 0, head1 = layout.Active1 ? (tid + threads) / halfRuns : 0;
        layout.Run0 = layout.Active0 ? tid - head0 * halfRuns : 0;
        layout.Run1 = layout.Active1 ? tid + threads - head1 * halfRuns : 0;
        layout.Column0 = (long)head0 * headRuns + layout.Run0;
        layout.Column1 = (long)head1 * headRuns + layout.Run1;
        layout.CosOffset = threads * 32 * TPairs.Count;
        layout.SinOffset = layout.CosOffset + 16 * layout.TableRuns;
        layout.PositionOffset = layout.SinOffset + 16 * layout.TableRuns;
        layout.StageBytes = layout.PositionOffset + 16;
        var runs = shared.Cast<Vec4U>();
        float inverseCount = 1f / (s.Scope == 0 ? heads * s.HeadDim : s.HeadDim);

        // The weights are the same for every row: loaded once.
        Vec8F weightA0 = default, weightB0 = default, weightA1 = default, weightB1 = default;
        if (s.Scope != 2)
        {
            if (layout.Active0)
            {
                long run = s.Scope == 0 ? layout.Column0 : layout.Run0;
                weightA0 = Offset(TElement.Unpack(weight[run]), s.WeightOffset);
                weightB0 = Offset(TElement.Unpack(weight[run + halfRuns]), s.WeightOffset);
            }
            if (TPairs.Count == 2 && layout.Active1)
            {
                long run = s.Scope == 0 ? layout.Column1 : layout.Run1;
                weightA1 = Offset(TElement.Unpack(weight[run]), s.WeightOffset);
                weightB1 = Offset(TElement.Unpack(weight[run + halfRuns]), s.WeightOffset);
            }
        }

        // The position of the next row to stage, loaded a row ahead of its staging.
        int stageRow = Grid.IdxX;
        long stagePosition = stageRow < s.Rows ? RawPosition(positions, stageRow, s) : 0;
        for (int st = 0; st < stages - 1; st++)
        {
            if (stageRow < s.Rows)
                Stage<TPairs>(shared, st * layout.StageBytes, x, xAddress, cos, sin, addresses, stageRow, TableRow(stagePosition, s), layout);
            PtxAsyncCopy.Commit();
            stageRow += grid;
            stagePosition = stageRow < s.Rows ? RawPosition(positions, stageRow, s) : 0;
        }

        int slot = 0;
        for (int row = Grid.IdxX; row < s.Rows; row += grid)
        {
            PtxAsyncCopy.Wait(stages - 2); // this thread's copies of this row have landed
            int slotBytes = slot * layout.StageBytes, xRun0 = slotBytes / 16 + 2 * tid, xRun1 = xRun0 + 2 * threads;
            // Pairs past the row's end staged nothing: their slots hold stale bytes, kept out of the sums. x is read from
            // the slot here for the sums and again for the rotation (the slot is refilled only after the next row's barrier).
            float sum0 = layout.Active0 ? TElement.Unpack(runs[xRun0]).SumOfSquares() + TElement.Unpack(runs[xRun0 + 1]).SumOfSquares() : 0f;
            float sum1 = TPairs.Count == 2 && layout.Active1 ? TElement.Unpack(runs[xRun1]).SumOfSquares() + TElement.Unpack(runs[xRun1 + 1]).SumOfSquares() : 0f;
            float scale0 = 1f, scale1 = 1f;
            // The hardware rsqrt times the reciprocal count, as the tuned seed kernels: the IEEE divide and XMath's
            // rounded rsqrt were ~30 instructions a row per thread in a kernel whose issue rate bounds it.
            if (s.Scope == 0)
                scale0 = scale1 = PtxMath.Rsqrt(BlockReduce.Sum(TPairs.Count == 2 ? sum0 + sum1 : sum0, scratch) * inverseCount + s.Eps);
            else
            {
                if (s.Scope == 1)
                {
                    // A head's pairs sit on consecutive lanes (halfRuns of them, aligned), for the thread's second pairs too.
                    for (int mask = halfRuns >> 1; mask > 0; mask >>= 1)
                    {
                        sum0 += Warp.ShuffleXor(sum0, mask);
                        if (TPairs.Count == 2)
                            sum1 += Warp.ShuffleXor(sum1, mask);
                    }
                    scale0 = PtxMath.Rsqrt(sum0 * inverseCount + s.Eps);
                    if (TPairs.Count == 2)
                        scale1 = PtxMath.Rsqrt(sum1 * inverseCount + s.Eps);
                }
                Group.Barrier(); // publishes the staged table (the row norm's reduction does it there)
            }
            // Every thread is past this row's barrier, so done with the previous slot: refill it stages − 1 rows ahead.
            if (stageRow < s.Rows)
                Stage<TPairs>(shared, (slot == 0 ? stages - 1 : slot - 1) * layout.StageBytes, x, xAddress, cos, sin, addresses, stageRow,
                    TableRow(stagePosition, s), layout);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            stageRow += grid;
            stagePosition = stageRow < s.Rows ? RawPosition(positions, stageRow, s) : 0; // checked at its staging, a row from now
            slot = slot == stages - 1 ? 0 : slot + 1;

            long rowRun = row * layout.OutRowRuns;
            if (shared.Cast<int>()[(slotBytes + layout.PositionOffset) / 4] < 0)
            {
                // Never read outside the table: the token's row becomes NaN.
                var nan = TElement.Pack(new Vec8F { E0 = float.NaN, E1 = float.NaN, E2 = float.NaN, E3 = float.NaN, E4 = float.NaN, E5 = float.NaN, E6 = float.NaN, E7 = float.NaN });
                if (layout.Active0)
                    StorePair<TElement>(tensor, qOut, kOut, rowRun + layout.Column0, halfRuns, nan, nan);
                if (TPairs.Count == 2 && layout.Active1)
                    StorePair<TElement>(tensor, qOut, kOut, rowRun + layout.Column1, halfRuns, nan, nan);
                continue;
            }
            // The staged table through the whole-slot view: 16-byte shared loads (a sub-view at a runtime offset
            // compiled to four 4-byte loads a pack). Read once for both pairs when they sit at the same run of their heads.
            int cosPacks = (slotBytes + layout.CosOffset) / 16, sinPacks = (slotBytes + layout.SinOffset) / 16;
            long halfTable = s.RotaryDim / 2, first = layout.Run0 * width;
            Vec8F cosA = StagedTableRun<TTable>(runs, cosPacks, first, width), sinA = StagedTableRun<TTable>(runs, sinPacks, first, width);
            Vec8F cosB = StagedTableRun<TTable>(runs, cosPacks, first + halfTable, width), sinB = StagedTableRun<TTable>(runs, sinPacks, first + halfTable, width);
            if (layout.Active0)
                RotateAndStore<TElement>(tensor, qOut, kOut, rowRun + layout.Column0, halfRuns, runs[xRun0], runs[xRun0 + 1], scale0,
                    weightA0, weightB0, cosA, sinA, cosB, sinB, s.Scope != 2);
            if (TPairs.Count == 2 && layout.Active1)
            {
                if (layout.Run1 != layout.Run0)
                {
                    first = layout.Run1 * width;
                    cosA = StagedTableRun<TTable>(runs, cosPacks, first, width);
                    sinA = StagedTableRun<TTable>(runs, sinPacks, first, width);
                    cosB = StagedTableRun<TTable>(runs, cosPacks, first + halfTable, width);
                    sinB = StagedTableRun<TTable>(runs, sinPacks, first + halfTable, width);
                }
                RotateAndStore<TElement>(tensor, qOut, kOut, rowRun + layout.Column1, halfRuns, runs[xRun1], runs[xRun1 + 1], scale1,
                    weightA1, weightB1, cosA, sinA, cosB, sinB, s.Scope != 2);
            }
        }
    }

    /// <summary>One pair's norm and weight (when <paramref name="normalize"/>), rotation and store: packs <paramref name="xa"/>
    /// (a head's first half) and <paramref name="xb"/> (their partners), out_i = y_i·cos_i − y_j·sin_i, out_j = y_j·cos_j + y_i·sin_j.</summary>
    private static void RotateAndStore<TElement>(int tensor, ArrayView<byte> qOut, ArrayView<byte> kOut, long iRun, int halfRuns,
        Vec4U xa, Vec4U xb, float scale, in Vec8F weightA, in Vec8F weightB, in Vec8F cosA, in Vec8F sinA, in Vec8F cosB, in Vec8F sinB, bool normalize)
        where TElement : struct, IElementType
    {
        Vec8F a = TElement.Unpack(xa), b = TElement.Unpack(xb);
        if (normalize)
        {
            a = a.MultiplyScaled(weightA, scale);
            b = b.MultiplyScaled(weightB, scale);
        }
        StorePair<TElement>(tensor, qOut, kOut, iRun, halfRuns, TElement.Pack(Vec8F.MulAddMul(a, cosA, -1f, b, sinA)),
            TElement.Pack(Vec8F.MulAddMul(b, cosB, 1f, a, sinB)));
    }

    /// <summary>A pair's two packs into q's or k's output. Each output through its own kernel parameter: a view chosen by a
    /// select lost its alignment, and with it the 16-byte store (st.global.b32 ×4 a pack, measured in the PTX).</summary>
    private static void StorePair<TElement>(int tensor, ArrayView<byte> qOut, ArrayView<byte> kOut, long iRun, int halfRuns, Vec4U outI, Vec4U outJ)
        where TElement : struct, IElementType
    {
        if (tensor == 0)
        {
            qOut.Cast<Vec4U>()[iRun] = outI;
            qOut.Cast<Vec4U>()[iRun + halfRuns] = outJ;
        }
        else
        {
            kOut.Cast<Vec4U>()[iRun] = outI;
            kOut.Cast<Vec4U>()[iRun + halfRuns] = outJ;
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

    /// <summary>Issues the copies of one row into a stage: this thread's x packs, a share of the table row at
    /// <paramref name="position"/> (none when it is outside the table) and the position itself (thread 0).</summary>
    private static void Stage<TPairs>(ArrayView<byte> shared, int stageOffset, ArrayView<byte> x, ulong xAddress,
        ArrayView<byte> cos, ArrayView<byte> sin, in QkNormRopeAddresses addresses, int row, int position, in PackedStageLayout layout)
        where TPairs : struct, IStaticCount
    {
        long rowRun = row * layout.InRowRuns;
        int tid = layout.Tid;
        if (layout.Active0)
        {
            long iRun = rowRun + layout.Column0;
            PtxAsyncCopy.Copy16ToDynamic(shared, stageOffset + 32 * tid, x, xAddress, 16 * iRun, 16);
            PtxAsyncCopy.Copy16ToDynamic(shared, stageOffset + 32 * tid + 16, x, xAddress, 16 * (iRun + layout.HalfRuns), 16);
        }
        if (TPairs.Count == 2 && layout.Active1)
        {
            long iRun = rowRun + layout.Column1;
            int at = stageOffset + 32 * (tid + layout.Threads);
            PtxAsyncCopy.Copy16ToDynamic(shared, at, x, xAddress, 16 * iRun, 16);
            PtxAsyncCopy.Copy16ToDynamic(shared, at + 16, x, xAddress, 16 * (iRun + layout.HalfRuns), 16);
        }
        int tableRuns = layout.TableRuns;
        if (position >= 0)
        {
            long tableRun = (long)position * tableRuns;
            for (int j = tid; j < 2 * tableRuns; j += layout.Threads)
            {
                if (j < tableRuns)
                    PtxAsyncCopy.Copy16ToDynamic(shared, stageOffset + layout.CosOffset + 16 * j, cos, addresses.Cos, 16 * (tableRun + j), 16);
                else
                    PtxAsyncCopy.Copy16ToDynamic(shared, stageOffset + layout.SinOffset + 16 * (j - tableRuns), sin, addresses.Sin, 16 * (tableRun + j - tableRuns), 16);
            }
        }
        if (tid == 0)
            shared.Cast<int>()[(stageOffset + layout.PositionOffset) / 4] = position;
    }

    /// <summary>Token <paramref name="row"/>'s table row: its position (from the positions tensor, or its index in the
    /// sequence), or −1 when that lies outside the table.</summary>
    private static int Position(ArrayView<byte> positions, int row, in QkNormRopeShape s) => TableRow(RawPosition(positions, row, s), s);

    /// <summary>Token <paramref name="row"/>'s position as stored (its index in the sequence without a positions tensor),
    /// not yet checked: the packed kernel loads it a row ahead and checks it where it stages the row, so the load has a
    /// row's time to land (checked at the load, every warp waited on it once a row).</summary>
    private static long RawPosition(ArrayView<byte> positions, int row, in QkNormRopeShape s)
    {
        if (s.PositionsMode == 0)
            return row % s.Seq;
        long at = s.PositionsMode == 1 ? row : row % s.Seq;
        return s.PositionBytes == 8 ? positions.Cast<long>()[at] : positions.Cast<int>()[at];
    }

    /// <summary>The table row of a position, or −1 outside [0, TableRows).</summary>
    private static int TableRow(long position, in QkNormRopeShape s) => position < 0 || position >= s.TableRows ? -1 : (int)position;

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
        return s.NormRoundBeforeWeight != 0 ? Round<TElement>(v * scale) * w : v * scale * w;
    }

    /// <summary>v rounded into the element type and back.</summary>
    private static float Round<TElement>(float v) where TElement : struct, IElementType => TElement.Widen(TElement.Narrow(v));

    /// <summary>v rounded into the type PyTorch promotes x's dtype and the table's to: x's when they agree, float32 (v
    /// itself) when the table is float32 (the only other table the ops take, so the pack widths tell them apart).</summary>
    private static float Promoted<TElement, TTable>(float v) where TElement : struct, IElementType where TTable : struct, IElementType =>
        TTable.PackWidth == TElement.PackWidth ? Round<TElement>(v) : v;

    public static MethodInfo Variant(Type element, Type table) => KernelMethods.Get(typeof(QkNormRopeKernel), nameof(Run), element, table);

    /// <summary>The packed kernel whose threads take <paramref name="pairsPerThread"/> (1 or 2) pairs of a row.</summary>
    public static MethodInfo PackedVariant(Type element, Type table, int pairsPerThread) =>
        KernelMethods.Get(typeof(QkNormRopeKernel), nameof(RunPacked), element, table, pairsPerThread == 2 ? typeof(Two) : typeof(One));

    /// <summary>Pairs a thread for rows of <paramref name="pairRuns"/> pack pairs: two past <see cref="OnePairMaxPairs"/>
    /// when there are rows enough to fill the chip several times over (prefill), where a row's fixed work shared by two
    /// pairs pays; one for short rows and decode, where 256-thread blocks finish a row sooner.</summary>
    public static int PairsPerThread(int pairRuns, int rows, int multiprocessors) =>
        pairRuns > OnePairMaxPairs && rows >= 8 * multiprocessors ? 2 : 1;

    /// <summary>The most pairs a row has for one pair a thread regardless of the row count (one 128-thread block).</summary>
    public const int OnePairMaxPairs = 128;

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
            foreach (Type table in element == typeof(Float32Element) ? new[] { element } : new[] { element, typeof(Float32Element) })
            {
                yield return Variant(element, table);
                yield return PackedVariant(element, table, 1);
                yield return PackedVariant(element, table, 2);
            }
    }
}
