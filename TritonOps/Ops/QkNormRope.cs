using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.FusedRmsNormRope;
using TritonOps.Kernels.QkNormRope;

namespace TritonOps;

/// <summary>The validated sizes and choices of one general norm + RoPE call.</summary>
internal readonly record struct QkNormRopeSizes(int Batch, int Seq, int HeadDim, int RotaryDim, int QHeads, int KHeads, int TableRows,
    bool PerTokenTable = false);

/// <summary>What a cos/sin tensor holds: a table of <paramref name="Rows"/> rows read at each token's position, or
/// (<paramref name="PerToken"/>) one row for each token of the batch, row b · seq + s for token (b, s).</summary>
internal readonly record struct RopeTableShape(int Rows, bool PerToken)
{
    /// <summary>A table <c>[rows, dim]</c> (or <c>[1, rows, dim]</c>, <c>[1, rows, 1, dim]</c>, <c>[1, 1, rows, dim]</c>), or,
    /// where <paramref name="perTokenAllowed"/> and the batch has more than one sequence, transformers' per-token rows
    /// <c>[batch, seq, dim]</c> (its rotary module's output for <c>position_ids</c> <c>[batch, seq]</c>; also
    /// <c>[batch, 1, seq, dim]</c> and <c>[batch, seq, 1, dim]</c>, its unsqueezed forms); null where neither.</summary>
    public static RopeTableShape? Of(Tensor cos, int batch, int seq, bool perTokenAllowed)
    {
        var s = cos.Shape;
        switch (s.Count)
        {
            case 2: return new(s[0], false);
            case 3 when s[0] == 1: return new(s[1], false);
            case 4 when s[0] == 1 && (s[1] == 1 || s[2] == 1): return new(s[1] * s[2], false);
        }
        bool perToken = perTokenAllowed && batch > 1 && s.Count switch
        {
            3 => s[0] == batch && s[1] == seq,
            4 => s[0] == batch && (s[1] == seq && s[2] == 1 || s[1] == 1 && s[2] == seq),
            _ => false,
        };
        return perToken ? new(checked(batch * seq), true) : null;
    }

    /// <summary>The accepted forms, for an error message.</summary>
    public static string Expected(string rows, string dim, int batch, int seq, bool perTokenAllowed) =>
        $"[{rows}, {dim}] (or [1, {rows}, {dim}], [1, {rows}, 1, {dim}], [1, 1, {rows}, {dim}])"
        + (perTokenAllowed ? $", or per token [batch = {batch}, seq = {seq}, {dim}] (transformers' cos/sin for position_ids [batch, seq])" : "");

    /// <summary>The positions that read per-token rows as a table: token (b, s) at row b · seq + s, int32 <c>[batch, seq]</c>
    /// (a view of a ramp the device keeps: a decode loop uploads it once).</summary>
    public static Tensor TokenRows(Device device, int batch, int seq)
    {
        // One ramp 0, 1, 2, … per power-of-two length, its first batch · seq entries viewed: prefill lengths do not each
        // keep a buffer of their own.
        int capacity = (int)Math.Max(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)checked(batch * seq)));
        Tensor? rows = null;
        device.WithConstantTensor(("token rows", capacity),
            key => System.Runtime.InteropServices.MemoryMarshal.AsBytes(Enumerable.Range(0, key.capacity).ToArray().AsSpan()).ToArray(),
            bytes => rows = bytes.BytesAs(DType.Int32, [batch, seq]));
        return rows!;
    }
}

public static partial class Ops
{

