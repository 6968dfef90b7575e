namespace TritonOps.Tests;

/// <summary>Norm + RoPE as real models use it (positions, per-head norms, partial and interleaved rotary, q and k
/// in one launch, RoPE alone), on every accelerator, against the float64 reference.</summary>
public class QkNormRopeTests(DeviceKind kind) : OnEveryDevice(kind)
{
    private Tensor Random(int seed, DType dtype, double lo, double hi, params int[] shape) =>
        Tensor.FromArray(Inputs.Uniform(shape.Aggregate(1, (a, b) => a * b), seed, lo, hi), shape, dtype, Device);

    /// <summary>A [rows, rotaryDim] table with a distinct angle for every (row, dim): any wrong row or dim shows.</summary>
    private (Tensor Cos, Tensor Sin) Table(int rows, int rotaryDim, DType dtype, int seed)
    {
        float[] angles = Inputs.Uniform(rows * rotaryDim, seed, -3.2, 3.2);
        return (Tensor.FromArray(angles.Select(MathF.Cos).ToArray(), [rows, rotaryDim], dtype, Device),
                Tensor.FromArray(angles.Select(MathF.Sin).ToArray(), [rows, rotaryDim], dtype, Device));
    }

    private Tensor Positions(int batch, int seq, int tableRows, DType dtype, bool shared, int seed)
    {
        var random = new Random(seed);
        int count = shared ? seq : batch * seq;
        float[] values = Enumerable.Range(0, count).Select(_ => (float)random.Next(tableRows)).ToArray();
        return Tensor.FromArray(values, shared ? [seq] : [batch, seq], dtype, Device);
    }