    /// <summary>
    /// RMSNorm then RoPE as real models apply it to one tensor: each token at its own position, the norm over the
    /// token's row (OLMo2), per head (Qwen3, Gemma 3) or none, rotate-half or interleaved pairs over the first
    /// <paramref name="rotaryDim"/> dims of each head (the rest normalized and weighted only). One kernel, float32
    /// math, one rounding at the store. The seed's form (norm over the row, rotate-half over the whole head, cos/sin
    /// rows 0…seq−1 in x's dtype, no positions) takes the tuned kernels of
    /// <see cref="FusedRmsNormRope(Tensor, Tensor, Tensor, Tensor, double, int?, Tensor?)"/>.
    /// </summary>
    /// <param name="x"><c>[batch, seq, heads · headDim]</c>, float32, float16 or bfloat16, contiguous; or per head, a
    /// contiguous <c>[batch, seq, heads, headDim]</c> or its <c>transpose(1, 2)</c> view <c>[batch, heads, seq, headDim]</c>
    /// (as transformers hands q and k to <c>apply_rotary_pos_emb</c>): the result keeps the shape and kind of view given.</param>
    /// <param name="weight"><c>[heads · headDim]</c> for <see cref="NormScope.Hidden"/>, <c>[headDim]</c> for
    /// <see cref="NormScope.PerHead"/>, x's dtype; ignored (may be null) for <see cref="NormScope.None"/>.</param>
    /// <param name="cos">The model's table <c>[maxPositions, rotaryDim]</c> (or <c>[1, maxPositions, rotaryDim]</c>, what
    /// transformers' rotary module returns for positions 0…P−1, <c>[1, maxPositions, 1, rotaryDim]</c> or
    /// <c>[1, 1, maxPositions, rotaryDim]</c>): entry [p, j] is the cosine rotary dim j uses at position p
    /// (<c>RopeTable.Create</c> makes it), float32 or x's dtype. Without <paramref name="positions"/>, also each token's
    /// own row <c>[batch, seq, rotaryDim]</c> (the rotary module's output for <c>position_ids</c> <c>[batch, seq]</c>; also
    /// <c>[batch, 1, seq, rotaryDim]</c> and <c>[batch, seq, 1, rotaryDim]</c>).</param>
    /// <param name="sin">Same shape and dtype as <paramref name="cos"/>.</param>
    /// <param name="positions">int32 or int64, <c>[batch, seq]</c>, or <c>[seq]</c> or <c>[1, seq]</c> (shared by the batch:
    /// transformers' default <c>position_ids</c> is <c>arange(seq).unsqueeze(0)</c>); null: token
    /// (b, s) is at position s. A position outside [0, maxPositions) is never read past the table: that token's
    /// output row is NaN.</param>
    /// <param name="headDim">Dims of a head (even).</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="scope">What the norm covers.</param>
    /// <param name="form">How rotary dims pair.</param>
    /// <param name="rotaryDim">Rotary dims of each head, even, ≤ headDim; 0: all of them.</param>
    /// <param name="weightOffset">Added to each weight: 1 for Gemma's <c>(1 + w)</c>.</param>
    /// <param name="output">Optional destination of x's shape and dtype; x itself is allowed (in place).</param>
    /// <param name="normRounding">Where the 16-bit norm rounds (<see cref="NormRounding.Llama"/>: Qwen3's q_norm/k_norm).</param>
    /// <param name="ropeRounding">Where RoPE rounds (<see cref="RopeRounding.PerOp"/>: transformers' eager RoPE, bit for bit).
    /// Either non-default choice runs on the general kernel.</param>
    public static Tensor FusedRmsNormRope(Tensor x, Tensor? weight, Tensor cos, Tensor sin, Tensor? positions, int headDim,
        double eps = 1e-6, NormScope scope = NormScope.Hidden, RotaryForm form = RotaryForm.RotateHalf, int rotaryDim = 0,
        float weightOffset = 0, Tensor? output = null, NormRounding normRounding = NormRounding.Once, RopeRounding ropeRounding = RopeRounding.Once)
    {
        using var xRows = HeadsAsRows(x, headDim);
        using var outputRows = HeadsAsRows(output, headDim);
        var y = FusedRmsNormRopeScheduled(xRows ?? x, weight, cos, sin, positions, headDim, eps, scope, form, rotaryDim, weightOffset,
            outputRows ?? output, default, normRounding, ropeRounding);
        return output ?? AsShapeOf(y, x);
    }

    /// <summary>q, k or x given per head as the <c>[batch, seq, heads · headDim]</c> rows the kernels read (a view of the same
    /// memory): a contiguous <c>[batch, seq, heads, headDim]</c> (transformers' <c>view(hidden_shape)</c>); heads sliced out
    /// of a fused projection's per-head view (rows one stride apart, where the op takes row-strided tensors); or either as
    /// its <c>transpose(1, 2)</c> view <c>[batch, heads, seq, headDim]</c> (as transformers hands q and k to
    /// <c>apply_rotary_pos_emb</c>), told apart by strides: heads one head apart, seq further. Null for any other tensor
    /// (the validation then names it as given). A contiguous <c>[batch, heads, seq, headDim]</c> copy cannot be told from
    /// the first form: pass the view, or rows.</summary>
    private static Tensor? HeadsAsRows(Tensor? t, int headDim)
    {
        if (t is not { IsDisposed: false, Rank: 4 } || t.Shape[3] != headDim || headDim <= 0)
            return null;
        if (!HeadsAheadOfSeq(t))
            return t.MergeDims(2); // contiguous, or heads sliced out of a fused view: rows one stride apart
        using var bySeq = t.Transpose(1, 2); // [batch, seq, heads, headDim]
        return bySeq.MergeDims(2);
    }