    /// <summary>(dtype, table dtype, scope, form, heads, head_dim, rotary_dim, positions: none / [batch, seq] int64 /
    /// [seq] int32) — each a model's form: OLMo2 (row norm, float32 table, positions), Qwen3 (per head), GPT-NeoX
    /// (partial rotary), GPT-J (interleaved, partial), Gemma (per head, weight offset 1), RoPE alone.</summary>
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return Case("OLMo2", DType.BFloat16, DType.Float32, NormScope.Hidden, RotaryForm.RotateHalf, 3, 16, 0, "int64", 0);
        yield return Case("Qwen3", DType.BFloat16, DType.Float32, NormScope.PerHead, RotaryForm.RotateHalf, 5, 32, 0, "int64", 0);
        yield return Case("Qwen3 hd128", DType.BFloat16, DType.Float32, NormScope.PerHead, RotaryForm.RotateHalf, 3, 128, 0, "int64", 0);
        yield return Case("Llama hd128 f32", DType.Float32, DType.Float32, NormScope.Hidden, RotaryForm.RotateHalf, 2, 128, 0, "int32 shared", 0);
        yield return Case("Qwen3 fp16 table", DType.Float16, DType.Float16, NormScope.PerHead, RotaryForm.RotateHalf, 2, 48, 0, "int32 shared", 0);
        yield return Case("NeoX partial", DType.Float32, DType.Float32, NormScope.Hidden, RotaryForm.RotateHalf, 3, 24, 8, "none", 0);
        yield return Case("GPT-J", DType.BFloat16, DType.Float32, NormScope.None, RotaryForm.Interleaved, 3, 20, 12, "int64", 0);
        yield return Case("Gemma", DType.Float16, DType.Float32, NormScope.PerHead, RotaryForm.RotateHalf, 4, 16, 0, "int32 shared", 1);
        yield return Case("rope only", DType.Float32, DType.Float32, NormScope.None, RotaryForm.RotateHalf, 2, 70, 0, "int64", 0);
        yield return Case("head_dim 2", DType.BFloat16, DType.BFloat16, NormScope.PerHead, RotaryForm.Interleaved, 7, 2, 0, "none", 0);
    }

    private static TestCaseData Case(string name, DType dtype, DType table, NormScope scope, RotaryForm form, int heads, int headDim, int rotaryDim, string positions, float offset) =>
        new TestCaseData(dtype, table, scope, form, heads, headDim, rotaryDim, positions, offset).SetArgDisplayNames(name, DTypes.Name(dtype), DTypes.Name(table), scope.ToString(), form.ToString(), $"{heads}x{headDim}", $"rot {rotaryDim}", positions, $"+{offset}");

    [TestCaseSource(nameof(Cases))]
    public void OneTensor_MatchesFloat64Reference(DType dtype, DType tableDtype, NormScope scope, RotaryForm form, int heads, int headDim, int rotaryDim, string positionsKind, float offset)
    {
        const int batch = 2, seq = 5, tableRows = 600;
        int seed = Inputs.Seed(dtype, tableDtype, scope, form, heads, headDim, rotaryDim, positionsKind);
        int hidden = heads * headDim, rotary = rotaryDim == 0 ? headDim : rotaryDim;
        using var x = Random(seed, dtype, -3, 3, batch, seq, hidden);
        using var weight = scope == NormScope.None ? null : Random(seed + 1, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : hidden);
        var (cos, sin) = Table(positionsKind == "none" ? seq : tableRows, rotary, tableDtype, seed + 2);
        using var _c = cos; using var _s = sin;
        using var positions = positionsKind == "none" ? null
            : Positions(batch, seq, tableRows, positionsKind.StartsWith("int64") ? DType.Int64 : DType.Int32, positionsKind.EndsWith("shared"), seed + 3);

        using var y = Ops.FusedRmsNormRope(x, weight, cos, sin, positions, headDim, 1e-6, scope, form, rotaryDim, offset);

        y.Shape.Should().Equal(batch, seq, hidden);
        Compare.AllClose(y.ToFloatArray(), Reference.QkNormRope(x, weight, cos, sin, positions, headDim, 1e-6, scope, form, rotaryDim, offset),
            Tolerance.OneRoundingInto(dtype));
    }

    /// <summary><see cref="RopeRounding.PerOp"/> is PyTorch eager's <c>(q * cos) + (rotate_half(q) * sin)</c>: each product
    /// and the sum rounded into the dtype x and the table promote to (x's for a table in x's dtype, as Llama, Qwen3 and
    /// Gemma 3 cast theirs; float32 for OLMo2's float32 table), then into x's dtype; bit for bit against that arithmetic
    /// spelled out on the host, rotate-half and interleaved (GPT-J, partial), at positions.</summary>
    [TestCase(DType.BFloat16, DType.BFloat16, RotaryForm.RotateHalf, 0)]
    [TestCase(DType.BFloat16, DType.Float32, RotaryForm.RotateHalf, 0)]
    [TestCase(DType.Float16, DType.Float16, RotaryForm.Interleaved, 8)]
    public void PerOpRope_IsPyTorchEagerArithmetic_BitForBit(DType dtype, DType tableDtype, RotaryForm form, int rotaryDim)
    {
        const int batch = 2, seq = 3, qHeads = 3, kHeads = 1, headDim = 32, tableRows = 40;
        int rotary = rotaryDim == 0 ? headDim : rotaryDim, half = rotary / 2;
        using var q = Random(81, dtype, -4, 4, batch, seq, qHeads * headDim);
        using var k = Random(82, dtype, -4, 4, batch, seq, kHeads * headDim);
        var (cos, sin) = Table(tableRows, rotary, tableDtype, 83);
        using var _c = cos; using var _s = sin;
        using var positions = Positions(batch, seq, tableRows, DType.Int32, shared: false, 84);
        var (qr, kr) = Ops.Rope(q, k, cos, sin, positions, headDim, form, rotaryDim, rounding: RopeRounding.PerOp);
        using var _q = qr; using var _k = kr;
        var (qOnce, kOnce) = Ops.Rope(q, k, cos, sin, positions, headDim, form, rotaryDim);
        using var _q1 = qOnce; using var _k1 = kOnce;

        float[] c = cos.ToFloatArray(), s = sin.ToFloatArray(), at = positions.ToFloatArray();
        DType promoted = tableDtype == dtype ? dtype : DType.Float32;
        float P(float v) => DTypes.Round(v, promoted);
        float[] Expected(Tensor t, int heads)
        {
            float[] x = t.ToFloatArray(), y = (float[])x.Clone();
            for (int token = 0; token < batch * seq; token++)
                for (int h = 0; h < heads; h++)
                    for (int p = 0; p < half; p++)
                    {
                        int i = form == RotaryForm.Interleaved ? 2 * p : p, j = form == RotaryForm.Interleaved ? 2 * p + 1 : p + half;
                        long b = ((long)token * heads + h) * headDim, row = (long)at[token] * rotary;
                        float xi = x[b + i], xj = x[b + j];
                        y[b + i] = DTypes.Round(P(P(xi * c[row + i]) + P(-xj * s[row + i])), dtype);
                        y[b + j] = DTypes.Round(P(P(xj * c[row + j]) + P(xi * s[row + j])), dtype);
                    }
            return y;
        }
        qr.ToFloatArray().Should().Equal(Expected(q, qHeads));
        kr.ToFloatArray().Should().Equal(Expected(k, kHeads));
        if (tableDtype == dtype) // a float32 table rotates a 16-bit q in float32 either way (no norm to round here)
            qOnce.ToFloatArray().Should().NotEqual(qr.ToFloatArray(), "one rounding differs from three somewhere in 288 values");
    }

    /// <summary>With both rounding options the fused norm+RoPE is its parts: the norm's output in x's dtype (read off a
    /// table of cos 1, sin 0) then RoPE, per op; <see cref="NormRounding.Llama"/> rounds x · rstd before the weight
    /// (Qwen3's q_norm), which changes some values.</summary>
    [TestCase(NormScope.PerHead, DType.BFloat16)]
    [TestCase(NormScope.Hidden, DType.Float32)]
    public void PerOpRounding_FusedNormRope_IsTheNormThenTheRope(NormScope scope, DType tableDtype)
    {
        const int batch = 2, seq = 3, heads = 4, headDim = 16, tableRows = 20;
        using var x = Random(91, DType.BFloat16, -3, 3, batch, seq, heads * headDim);
        using var w = Random(92, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? headDim : heads * headDim);
        var (cos, sin) = Table(tableRows, headDim, tableDtype, 93);
        using var _c = cos; using var _s = sin;
        using var ones = Tensor.Full([tableRows, headDim], 1f, tableDtype, Device);
        using var zeros = Tensor.Full([tableRows, headDim], 0f, tableDtype, Device);
        using var positions = Positions(batch, seq, tableRows, DType.Int64, shared: true, 94);
        float[]? once = null;
        foreach (var normRounding in new[] { NormRounding.Once, NormRounding.Llama })
        {
            using var fused = Ops.FusedRmsNormRope(x, w, cos, sin, positions, headDim, 1e-6, scope, normRounding: normRounding, ropeRounding: RopeRounding.PerOp);
            using var normed = Ops.FusedRmsNormRope(x, w, ones, zeros, positions, headDim, 1e-6, scope, normRounding: normRounding, ropeRounding: RopeRounding.PerOp);
            var (rotated, alsoRotated) = Ops.Rope(normed, normed, cos, sin, positions, headDim, rounding: RopeRounding.PerOp);
            using var __ = rotated; using var ___ = alsoRotated;
            fused.ToBytes().Should().Equal(rotated.ToBytes());
            if (once is null)
                once = normed.ToFloatArray();
            else
                normed.ToFloatArray().Should().NotEqual(once, "x · rstd rounded before the weight moves some values an ulp");
        }
    }

    /// <summary>transformers' default <c>position_ids</c> is <c>arange(seq).unsqueeze(0)</c>, <c>[1, seq]</c> beside a batch
    /// of several: read as shared by the batch (the staged kernel's positions take the same mode), the bytes of the
    /// <c>[seq]</c> form.</summary>
    [TestCase(NormScope.PerHead)]
    [TestCase(NormScope.Hidden)]
    public void PositionsOfOneRow_AreSharedByTheBatch(NormScope scope)
    {
        const int batch = 3, seq = 4, heads = 2, headDim = 64, tableRows = 50;
        using var x = Random(71, DType.BFloat16, -2, 2, batch, seq, heads * headDim);
        using var w = Random(72, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? headDim : heads * headDim);
        var (cos, sin) = Table(tableRows, headDim, DType.Float32, 73);
        using var _c = cos; using var _s = sin;
        float[] at = [7, 0, 49, 12];
        using var shared = Tensor.FromArray(at, [seq], DType.Int64, Device);
        using var oneRow = Tensor.FromArray(at, [1, seq], DType.Int64, Device);
        using var expected = Ops.FusedRmsNormRope(x, w, cos, sin, shared, headDim, 1e-6, scope);
        using var actual = Ops.FusedRmsNormRope(x, w, cos, sin, oneRow, headDim, 1e-6, scope);
        actual.ToBytes().Should().Equal(expected.ToBytes());
        Compare.AllClose(actual.ToFloatArray(), Reference.QkNormRope(x, w, cos, sin, shared, headDim, 1e-6, scope, RotaryForm.RotateHalf, 0, 0),
            Tolerance.OneRoundingInto(DType.BFloat16));
        using var twoRows = Tensor.FromArray(new float[2 * seq], [2, seq], DType.Int64, Device);
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, twoRows, headDim, 1e-6, scope))
            .WithMessage("*'positions'*[batch = 3, seq = 4]*[1, seq = 4]*got*[2, 4]*");
    }

    /// <summary>transformers' rotary module returns cos/sin per token: <c>[batch, seq, rotary_dim]</c> for position_ids
    /// <c>[batch, seq]</c> (<c>[batch, 1, seq, rotary_dim]</c> once unsqueezed for q's heads), and <c>[1, P, rotary_dim]</c>
    /// for positions 0…P−1. The ops take them as they are: per-token rows give the bytes of the <c>[batch · seq,
    /// rotary_dim]</c> table read at positions b · seq + s (one tensor, q and k, RoPE alone), and <c>[1, P, d]</c> those of
    /// the 2-D table (with positions, and without, where the seed's kernels take the call). Per-token rows beside positions
    /// are refused before anything is allocated; the seed's op keeps its contract's two table shapes.</summary>
    [TestCase(DType.BFloat16, NormScope.PerHead, false, 5)]
    [TestCase(DType.Float32, NormScope.Hidden, true, 5)]
    [TestCase(DType.BFloat16, NormScope.PerHead, true, 1)] // decode: [batch, 1, 1, d]
    public void TransformersCosSinShapes_AreTakenAsTheyAre(DType dtype, NormScope scope, bool unsqueezed, int seq)
    {
        const int batch = 3, qHeads = 2, kHeads = 1, headDim = 32;
        using var q = Random(81, dtype, -2, 2, batch, seq, qHeads * headDim);
        using var k = Random(82, dtype, -2, 2, batch, seq, kHeads * headDim);
        using var qw = Random(83, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : qHeads * headDim);
        using var kw = Random(84, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : kHeads * headDim);
        var (cos, sin) = Table(batch * seq, headDim, dtype, 85); // x's dtype: the seed's op takes it too
        using var _c = cos; using var _s = sin;
        using var rows = Tensor.FromArray(Enumerable.Range(0, batch * seq).Select(i => (float)i).ToArray(), [batch, seq], DType.Int32, Device);
        int[] perToken = unsqueezed ? [batch, 1, seq, headDim] : [batch, seq, headDim];
        using var cosT = cos.Reshape(perToken); using var sinT = sin.Reshape(perToken);

        using var expected = Ops.FusedRmsNormRope(q, qw, cos, sin, rows, headDim, 1e-6, scope);
        using var actual = Ops.FusedRmsNormRope(q, qw, cosT, sinT, null, headDim, 1e-6, scope);
        actual.ToBytes().Should().Equal(expected.ToBytes(), "one tensor");
        Compare.AllClose(actual.ToFloatArray(), Reference.QkNormRope(q, qw, cosT, sinT, null, headDim, 1e-6, scope, RotaryForm.RotateHalf, 0, 0),
            Tolerance.OneRoundingInto(dtype));

        var (qe, ke) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, rows, headDim, 1e-6, scope);
        var (qa, ka) = Ops.FusedQkNormRope(q, k, qw, kw, cosT, sinT, null, headDim, 1e-6, scope);
        using (qe) using (ke) using (qa) using (ka)
        {
            qa.ToBytes().Should().Equal(qe.ToBytes(), "q");
            ka.ToBytes().Should().Equal(ke.ToBytes(), "k");
        }
        var (qr, kr) = Ops.Rope(q, k, cos, sin, rows, headDim);
        var (qt, kt) = Ops.Rope(q, k, cosT, sinT, null, headDim);
        using (qr) using (kr) using (qt) using (kt)
        {
            qt.ToBytes().Should().Equal(qr.ToBytes(), "RoPE alone, q");
            kt.ToBytes().Should().Equal(kr.ToBytes(), "RoPE alone, k");
        }

        using var cos1 = cos.Reshape(1, batch * seq, headDim); using var sin1 = sin.Reshape(1, batch * seq, headDim);
        using var table = Ops.FusedRmsNormRope(q, qw, cos1, sin1, rows, headDim, 1e-6, scope);
        table.ToBytes().Should().Equal(expected.ToBytes(), "[1, P, d] is the table [P, d]");
        using var firstRows = cos.Narrow(0, 0, seq); using var firstSin = sin.Narrow(0, 0, seq);
        using var cosSeq = firstRows.Reshape(1, 1, seq, headDim); using var sinSeq = firstSin.Reshape(1, 1, seq, headDim);
        using var seedForm = Ops.FusedRmsNormRope(q, qw, cosSeq, sinSeq, null, headDim, 1e-6, scope);
        using var seedExpected = Ops.FusedRmsNormRope(q, qw, firstRows, firstSin, null, headDim, 1e-6, scope);
        seedForm.ToBytes().Should().Equal(seedExpected.ToBytes(), "[1, 1, seq, d] is the table [seq, d]");

        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(q, qw, cosT, sinT, rows, headDim, 1e-6, scope))
            .WithMessage("*'cos'*per-token rows only without positions*");
        if (scope == NormScope.Hidden)
            Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(q, qw, cosT, sinT))
                .WithMessage("*'cos'*[seq=5, head_dim] or [1, seq=5, 1, head_dim]*");
    }

    /// <summary>q and k per head, <c>[batch, seq, heads, head_dim]</c> (transformers' view before its transpose; Qwen3's
    /// q_norm sees this shape) or its <c>transpose(1, 2)</c> view (what <c>apply_rotary_pos_emb</c> gets): the bytes of the
    /// <c>[batch, seq, heads · head_dim]</c> rows, in the shape and kind of view given, in place too.</summary>
    [TestCase(NormScope.PerHead, 2, 3, 2)]
    [TestCase(NormScope.Hidden, 2, 3, 2)]
    [TestCase(NormScope.PerHead, 1, 1, 1)] // decode: one token, batch 1, one kv head (size-1 dimensions everywhere)
    public void HeadsAsTheirOwnDimension_GiveTheBytesOfTheRows(NormScope scope, int batch, int seq, int kHeads)
    {
        const int qHeads = 4, headDim = 16, tableRows = 40;
        using var q = Random(91, DType.BFloat16, -2, 2, batch, seq, qHeads * headDim);
        using var k = Random(92, DType.BFloat16, -2, 2, batch, seq, kHeads * headDim);
        using var qw = Random(93, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? headDim : qHeads * headDim);
        using var kw = Random(94, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? headDim : kHeads * headDim);
        var (cos, sin) = Table(tableRows, headDim, DType.Float32, 95);
        using var _c = cos; using var _s = sin;
        using var positions = Positions(batch, seq, tableRows, DType.Int64, false, 96);
        using var q4 = q.Reshape(batch, seq, qHeads, headDim); using var k4 = k.Reshape(batch, seq, kHeads, headDim);

        using var one = Ops.FusedRmsNormRope(q, qw, cos, sin, positions, headDim, 1e-6, scope);
        using var one4 = Ops.FusedRmsNormRope(q4, qw, cos, sin, positions, headDim, 1e-6, scope);
        one4.Shape.Should().Equal(q4.Shape);
        one4.ToBytes().Should().Equal(one.ToBytes());
        Compare.AllClose(one4.ToFloatArray(), Reference.QkNormRope(q4, qw, cos, sin, positions, headDim, 1e-6, scope),
            Tolerance.OneRoundingInto(DType.BFloat16));

        var (qe, ke) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        var (qa, ka) = Ops.FusedQkNormRope(q4, k4, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        using (qe) using (ke) using (qa) using (ka)
        {
            (qa.Shape.SequenceEqual(q4.Shape) && ka.Shape.SequenceEqual(k4.Shape)).Should().BeTrue();
            qa.ToBytes().Should().Equal(qe.ToBytes());
            ka.ToBytes().Should().Equal(ke.ToBytes());
        }

        // transformers' q.view(…).transpose(1, 2), [batch, heads, seq, headDim], as apply_rotary_pos_emb gets it: the
        // result is the same kind of view.
        using var qT = q4.Transpose(1, 2); using var kT = k4.Transpose(1, 2);
        var (qv, kv) = Ops.FusedQkNormRope(qT, kT, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        using (qv) using (kv)
        {
            qv.Shape.Should().Equal(batch, qHeads, seq, headDim);
            using var qBack = qv.Transpose(1, 2); using var kBack = kv.Transpose(1, 2);
            (qBack.IsContiguous && kBack.IsContiguous).Should().BeTrue("heads ahead of seq, as the input's view");
            using var qRows = qBack.Reshape(batch, seq, qHeads * headDim); using var kRows = kBack.Reshape(batch, seq, kHeads * headDim);
            using var qe2 = Ops.FusedRmsNormRope(q, qw, cos, sin, positions, headDim, 1e-6, scope);
            qRows.ToBytes().Should().Equal(qe2.ToBytes());
            using var ke2 = Ops.FusedRmsNormRope(k, kw, cos, sin, positions, headDim, 1e-6, scope);
            kRows.ToBytes().Should().Equal(ke2.ToBytes());
        }

        // q's and k's heads sliced out of one fused projection's per-head view, qkv.view(b, s, H, d): rows one stride apart,
        // read and rewritten in place as the rank-3 column slices are.
        int fused = qHeads + 2 * kHeads;
        using var qkv = Random(97, DType.BFloat16, -2, 2, batch, seq, fused * headDim);
        using var qkv3 = qkv.Clone();
        using var qkv4 = qkv.Reshape(batch, seq, fused, headDim);
        using var qSlice = qkv4.Narrow(2, 0, qHeads); using var kSlice = qkv4.Narrow(2, qHeads, kHeads);
        using var qCols = qkv3.Narrow(2, 0, qHeads * headDim); using var kCols = qkv3.Narrow(2, qHeads * headDim, kHeads * headDim);
        Ops.FusedQkNormRope(qSlice, kSlice, qw, kw, cos, sin, positions, headDim, 1e-6, scope, qOutput: qSlice, kOutput: kSlice);
        Ops.FusedQkNormRope(qCols, kCols, qw, kw, cos, sin, positions, headDim, 1e-6, scope, qOutput: qCols, kOutput: kCols);
        qkv.ToBytes().Should().Equal(qkv3.ToBytes(), "per-head slices of the fused view, in place");
        // The same slices as transpose(1, 2) views [batch, heads, seq, headDim] (transformers' q.view(…).transpose(1, 2)
        // of a fused projection): their results are the rows' in that kind of view.
        using var qSliceT = qSlice.Transpose(1, 2); using var kSliceT = kSlice.Transpose(1, 2);
        var (qt, kt) = Ops.FusedQkNormRope(qSliceT, kSliceT, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        var (qc, kc) = Ops.FusedQkNormRope(qCols, kCols, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        using (qt) using (kt) using (qc) using (kc)
        {
            qt.Shape.Should().Equal(batch, qHeads, seq, headDim);
            using var qtBack = qt.Transpose(1, 2); using var ktBack = kt.Transpose(1, 2);
            using var qtRows = qtBack.Reshape(batch, seq, qHeads * headDim); using var ktRows = ktBack.Reshape(batch, seq, kHeads * headDim);
            qtRows.ToBytes().Should().Equal(qc.ToBytes(), "q: transposed slices");
            ktRows.ToBytes().Should().Equal(kc.ToBytes(), "k: transposed slices");
        }

        var (qr, kr) = Ops.Rope(q, k, cos, sin, positions, headDim);
        using (qr) using (kr)
        {
            var (qi, ki) = Ops.Rope(q4, k4, cos, sin, positions, headDim, inPlace: true);
            qi.Should().BeSameAs(q4);
            ki.Should().BeSameAs(k4);
            q.ToBytes().Should().Equal(qr.ToBytes(), "in place through the per-head view");
            k.ToBytes().Should().Equal(kr.ToBytes());
        }
    }

    [TestCase(DType.BFloat16, NormScope.PerHead)]
    [TestCase(DType.Float32, NormScope.Hidden)]
    public void QAndK_WithGqa_InOneLaunch_MatchReference_InPlaceToo(DType dtype, NormScope scope)
    {
        const int batch = 3, seq = 2, headDim = 32, qHeads = 4, kHeads = 2, tableRows = 1024;
        using var q = Random(1, dtype, -2, 2, batch, seq, qHeads * headDim);
        using var k = Random(2, dtype, -2, 2, batch, seq, kHeads * headDim);
        using var qw = Random(3, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : qHeads * headDim);
        using var kw = Random(4, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : kHeads * headDim);
        var (cos, sin) = Table(tableRows, headDim, DType.Float32, 5);
        using var _c = cos; using var _s = sin;
        // Decode-like: every sequence at its own scattered position (517 and 3 among them).
        using var positions = Tensor.FromArray(new[] { 517f, 3f, 1000f, 0f, 77f, 1023f }, [batch, seq], DType.Int64, Device);
        double[] expectedQ = Reference.QkNormRope(q, qw, cos, sin, positions, headDim, 1e-6, scope);
        double[] expectedK = Reference.QkNormRope(k, kw, cos, sin, positions, headDim, 1e-6, scope);

        var (qo, ko) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, headDim, 1e-6, scope);
        using var _qo = qo; using var _ko = ko;
        Compare.AllClose(qo.ToFloatArray(), expectedQ, Tolerance.OneRoundingInto(dtype), "q");
        Compare.AllClose(ko.ToFloatArray(), expectedK, Tolerance.OneRoundingInto(dtype), "k");

        var (qi, ki) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, headDim, 1e-6, scope, qOutput: q, kOutput: k);
        qi.Should().BeSameAs(q);
        ki.Should().BeSameAs(k);
        q.ToBytes().Should().Equal(qo.ToBytes(), "in place gives the same bits");
        k.ToBytes().Should().Equal(ko.ToBytes());
    }

    /// <summary>q and k read as slices of one fused q/k/v projection's rows (the decoder's one q/k/v product): the same bits as
    /// from dense copies, into dense outputs and in place, and v's columns untouched. Full rotate-half with 16-byte rows takes
    /// the packed kernel on CUDA; partial rotary, a head of 24 and rows off 16-byte alignment take the general one.</summary>
    [TestCase(DType.BFloat16, NormScope.PerHead, 32, 0, 0)]
    [TestCase(DType.BFloat16, NormScope.Hidden, 32, 0, 0)]
    [TestCase(DType.BFloat16, NormScope.PerHead, 32, 0, 4)] // rows 8 bytes off 16-byte alignment: the general kernel
    [TestCase(DType.Float16, NormScope.PerHead, 32, 16, 0)]
    [TestCase(DType.BFloat16, NormScope.None, 24, 0, 0)]
    [TestCase(DType.Float32, NormScope.Hidden, 16, 0, 0)]
    public void QAndK_AsSlicesOfOneQkvRow_MatchDenseInputs_InPlaceToo(DType dtype, NormScope scope, int headDim, int rotaryDim, int pad)
    {
        const int batch = 2, seq = 3, qHeads = 4, kHeads = 2, tableRows = 640;
        int qWidth = qHeads * headDim, kWidth = kHeads * headDim;
        using var qkv = Random(31, dtype, -2, 2, batch, seq, qWidth + 2 * kWidth + pad);
        using var q = qkv.Narrow(2, 0, qWidth);
        using var k = qkv.Narrow(2, qWidth, kWidth);
        using var v = qkv.Narrow(2, qWidth + kWidth, kWidth);
        q.IsContiguous.Should().BeFalse();
        using var qw = scope == NormScope.None ? null : Random(32, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : qWidth);
        using var kw = scope == NormScope.None ? null : Random(33, dtype, 0.5, 1.5, scope == NormScope.PerHead ? headDim : kWidth);
        var (cos, sin) = Table(tableRows, rotaryDim == 0 ? headDim : rotaryDim, DType.Float32, 34);
        using var _c = cos; using var _s = sin;
        using var positions = Tensor.FromArray(new[] { 517f, 3f, 639f, 0f, 77f, 200f }, [batch, seq], DType.Int64, Device);
        double[] expectedQ = Reference.QkNormRope(q, qw, cos, sin, positions, headDim, 1e-6, scope, rotaryDim: rotaryDim);
        double[] expectedK = Reference.QkNormRope(k, kw, cos, sin, positions, headDim, 1e-6, scope, rotaryDim: rotaryDim);
        byte[] vBefore = v.ToBytes();
        using var qDense = q.Contiguous();
        using var kDense = k.Contiguous();

        var (qo, ko) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, headDim, 1e-6, scope, rotaryDim: rotaryDim);
        using var _qo = qo; using var _ko = ko;
        Compare.AllClose(qo.ToFloatArray(), expectedQ, Tolerance.OneRoundingInto(dtype), "q");
        Compare.AllClose(ko.ToFloatArray(), expectedK, Tolerance.OneRoundingInto(dtype), "k");
        var (qd, kd) = Ops.FusedQkNormRope(qDense, kDense, qw, kw, cos, sin, positions, headDim, 1e-6, scope, rotaryDim: rotaryDim);
        using var _qd = qd; using var _kd = kd;
        qo.ToBytes().Should().Equal(qd.ToBytes(), "a slice of a wider row gives the dense input's bits");
        ko.ToBytes().Should().Equal(kd.ToBytes());

        var (qi, ki) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, headDim, 1e-6, scope, rotaryDim: rotaryDim, qOutput: q, kOutput: k);
        qi.Should().BeSameAs(q);
        ki.Should().BeSameAs(k);
        q.ToBytes().Should().Equal(qd.ToBytes(), "in place on the slices gives the same bits");
        k.ToBytes().Should().Equal(kd.ToBytes());
        v.ToBytes().Should().Equal(vBefore, "v's columns of the rows are not written");
    }

    [Test]
    public void Rope_InPlace_RotatesQAndK()
    {
        const int headDim = 16;
        using var q = Random(11, DType.BFloat16, -2, 2, 1, 3, 2 * headDim);
        using var k = Random(12, DType.BFloat16, -2, 2, 1, 3, headDim);
        var (cos, sin) = Table(8, headDim, DType.Float32, 13);
        using var _c = cos; using var _s = sin;
        using var positions = Tensor.FromArray(new[] { 7f, 0f, 4f }, [3], DType.Int32, Device);
        double[] expectedQ = Reference.QkNormRope(q, null, cos, sin, positions, headDim, scope: NormScope.None);
        double[] expectedK = Reference.QkNormRope(k, null, cos, sin, positions, headDim, scope: NormScope.None);
        var (qr, kr) = Ops.Rope(q, k, cos, sin, positions, headDim, inPlace: true);
        qr.Should().BeSameAs(q);
        Compare.AllClose(q.ToFloatArray(), expectedQ, Tolerance.OneRoundingInto(DType.BFloat16), "q");
        Compare.AllClose(k.ToFloatArray(), expectedK, Tolerance.OneRoundingInto(DType.BFloat16), "k");
    }

    [Test]
    public void PositionOutsideTheTable_GivesANaNRow_AndOnlyThatRow()
    {
        const int headDim = 8, rows = 4;
        using var x = Random(21, DType.Float32, -1, 1, 1, 3, 2 * headDim);
        using var w = Random(22, DType.Float32, 0.5, 1.5, headDim);
        var (cos, sin) = Table(rows, headDim, DType.Float32, 23);
        using var _c = cos; using var _s = sin;
        using var positions = Tensor.FromArray(new[] { 1f, (float)rows, -1f }, [1, 3], DType.Int64, Device);
        using var y = Ops.FusedRmsNormRope(x, w, cos, sin, positions, headDim, scope: NormScope.PerHead);
        float[] values = y.ToFloatArray();
        values.Take(2 * headDim).Should().OnlyContain(v => float.IsFinite(v));
        values.Skip(2 * headDim).Should().OnlyContain(v => float.IsNaN(v), "positions 4 (= table rows) and −1 are outside the table");
    }

    /// <summary>More tokens than the persistent packed kernel stages in its prologue (blocks × 3; the CPU accelerator has one multiprocessor),
    /// so each block walks several rows with the next row prefetched; a bad position mid-walk spoils only its row.
    /// 99 tokens: an odd count, three past the 32 blocks' prologue (CI time: 129 tokens cost 11 s of the suite).</summary>
    [TestCase(NormScope.Hidden)]
    [TestCase(NormScope.PerHead)]
    public void ManyTokens_BlocksWalkRows_WithAnOutOfTableTokenAmongThem(NormScope scope) =>
        WithAnOutOfTableToken(new(Seed: 41, Batch: 3, Seq: 33, HeadDim: 16, QHeads: 3, KHeads: 1, TableRows: 300, Bad: 77, BadPosition: 300,
            Positions: DType.Int32, Stride: 37), scope,
            (q, k, qw, kw, cos, sin, positions) =>
            {
                var (qo, ko) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, 16, 1e-6, scope);
                return [(qo, true, "q"), (ko, false, "k")];
            });

    /// <summary>Rows of more than 128 pack pairs take two pairs a thread in the packed kernel (q: 20 heads of 128 bf16 =
    /// 160 pairs, 96 threads, the second pair live on 64 of them; k: 4 heads, one pair each on 32 of them), with per-row
    /// and per-head norms and a token outside the table; both pinned schedules against the float64 reference.</summary>
    [TestCase(NormScope.Hidden, 2)]
    [TestCase(NormScope.PerHead, 2)]
    [TestCase(NormScope.Hidden, 1)]
    public void WideRows_OneOrTwoPairsAThread_MatchReference(NormScope scope, int pairsPerThread) =>
        WithAnOutOfTableToken(new(Seed: 51, Batch: 2, Seq: 6, HeadDim: 128, QHeads: 20, KHeads: 4, TableRows: 64, Bad: 11, BadPosition: -1,
            Positions: DType.Int64, Stride: 29), scope,
            (q, k, qw, kw, cos, sin, positions) =>
            {
                var pinned = Ops.FusedRmsNormRopeScheduled(q, qw, cos, sin, positions, 128, 1e-6, scope, RotaryForm.RotateHalf, 0, 0, null,
                    new QkNormRopeSchedule(pairsPerThread));
                var (qo, ko) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, positions, 128, 1e-6, scope);
                return [(pinned, true, "q pinned"), (qo, true, "q"), (ko, false, "k")];
            });

    /// <summary>The row norm with full rotate-half rotary at positions streams through the seed's staged kernel (pinned: it
    /// must take the call) with more rows than its blocks stage ahead: a float32 table beside 16-bit x (two table packs a
    /// pack of x; one and two pairs a thread) and a table of x's dtype, positions per token (int64), shared by the batch
    /// (int32) or none; half a head of 3 packs (head_dim 48), which 32 threads do not divide, so each pair reads its own
    /// table runs (the path a float32 table never takes); one position outside the table (for shared positions: one sequence index, so a row in every
    /// sequence) gives NaN rows and only those.</summary>
    [TestCase(DType.BFloat16, DType.Float32, "int64", 4, 128)]
    [TestCase(DType.BFloat16, DType.Float32, "int64", 36, 64)]
    [TestCase(DType.Float16, DType.Float16, "int32 shared", 3, 32)]
    [TestCase(DType.BFloat16, DType.Float32, "none", 2, 16)]
    [TestCase(DType.BFloat16, DType.BFloat16, "int64", 5, 48)]
    [TestCase(DType.Float16, DType.Float32, "int32 shared", 6, 64)]
    public void RowNormAtPositions_StreamsThroughTheStagedKernel(DType dtype, DType tableDtype, string positionsKind, int heads, int headDim)
    {
        const int seq = 9, tableRows = 40; // 27 rows: more than the 12 the staged kernel takes calls from
        // The staged kernel takes calls of at least 2 × (resident blocks ≤ 3 an SM) × (rows a step ≤ 2) rows.
        int batch = Math.Max(3, (12 * Device.Multiprocessors + seq) / seq);
        int hidden = heads * headDim, seed = Inputs.Seed(dtype, tableDtype, positionsKind, heads, headDim);
        bool shared = positionsKind.EndsWith("shared"), none = positionsKind == "none";
        using var x = Random(seed, dtype, -2, 2, batch, seq, hidden);
        using var w = Random(seed + 1, dtype, 0.5, 1.5, hidden);
        var (cos, sin) = Table(tableRows, headDim, tableDtype, seed + 2);
        using var _c = cos; using var _s = sin;
        int count = shared ? seq : batch * seq, bad = none ? -1 : 7;
        float[] at = Enumerable.Range(0, count).Select(i => none ? i % seq : (float)((i * 13 + 3) % tableRows)).ToArray();
        DType positionsDtype = positionsKind.StartsWith("int64") ? DType.Int64 : DType.Int32;
        int[] positionsShape = shared ? [seq] : [batch, seq];
        if (bad >= 0)
            at[bad] = tableRows;
        using var positions = none ? null : Tensor.FromArray(at, positionsShape, positionsDtype, Device);
        if (bad >= 0)
            at[bad] = 0;
        using var inTable = Tensor.FromArray(at, positionsShape, positionsDtype, Device);

        using var y = Ops.FusedRmsNormRopeScheduled(x, w, cos, sin, positions, headDim, 1e-6, NormScope.Hidden, RotaryForm.RotateHalf, 0, 0, null,
            new QkNormRopeSchedule(Staged: true));

        double[] expected = Reference.QkNormRope(x, w, cos, sin, inTable, headDim, 1e-6, NormScope.Hidden);
        float[] actual = y.ToFloatArray();
        for (int row = 0; row < batch * seq; row++)
        {
            bool isBad = bad >= 0 && (shared ? row % seq == bad : row == bad);
            if (!isBad)
                continue;
            actual.Skip(row * hidden).Take(hidden).Should().OnlyContain(v => float.IsNaN(v), $"row {row} is at a position outside the table");
            for (int i = row * hidden; i < (row + 1) * hidden; i++)
                actual[i] = (float)expected[i];
        }
        Compare.AllClose(actual, expected, Tolerance.OneRoundingInto(dtype));
    }

    /// <summary>Sizes of a q/k case with one token outside the table: token <c>Bad</c> at <c>BadPosition</c>, the others at
    /// (i · Stride + 5) mod TableRows.</summary>
    private readonly record struct BadTokenCase(int Seed, int Batch, int Seq, int HeadDim, int QHeads, int KHeads, int TableRows, int Bad,
        int BadPosition, DType Positions, int Stride);

    /// <summary>bf16 q and k with their weights, a float32 table and positions with one token outside it; the outputs
    /// <paramref name="run"/> makes must be NaN on that token's row and within one rounding of the float64 reference
    /// (the same positions with that token inside the table) everywhere else.</summary>
    private void WithAnOutOfTableToken(BadTokenCase c, NormScope scope,
        Func<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, (Tensor Output, bool IsQ, string Name)[]> run)
    {
        using var q = Random(c.Seed, DType.BFloat16, -2, 2, c.Batch, c.Seq, c.QHeads * c.HeadDim);
        using var k = Random(c.Seed + 1, DType.BFloat16, -2, 2, c.Batch, c.Seq, c.KHeads * c.HeadDim);
        using var qw = Random(c.Seed + 2, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? c.HeadDim : c.QHeads * c.HeadDim);
        using var kw = Random(c.Seed + 3, DType.BFloat16, 0.5, 1.5, scope == NormScope.PerHead ? c.HeadDim : c.KHeads * c.HeadDim);
        var (cos, sin) = Table(c.TableRows, c.HeadDim, DType.Float32, c.Seed + 4);
        using var _c = cos; using var _s = sin;
        float[] at = Enumerable.Range(0, c.Batch * c.Seq).Select(i => (float)((i * c.Stride + 5) % c.TableRows)).ToArray();
        at[c.Bad] = c.BadPosition;
        using var positions = Tensor.FromArray(at, [c.Batch, c.Seq], c.Positions, Device);
        at[c.Bad] = 0;
        using var inTable = Tensor.FromArray(at, [c.Batch, c.Seq], c.Positions, Device);

        var outputs = run(q, k, qw, kw, cos, sin, positions);
        try
        {
            foreach (var (output, isQ, name) in outputs)
            {
                int width = (isQ ? c.QHeads : c.KHeads) * c.HeadDim;
                double[] expected = Reference.QkNormRope(isQ ? q : k, isQ ? qw : kw, cos, sin, inTable, c.HeadDim, 1e-6, scope);
                float[] actual = output.ToFloatArray();
                actual.Skip(c.Bad * width).Take(width).Should().OnlyContain(v => float.IsNaN(v), $"{name}: token {c.Bad} is outside the table");
                for (int i = c.Bad * width; i < (c.Bad + 1) * width; i++)
                    actual[i] = (float)expected[i];
                Compare.AllClose(actual, expected, Tolerance.OneRoundingInto(DType.BFloat16), name);
            }
        }
        finally
        {
            foreach (var (output, _, _) in outputs)
                output.Dispose();
        }
    }

    [Test]
    public void SeedForm_TakesTheTunedKernels_AndAgrees()
    {
        const int seq = 3, headDim = 16, hidden = 64;
        using var x = Random(31, DType.BFloat16, -2, 2, 2, seq, hidden);
        using var w = Random(32, DType.BFloat16, 0.5, 1.5, hidden);
        var (cos, sin) = Table(seq, headDim, DType.BFloat16, 33);
        using var _c = cos; using var _s = sin;
        using var general = Ops.FusedRmsNormRope(x, w, cos, sin, null, headDim);
        using var seed = Ops.FusedRmsNormRope(x, w, cos, sin);
        general.ToBytes().Should().Equal(seed.ToBytes());
    }

    [Test]
    public void Errors_AreTyped_AndComeBeforeAnyAllocation()
    {
        using var x = Random(41, DType.BFloat16, -1, 1, 2, 3, 32);
        using var w = Random(42, DType.BFloat16, 0.5, 1.5, 16);
        var (cos, sin) = Table(8, 16, DType.Float32, 43);
        using var _c = cos; using var _s = sin;
        using var posFloat = Tensor.Full([2, 3], 1f, DType.Float32, Device);
        using var posWrong = Tensor.Full([3, 2], 1f, DType.Int32, Device);
        using var cosHalf = Tensor.Full([8, 16], 1f, DType.Float16, Device);
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, posFloat, 16, scope: NormScope.PerHead)).WithMessage("*'positions'*int32 or int64*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, posWrong, 16, scope: NormScope.PerHead)).WithMessage("*'positions'*[batch = 2, seq = 3]*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => Ops.FusedRmsNormRope(x, w, cosHalf, sin, null, 16, scope: NormScope.PerHead)).WithMessage("*'cos'*bfloat16*float16*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, null, 16, scope: NormScope.Hidden)).WithMessage("*'weight'*[32]*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, null, 16, rotaryDim: 18, scope: NormScope.PerHead)).WithMessage("*'rotaryDim'*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, null, 12, scope: NormScope.PerHead)).WithMessage("*'x'*divisible by head_dim = 12*");
        Validation.ThrowsBeforeAllocating<ArgumentNullException>(Device, () => Ops.FusedRmsNormRope(x, null, cos, sin, null, 16, scope: NormScope.PerHead));
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => Ops.FusedRmsNormRope(x, w, cos, sin, null, 16, scope: (NormScope)9));
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.FusedRmsNormRope(x, w, cos, sin, null, 16, scope: NormScope.PerHead, normRounding: (NormRounding)9)).WithMessage("*normRounding*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.FusedQkNormRope(x, x, w, w, cos, sin, null, 16, ropeRounding: (RopeRounding)9)).WithMessage("*ropeRounding*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.Rope(x, x, cos, sin, null, 16, rounding: (RopeRounding)9)).WithMessage("*'rounding'*");
        // Rows must lie one stride apart with the last dimension dense: a transposed view is neither.
        using var xt = Random(44, DType.BFloat16, -1, 1, 2, 32, 3);
        using var transposed = xt.Transpose(1, 2);
        Validation.ThrowsBeforeAllocating<NonContiguousTensorException>(Device,
            () => Ops.FusedQkNormRope(transposed, x, w, w, cos, sin, null, 16)).WithMessage("*'q'*one stride apart*strides*");
        using var wide = Random(45, DType.BFloat16, -1, 1, 2, 3, 64);
        using var slice = wide.Narrow(2, 16, 32);
        Validation.ThrowsBeforeAllocating<NonContiguousTensorException>(Device,
            () => Ops.FusedQkNormRope(x, x, w, w, cos, sin, null, 16, qOutput: x, kOutput: transposed)).WithMessage("*'kOutput'*");
        Validation.ThrowsBeforeAllocating<NonContiguousTensorException>(Device,
            () => Ops.FusedRmsNormRope(slice, w, cos, sin, null, 16, scope: NormScope.PerHead)).WithMessage("*'x'*contiguous*");
        // q's and k's blocks run at once: an output may be its own input, never the other's, nor a shifted window of its own.
        using var qk = Random(46, DType.BFloat16, -1, 1, 2, 3, 80);
        using var q = qk.Narrow(2, 0, 32);
        using var k = qk.Narrow(2, 32, 32);
        using var shiftedK = qk.Narrow(2, 16, 32);
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.FusedQkNormRope(q, k, w, w, cos, sin, null, 16, qOutput: k)).WithMessage("*'qOutput'*overlap 'k'*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.FusedQkNormRope(q, k, w, w, cos, sin, null, 16, qOutput: shiftedK)).WithMessage("*'qOutput'*overlap 'q'*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
            () => Ops.FusedQkNormRope(q, k, w, w, cos, sin, null, 16, qOutput: q, kOutput: q)).WithMessage("*'kOutput'*overlap 'qOutput'*");
    }
}