    /// <summary>Whether a non-contiguous per-head <paramref name="t"/> has heads ahead of seq (a <c>transpose(1, 2)</c> view):
    /// dimension 1 one head apart (size-1 dimensions keep the stride they had before the transpose), dimension 2 further
    /// apart or of size 1.</summary>
    private static bool HeadsAheadOfSeq(Tensor t) =>
        !t.IsContiguous && t.Strides[3] == 1 && t.Strides[1] == t.Shape[3]
        && (t.Shape[2] == 1 || t.Shape[1] == 1 || t.Strides[2] > t.Strides[1]);

    /// <summary><paramref name="result"/> (a new tensor of rows) in <paramref name="input"/>'s shape where that differs, and
    /// as the same kind of view (heads ahead of seq where the input had them).</summary>
    private static Tensor AsShapeOf(Tensor result, Tensor input)
    {
        if (result.Shape.SequenceEqual(input.Shape))
            return result;
        using (result)
        {
            if (input.Rank != 4 || !HeadsAheadOfSeq(input))
                return result.Reshape(input.Shape.ToArray());
            using var bySeq = result.Reshape(input.Shape[0], input.Shape[2], input.Shape[1], input.Shape[3]);
            return bySeq.Transpose(1, 2);
        }
    }

    /// <summary><see cref="FusedRmsNormRope(Tensor, Tensor?, Tensor, Tensor, Tensor?, int, double, NormScope, RotaryForm, int, float, Tensor?, NormRounding, RopeRounding)"/>
    /// with the packed kernel's schedule pinned (benchmark sweeps; default: the op's choice).</summary>
    internal static Tensor FusedRmsNormRopeScheduled(Tensor x, Tensor? weight, Tensor cos, Tensor sin, Tensor? positions, int headDim,
        double eps, NormScope scope, RotaryForm form, int rotaryDim, float weightOffset, Tensor? output, QkNormRopeSchedule schedule,
        NormRounding normRounding = NormRounding.Once, RopeRounding ropeRounding = RopeRounding.Once)
    {
        var sizes = ValidateQkNormRope(x, weight, null, null, cos, sin, positions, headDim, eps, scope, form, ref rotaryDim, weightOffset,
            nameof(x), nameof(weight), normRounding, ropeRounding);
        if (output is not null)
            CheckOutput(output, x, x.Shape.ToArray());
        bool onceRounded = normRounding == NormRounding.Once && ropeRounding == RopeRounding.Once;
        // The seed's form keeps its tuned kernels (the seed's op takes its two table shapes: the 2-D views of the others).
        if (onceRounded && scope == NormScope.Hidden && form == RotaryForm.RotateHalf && rotaryDim == headDim && positions is null
            && cos.DType == x.DType && sizes.TableRows == sizes.Seq && weightOffset == 0 && !sizes.PerTokenTable)
        {
            using var cos2 = cos.Reshape(sizes.TableRows, rotaryDim);
            using var sin2 = sin.Reshape(sizes.TableRows, rotaryDim);
            return FusedRmsNormRope(x, weight!, cos2, sin2, eps, null, output, default);
        }
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty(x.Shape.ToArray(), x.DType, x.Device);
        using var tokenRows = sizes.PerTokenTable ? RopeTableShape.TokenRows(x.Device, sizes.Batch, sizes.Seq) : null;
        positions ??= tokenRows;
        // The row norm with full rotate-half rotary (OLMo2's q and k) streams through the seed's staged kernel where it
        // can: bf16 [4, 2048, 4096], float32 table, int64 positions on the H200: 55.9 µs on the packed kernel (140
        // registers, latency-bound), 41.0–41.6 µs on the staged one (the seed's form there: 40.5, the same run).
        if (onceRounded && scope == NormScope.Hidden && form == RotaryForm.RotateHalf && rotaryDim == headDim && weightOffset == 0
            && schedule.Staged != false && schedule.PairsPerThread == 0 && schedule.BlocksPerSm == 0
            && (x.ElementCount == 0 || TryFusedRmsNormRopeStaged(x, weight!, cos, sin, positions, headDim, sizes.TableRows, eps, output)))
            return output;
        if (schedule.Staged == true)
            throw new InvalidOperationException("The pinned staged kernel cannot take this call.");
        LaunchQkNormRope(x, null, weight, null, cos, sin, positions, output, null, sizes, eps, scope, form, weightOffset, schedule,
            normRounding, ropeRounding);
        return output;
    }

    /// <summary>
    /// Norm then RoPE of a layer's q and k in one launch (GQA: their head counts may differ), each token at its own
    /// position: Qwen3 / Gemma 3 (<see cref="NormScope.PerHead"/>, the default), OLMo2 (<see cref="NormScope.Hidden"/>),
    /// or RoPE alone (<see cref="NormScope.None"/>, see <see cref="Rope"/>). Arguments as in
    /// <see cref="FusedRmsNormRope(Tensor, Tensor?, Tensor, Tensor, Tensor?, int, double, NormScope, RotaryForm, int, float, Tensor?, NormRounding, RopeRounding)"/>;
    /// q <c>[batch, seq, qHeads · headDim]</c>, k <c>[batch, seq, kHeads · headDim]</c> of one dtype (or per head, as x of
    /// the one-tensor op takes it: the result keeps the shape and kind of view given); outputs may be
    /// the inputs themselves (in place). q, k and the outputs may be views whose rows lie one stride apart with the last
    /// dimension dense: q and k as <c>Narrow(2, …)</c> slices of one fused q/k/v projection's output, read in place.
    /// </summary>
    /// <returns>The normed and rotated q and k (the outputs given, or new tensors).</returns>
    public static (Tensor Q, Tensor K) FusedQkNormRope(Tensor q, Tensor k, Tensor? qWeight, Tensor? kWeight, Tensor cos, Tensor sin,
        Tensor? positions, int headDim, double eps = 1e-6, NormScope scope = NormScope.PerHead, RotaryForm form = RotaryForm.RotateHalf,
        int rotaryDim = 0, float weightOffset = 0, Tensor? qOutput = null, Tensor? kOutput = null,
        NormRounding normRounding = NormRounding.Once, RopeRounding ropeRounding = RopeRounding.Once)
    {
        using var qRows = HeadsAsRows(q, headDim);
        using var kRows = HeadsAsRows(k, headDim);
        using var qOutputRows = HeadsAsRows(qOutput, headDim);
        using var kOutputRows = HeadsAsRows(kOutput, headDim);
        var (qy, ky) = FusedQkNormRopeRows(qRows ?? q, kRows ?? k, qWeight, kWeight, cos, sin, positions, headDim, eps, scope, form, rotaryDim,
            weightOffset, qOutputRows ?? qOutput, kOutputRows ?? kOutput, normRounding, ropeRounding);
        return (qOutput ?? AsShapeOf(qy, q), kOutput ?? AsShapeOf(ky, k));
    }