/// <summary>The norm+RoPE launch plan, pure (no device): the H200's traits (132 SMs, cp.async) against the shapes the op meets.</summary>
public class QkNormRopePlanTests
{
    private static QkNormRopePlan Plan(int batch, int seq, int qHeads, int kHeads, int headDim, int elementBytes = 2, int tableBytes = 4,
        NormScope scope = NormScope.Hidden, RotaryForm form = RotaryForm.RotateHalf, int rotaryDim = 0, bool aligned = true, bool asyncCopy = true) =>
        QkNormRopePlan.For(new QkNormRopeSizes(batch, seq, headDim, rotaryDim == 0 ? headDim : rotaryDim, qHeads, kHeads, 4096),
            elementBytes, tableBytes, scope, form, batch * seq, multiprocessors: 132, asyncCopy, aligned);

    [Test]
    public void Prefill_TakesTwoPairsAThread_DecodeOne()
    {
        // OLMo2 prefill, bf16 [4, 2048, 32 × 128], float32 table: 256 pairs a row, 8192 rows.
        Plan(4, 2048, 32, 0, 128).Should().Be(new QkNormRopePlan(true, 2, 128, 4, 128 * 64 + 2 * 128 * 4 + 16));
        // Qwen3 decode: 64 tokens, q 32 + k 8 heads: one pair a thread, a 256-thread block for q's 256 pairs.
        Plan(64, 1, 32, 8, 128, scope: NormScope.PerHead).Should().Be(new QkNormRopePlan(true, 1, 256, 4, 256 * 32 + 2 * 128 * 4 + 16));
        // 128 pairs or fewer stay at one pair a thread however many rows: a 4096-wide float32 row (hd 128: 16 runs a half-head → 512 pairs) does not.
        Plan(4, 2048, 8, 0, 128).PairsPerThread.Should().Be(1, "8 heads of 128 bf16 are 64 pairs");
        Plan(4, 2048, 32, 0, 128, elementBytes: 4).Should().Match<QkNormRopePlan>(p => p.PairsPerThread == 2 && p.Threads == 256);
    }