    private static (Tensor Q, Tensor K) FusedQkNormRopeRows(Tensor q, Tensor k, Tensor? qWeight, Tensor? kWeight, Tensor cos, Tensor sin,
        Tensor? positions, int headDim, double eps, NormScope scope, RotaryForm form, int rotaryDim, float weightOffset, Tensor? qOutput,
        Tensor? kOutput, NormRounding normRounding, RopeRounding ropeRounding)
    {
        var sizes = ValidateQkNormRope(q, qWeight, k, kWeight, cos, sin, positions, headDim, eps, scope, form, ref rotaryDim, weightOffset,
            normRounding: normRounding, ropeRounding: ropeRounding, rowStrided: true);
        if (qOutput is not null)
            CheckOutput(qOutput, q, q.Shape.ToArray(), nameof(qOutput), nameof(q), rowStrided: true);
        if (kOutput is not null)
            CheckOutput(kOutput, k, k.Shape.ToArray(), nameof(kOutput), nameof(k), rowStrided: true);
        // q's blocks and k's run at once: an output may be its own input (in place), never the other tensor's or the other output.
        if (qOutput is not null)
        {
            Check.NoOverlap(qOutput, nameof(qOutput), q, nameof(q), inPlaceAllowed: true);
            Check.NoOverlap(qOutput, nameof(qOutput), k, nameof(k), inPlaceAllowed: false);
            if (kOutput is not null)
                Check.NoOverlap(kOutput, nameof(kOutput), qOutput, nameof(qOutput), inPlaceAllowed: false);
        }
        if (kOutput is not null)
        {
            Check.NoOverlap(kOutput, nameof(kOutput), k, nameof(k), inPlaceAllowed: true);
            Check.NoOverlap(kOutput, nameof(kOutput), q, nameof(q), inPlaceAllowed: false);
        }
        using var gate = q.Device.Enter();
        qOutput ??= Tensor.Empty(q.Shape.ToArray(), q.DType, q.Device);
        kOutput ??= Tensor.Empty(k.Shape.ToArray(), k.DType, k.Device);
        using var tokenRows = sizes.PerTokenTable ? RopeTableShape.TokenRows(q.Device, sizes.Batch, sizes.Seq) : null;
        positions ??= tokenRows;
        LaunchQkNormRope(q, k, qWeight, kWeight, cos, sin, positions, qOutput, kOutput, sizes, eps, scope, form, weightOffset, default,
            normRounding, ropeRounding);
        return (qOutput, kOutput);
    }

    /// <summary>RoPE alone on q and k (Llama, Mistral: no q/k norm), each token at its own position; in place when
    /// <paramref name="inPlace"/> (q and k are rewritten and returned), else into new tensors. <paramref name="rounding"/>:
    /// where RoPE rounds (<see cref="RopeRounding.PerOp"/>: as transformers' eager RoPE).</summary>
    public static (Tensor Q, Tensor K) Rope(Tensor q, Tensor k, Tensor cos, Tensor sin, Tensor? positions, int headDim,
        RotaryForm form = RotaryForm.RotateHalf, int rotaryDim = 0, bool inPlace = false, RopeRounding rounding = RopeRounding.Once)
    {
        Check.Defined(rounding, nameof(rounding)); // named as the caller passed it
        return FusedQkNormRope(q, k, null, null, cos, sin, positions, headDim, 0, NormScope.None, form, rotaryDim, 0,
            inPlace ? q : null, inPlace ? k : null, ropeRounding: rounding);
    }

    /// <summary>How the kernels read positions: 0 none (token s at position s), 1 per token (<c>[batch, seq]</c>), 2 shared by
    /// the batch (<c>[seq]</c>, or <c>[1, seq]</c> beside a batch of more than one).</summary>
    internal static int PositionsMode(Tensor? positions, int batch) =>
        positions is null ? 0 : positions.Rank == 2 && positions.Shape[0] == batch ? 1 : 2;