    [Test]
    public void WideRows_StageTwoRowsAhead_OrTakeTheGeneralKernel()
    {
        // hidden 8192 bf16 (64 heads of 128): 512 pairs; prefill 256 threads of two pairs, decode 512 threads of one,
        // both with two 16–17 KB stages.
        Plan(1, 4096, 64, 0, 128).Should().Match<QkNormRopePlan>(p => p.Packed && p.PairsPerThread == 2 && p.Threads == 256 && p.Stages == 2);
        Plan(8, 1, 64, 0, 128).Should().Match<QkNormRopePlan>(p => p.Packed && p.PairsPerThread == 1 && p.Threads == 512 && p.Stages == 2);
        // hidden 16384 bf16: 1024 pairs; a stage of 33 KB leaves room for one in 48 KB, so the general kernel takes it.
        Plan(1, 4096, 128, 0, 128).Should().Match<QkNormRopePlan>(p => !p.Packed && p.Threads == 512 && p.Stages == 1);
        Plan(8, 1, 128, 0, 128).Should().Match<QkNormRopePlan>(p => !p.Packed && p.Threads == 1024 && p.Stages == 1);
    }

    [TestCase(RotaryForm.Interleaved, 0, NormScope.Hidden, 128, true, true, TestName = "Interleaved pairs: the general kernel")]
    [TestCase(RotaryForm.RotateHalf, 64, NormScope.Hidden, 128, true, true, TestName = "Partial rotary: the general kernel")]
    [TestCase(RotaryForm.RotateHalf, 0, NormScope.Hidden, 24, true, true, TestName = "Half a head not whole 16-byte packs: the general kernel")]
    [TestCase(RotaryForm.RotateHalf, 0, NormScope.PerHead, 96, true, true, TestName = "Per-head norm over 6 pairs (not a power of two): the general kernel")]
    [TestCase(RotaryForm.RotateHalf, 0, NormScope.Hidden, 128, false, true, TestName = "A tensor off 16-byte alignment: the general kernel")]
    [TestCase(RotaryForm.RotateHalf, 0, NormScope.Hidden, 128, true, false, TestName = "No cp.async: the general kernel")]
    public void FormsThePackedKernelCannotTake_GoToTheGeneralOne(RotaryForm form, int rotaryDim, NormScope scope, int headDim, bool aligned, bool asyncCopy) =>
        Plan(2, 64, 4, 2, headDim, scope: scope, form: form, rotaryDim: rotaryDim, aligned: aligned, asyncCopy: asyncCopy).Packed.Should().BeFalse();

    [Test]
    public void TheSameFormsWithFullRotateHalf_TakeThePackedKernel() =>
        Plan(2, 64, 4, 2, 128, scope: NormScope.PerHead).Packed.Should().BeTrue();
}