    private static void LaunchQkNormRope(Tensor q, Tensor? k, Tensor? qWeight, Tensor? kWeight, Tensor cos, Tensor sin, Tensor? positions,
        Tensor qOut, Tensor? kOut, QkNormRopeSizes sizes, double eps, NormScope scope, RotaryForm form, float weightOffset,
        QkNormRopeSchedule schedule = default, NormRounding normRounding = NormRounding.Once, RopeRounding ropeRounding = RopeRounding.Once)
    {
        int rows = checked(sizes.Batch * sizes.Seq);
        if (rows == 0)
            return;
        var shape = new QkNormRopeShape
        {
            Rows = rows, Seq = sizes.Seq, Heads0 = sizes.QHeads, Heads1 = sizes.KHeads, HeadDim = sizes.HeadDim, RotaryDim = sizes.RotaryDim,
            Interleaved = form == RotaryForm.Interleaved ? 1 : 0, Scope = (int)scope, Eps = (float)eps, WeightOffset = weightOffset,
            TableRows = sizes.TableRows,
            PositionsMode = PositionsMode(positions, q.Shape[0]),
            PositionBytes = positions is null ? 4 : DTypes.SizeOf(positions.DType),
            NormRoundBeforeWeight = normRounding == NormRounding.Llama && scope != NormScope.None ? 1 : 0,
            RopePerOp = ropeRounding == RopeRounding.PerOp ? 1 : 0,
            InRowStride0 = (int)q.RowStride!.Value, InRowStride1 = (int)(k?.RowStride ?? 0),
            OutRowStride0 = (int)qOut.RowStride!.Value, OutRowStride1 = (int)(kOut?.RowStride ?? 0),
        };
        bool onceRounded = shape.NormRoundBeforeWeight == 0 && shape.RopePerOp == 0;
        int tensors = k is null || sizes.KHeads == 0 ? 1 : 2;
        if (sizes.QHeads == 0 && tensors == 1)
            return;
        var device = q.Device;
        // The row strides in bytes join the addresses: the packed kernel's 16-byte copies need every row aligned.
        int elementBytes = DTypes.SizeOf(q.DType);
        ulong addressBits = q.DeviceAddress | qOut.DeviceAddress | cos.DeviceAddress | sin.DeviceAddress
            | (k?.DeviceAddress ?? 0) | (kOut?.DeviceAddress ?? 0) | (qWeight?.DeviceAddress ?? 0) | (kWeight?.DeviceAddress ?? 0)
            | (ulong)(uint)((shape.InRowStride0 | shape.InRowStride1 | shape.OutRowStride0 | shape.OutRowStride1) * elementBytes);
        var plan = QkNormRopePlan.For(sizes, DTypes.SizeOf(q.DType), DTypes.SizeOf(cos.DType), scope, form, rows, device.Multiprocessors,
            device.HasAsyncCopy, addressBits % 16 == 0, schedule.PairsPerThread);
        int threads = plan.Threads, pairsPerThread = plan.PairsPerThread, stages = plan.Stages, stageBytes = plan.StageBytes;
        // Absent tensors are never read: any live view stands in for them. q, k and their outputs may be row-strided views.
        ArrayView<byte> Or(Tensor? t) => (t ?? q).Bytes;
        ArrayView<byte> Rows(Tensor? t) => (t ?? q).ExtentBytes;
        // A block as wide as the row must also fit the kernel's registers (640 threads at the one-pair variant's 104 do not).
        if (onceRounded && plan.Packed && QkNormRopeKernel.PackedVariant(ElementTypeOf(q.DType), ElementTypeOf(cos.DType), pairsPerThread) is var packedKernel
            && threads <= device.MaxGroupSize(packedKernel))
        {
            int dynamicBytes = stages * stageBytes;
            // Persistent: as many blocks as fit on the chip, shared by the tensors.
            int perSm = device.BlocksPerMultiprocessor(packedKernel, threads, dynamicBytes);
            if (schedule.BlocksPerSm > 0)
                perSm = Math.Min(perSm, schedule.BlocksPerSm);
            int blocks = Math.Min(rows, Math.Max(1, device.Multiprocessors * perSm / tensors));
            var addresses = new QkNormRopeAddresses
            {
                Q = q.DeviceAddress, K = (k ?? q).DeviceAddress, Cos = cos.DeviceAddress, Sin = sin.DeviceAddress,
            };
            device.Launch(packedKernel, new KernelConfig(new Index2D(blocks, tensors), new Index2D(threads, 1), SharedMemoryConfig.RequestDynamic<byte>(dynamicBytes)),
                Rows(q), Rows(k), Or(qWeight), Or(kWeight), cos.Bytes, sin.Bytes, Or(positions), Rows(qOut), Rows(kOut), shape, addresses, stages);
            return;
        }
        device.Launch(QkNormRopeKernel.Variant(ElementTypeOf(q.DType), ElementTypeOf(cos.DType)), new KernelConfig(new Index2D(rows, tensors), new Index2D(QkNormRopeKernel.Threads, 1)),
            Rows(q), Rows(k), Or(qWeight), Or(kWeight), cos.Bytes, sin.Bytes, Or(positions), Rows(qOut), Rows(kOut), shape);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static QkNormRopeSizes ValidateQkNormRope(Tensor q, Tensor? qWeight, Tensor? k, Tensor? kWeight, Tensor cos, Tensor sin,
        Tensor? positions, int headDim, double eps, NormScope scope, RotaryForm form, ref int rotaryDim, float weightOffset,
        string qName = "q", string qWeightName = "qWeight", NormRounding normRounding = NormRounding.Once, RopeRounding ropeRounding = RopeRounding.Once,
        bool rowStrided = false)
    {
        Check.Usable(q, qName);
        Check.Defined(scope, nameof(scope));
        Check.Defined(normRounding, nameof(normRounding));
        Check.Defined(ropeRounding, nameof(ropeRounding));
        Check.Defined(form, nameof(form));
        Check.Usable(cos, nameof(cos));
        Check.Usable(sin, nameof(sin));
        Check.SameDevice(cos, nameof(cos), q, qName);
        Check.SameDevice(sin, nameof(sin), q, qName);
        if (k is not null)
            Check.SameDevice(k, nameof(k), q, qName);
        if (positions is not null)
            Check.SameDevice(positions, nameof(positions), q, qName);
        if (scope != NormScope.None)
        {
            Check.SameDevice(Check.Usable(qWeight, qWeightName), qWeightName, q, qName);
            if (k is not null)
                Check.SameDevice(Check.Usable(kWeight, nameof(kWeight)), nameof(kWeight), q, qName);
        }

        Check.DType(q, qName, DType.Float32, DType.Float16, DType.BFloat16);
        if (k is not null)
            Check.SameDType(k, nameof(k), q, qName);
        if (scope != NormScope.None)
        {
            Check.SameDType(qWeight!, qWeightName, q, qName);
            if (k is not null)
                Check.SameDType(kWeight!, nameof(kWeight), q, qName);
        }
        if (cos.DType != DType.Float32)
            Check.SameDType(cos, nameof(cos), q, qName);
        Check.SameDType(sin, nameof(sin), cos, nameof(cos));
        if (positions is not null)
            Check.DType(positions, nameof(positions), DType.Int32, DType.Int64);

        Check.Rank(q, qName, 3, "[batch, seq, heads · head_dim] (or a contiguous [batch, seq, heads, head_dim], or its transpose(1, 2) view)");
        int batch = q.Shape[0], seq = q.Shape[1];
        if (k is not null)
        {
            Check.Rank(k, nameof(k), 3, "[batch, seq, kv_heads · head_dim] (or a contiguous [batch, seq, kv_heads, head_dim], or its transpose(1, 2) view)");
            Check.Shape(k.Shape[0] == batch && k.Shape[1] == seq, nameof(k), $"[batch = {batch}, seq = {seq}, …] like q", k);
        }
        Check.Shape(headDim > 0 && headDim % 2 == 0, nameof(headDim), "an even head_dim > 0", headDim.ToString());
        Check.Shape(q.Shape[2] % headDim == 0, qName, $"a last dimension divisible by head_dim = {headDim}", q);
        if (k is not null)
            Check.Shape(k.Shape[2] % headDim == 0, nameof(k), $"a last dimension divisible by head_dim = {headDim}", k);
        if (rotaryDim == 0)
            rotaryDim = headDim;
        Check.Shape(rotaryDim > 0 && rotaryDim % 2 == 0 && rotaryDim <= headDim, nameof(rotaryDim),
            $"an even rotary_dim in (0, head_dim = {headDim}]", rotaryDim.ToString());
        var table = RopeTableShape.Of(cos, batch, seq, perTokenAllowed: positions is null);
        Check.Shape(table is not null, nameof(cos), RopeTableShape.Expected("max_positions", $"rotary_dim = {rotaryDim}", batch, seq, positions is null)
            + (positions is null ? "" : " (per-token rows only without positions)"), cos);
        Check.Shape(cos.Shape[^1] == rotaryDim, nameof(cos), $"rotary_dim = {rotaryDim} in the last dimension", cos);
        Check.Shape(sin.Shape.SequenceEqual(cos.Shape), nameof(sin), $"the shape of 'cos' {cos.ShapeText}", sin);
        int tableRows = table!.Value.Rows;
        if (positions is null)
            Check.Shape(tableRows >= seq, nameof(cos), $"at least seq = {seq} rows (positions 0…seq−1, no positions given)", cos);
        else
            Check.Shape(positions.Shape.SequenceEqual([batch, seq]) || positions.Shape.SequenceEqual([seq]) || positions.Shape.SequenceEqual([1, seq]),
                nameof(positions), $"[batch = {batch}, seq = {seq}], or [seq = {seq}] or [1, seq = {seq}] (shared by the batch)", positions);
        if (scope != NormScope.None)
        {
            int Expected(Tensor t) => scope == NormScope.PerHead ? headDim : t.Shape[2];
            Check.Shape(qWeight!.Rank == 1 && qWeight.Shape[0] == Expected(q), qWeightName,
                scope == NormScope.PerHead ? $"[head_dim = {headDim}] (per-head norm)" : $"[{q.Shape[2]}] (norm over the row)", qWeight);
            if (k is not null)
                Check.Shape(kWeight!.Rank == 1 && kWeight.Shape[0] == Expected(k), nameof(kWeight),
                    scope == NormScope.PerHead ? $"[head_dim = {headDim}] (per-head norm)" : $"[{k.Shape[2]}] (norm over the row)", kWeight);
        }
        if (rowStrided)
        {
            Check.RowStrided(q, qName);
            if (k is not null) Check.RowStrided(k, nameof(k));
        }
        else
        {
            Check.Contiguous(q, qName);
            if (k is not null) Check.Contiguous(k, nameof(k));
        }
        if (scope != NormScope.None)
        {
            Check.Contiguous(qWeight!, qWeightName);
            if (k is not null) Check.Contiguous(kWeight!, nameof(kWeight));
        }
        Check.Contiguous(cos, nameof(cos));
        Check.Contiguous(sin, nameof(sin));
        if (positions is not null) Check.Contiguous(positions, nameof(positions));
        Check.Eps(eps);
        if (!float.IsFinite(weightOffset))
            throw Check.Invalid(nameof(weightOffset), $"expected a finite value, got {weightOffset}.");
        return new QkNormRopeSizes(batch, seq, headDim, rotaryDim, q.Shape[2] / headDim, k is null ? 0 : k.Shape[2] / headDim, tableRows,
            table.Value.PerToken);
    }
}

/// <summary>A pinned schedule (tests, benchmark sweeps): the packed kernel's pairs a thread (1 or 2) and most blocks an SM
/// (0: the op's choice; pinning either keeps the call off the staged kernel), or the seed's staged kernel for the row norm
/// with full rotate-half rotary (true: it must take the call; false: never; null: where it can).</summary>
internal readonly record struct QkNormRopeSchedule(int PairsPerThread = 0, int BlocksPerSm = 0, bool? Staged = null);

/// <summary>
/// Which kernel a norm+RoPE call takes and with what block, from validated sizes and the device's traits (pure: tests
/// call it without a GPU). The packed kernel needs full rotate-half rotary with half a head in whole 16-byte packs,
/// one or two pairs of packs a thread (≤ 1024 threads a row; two for rows past 128 pairs with rows enough to fill the
/// chip several times, <see cref="QkNormRopeKernel.PairsPerThread"/>), 16-byte-aligned tensors, <c>cp.async</c>, at least
/// two stages in the 48 KB a block gets without opting in, and, for a per-head norm, a power-of-two count (≤ 32) of a
/// head's pairs. The launch also checks the block against the kernel's registers (<c>Device.MaxGroupSize</c>); the
/// general kernel (<see cref="QkNormRopeKernel.Threads"/> threads a token) takes everything else.
/// </summary>
internal readonly record struct QkNormRopePlan(bool Packed, int PairsPerThread, int Threads, int Stages, int StageBytes)
{
    public static QkNormRopePlan For(QkNormRopeSizes sizes, int elementBytes, int tableElementBytes, NormScope scope, RotaryForm form,
        int rows, int multiprocessors, bool hasAsyncCopy, bool aligned16, int pinnedPairsPerThread = 0)
    {
        int width = 16 / elementBytes, halfRuns = sizes.HeadDim / 2 / width;
        int pairRuns = Math.Max(sizes.QHeads, sizes.KHeads) * halfRuns;
        int pairsPerThread = pinnedPairsPerThread > 0 ? pinnedPairsPerThread : QkNormRopeKernel.PairsPerThread(pairRuns, rows, multiprocessors);
        int threads = ((pairRuns + pairsPerThread - 1) / pairsPerThread + 31) / 32 * 32;
        int stageBytes = QkNormRopeKernel.StageBytes(threads, pairsPerThread, sizes.RotaryDim, tableElementBytes);
        int stages = Math.Min(4, (48 * 1024 - QkNormRopeKernel.StaticSharedBytes) / stageBytes);
        bool packed = form == RotaryForm.RotateHalf && sizes.RotaryDim == sizes.HeadDim && (sizes.HeadDim / 2) % width == 0
            && threads <= 1024 && aligned16 && hasAsyncCopy && stages >= 2
            && (scope != NormScope.PerHead || (halfRuns & (halfRuns - 1)) == 0 && halfRuns <= 32);
        return new QkNormRopePlan(packed, pairsPerThread, threads, stages, stageBytes);
    }
}
