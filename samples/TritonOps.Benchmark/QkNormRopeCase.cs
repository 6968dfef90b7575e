namespace TritonOps.Benchmark;

/// <summary>
/// Norm + RoPE at positions with a float32 table (the general kernel): prefill (one tensor, norm over the row,
/// as OLMo2) or decode (q and k in one launch, per-head norm, as Qwen3). Bytes = read q (and k) + write them +
/// the weights + the table rows the tokens read. The check compares the first set's output, row by row,
/// with the float64 reference.
/// </summary>
internal sealed class QkNormRopeCase(int batch, int seq, int qHeads, int kHeads, int headDim, NormScope scope, DType dtype, int tableRows = 8192,
    QkNormRopeSchedule schedule = default, bool float32Table = true, bool withPositions = true, bool prefillPositions = false) : IBenchmarkCase
{
    public string Op => kHeads > 0 ? "fused_qk_norm_rope" : "fused_rmsnorm_rope positions";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype), tokens = batch * seq;
        long qBytes = (long)tokens * qHeads * headDim * size, kBytes = (long)tokens * kHeads * headDim * size;
        long bytes = 2 * (qBytes + kBytes) + (long)tokens * headDim * 4 * 2
            + (scope == NormScope.PerHead ? 2L * headDim : (long)(qHeads + kHeads) * headDim) * size;
        int sets = BenchmarkCases.SetsToDefeatL2(2 * (qBytes + kBytes));
        var random = new Random(5);
        float[] Values(long n, double lo, double hi) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }

        var qs = new Tensor[sets];
        var ks = new Tensor[sets];
        var qOuts = new Tensor[sets];
        var kOuts = new Tensor[sets];
        float[] qValues = Values(qBytes / size, -2, 2), kValues = Values(Math.Max(1, kBytes / size), -2, 2);
        for (int i = 0; i < sets; i++)
        {
            qs[i] = Tensor.FromArray(qValues, [batch, seq, qHeads * headDim], dtype, device);
            qOuts[i] = Tensor.Empty([batch, seq, qHeads * headDim], dtype, device);
            if (kHeads > 0)
            {
                ks[i] = Tensor.FromArray(kValues, [batch, seq, kHeads * headDim], dtype, device);
                kOuts[i] = Tensor.Empty([batch, seq, kHeads * headDim], dtype, device);
            }
        }
        int weightLength = scope == NormScope.PerHead ? headDim : qHeads * headDim;
        using var qWeight = Tensor.FromArray(Values(weightLength, 0.5, 1.5), [weightLength], dtype, device);
        using var kWeight = Tensor.FromArray(Values(scope == NormScope.PerHead ? headDim : Math.Max(1, kHeads * headDim), 0.5, 1.5),
            [scope == NormScope.PerHead ? headDim : Math.Max(1, kHeads * headDim)], dtype, device);
        float[] angles = Values((long)tableRows * headDim, -3.2, 3.2);
        DType tableDtype = float32Table ? DType.Float32 : dtype;
        using var cos = Tensor.FromArray(angles.Select(MathF.Cos).ToArray(), [tableRows, headDim], tableDtype, device);
        using var sin = Tensor.FromArray(angles.Select(MathF.Sin).ToArray(), [tableRows, headDim], tableDtype, device);
        // Random positions across the table (every token's row a scattered read), or each sequence at 0…seq−1 (a prefill).
        float[] at = withPositions && !prefillPositions ? Enumerable.Range(0, tokens).Select(_ => (float)random.Next(tableRows)).ToArray()
            : Enumerable.Range(0, tokens).Select(i => (float)(i % seq)).ToArray();
        using var checkPositions = Tensor.FromArray(at, [batch, seq], DType.Int64, device);
        using var given = withPositions ? checkPositions : null;

        Stats stats = kHeads > 0
            ? timer.Time(i => Ops.FusedQkNormRope(qs[i % sets], ks[i % sets], qWeight, kWeight, cos, sin, given, headDim, 1e-6, scope,
                qOutput: qOuts[i % sets], kOutput: kOuts[i % sets]))
            : timer.Time(i => Ops.FusedRmsNormRopeScheduled(qs[i % sets], qWeight, cos, sin, given, headDim, 1e-6, scope, RotaryForm.RotateHalf, 0, 0,
                qOuts[i % sets], schedule));

        string check = Check(qs[0], qWeight, cos, sin, checkPositions, qOuts[0]);
        foreach (var t in qs.Concat(ks).Concat(qOuts).Concat(kOuts))
            t?.Dispose();
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        string shape = $"[{batch},{seq}] q {qHeads}{(kHeads > 0 ? $" k {kHeads}" : "")} × hd{headDim} {scope}, {(float32Table ? "fp32" : DTypes.Name(dtype))} table{(withPositions ? prefillPositions ? ", positions 0…seq−1" : ", positions" : "")}"
            + (schedule == default ? "" : $", pinned {schedule.PairsPerThread} pairs a thread, ≤ {schedule.BlocksPerSm} blocks an SM");
        return new Result(Op, shape, DTypes.Name(dtype), stats, $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }

    /// <summary>The first and last token rows of q against the float64 reference (whole-tensor reference on a slice).</summary>
    private string Check(Tensor q, Tensor weight, Tensor cos, Tensor sin, Tensor positions, Tensor output)
    {
        int hidden = qHeads * headDim;
        float[] x = q.ToFloatArray(), actual = output.ToFloatArray(), pos = positions.ToFloatArray();
        double tolerance = dtype == DType.BFloat16 ? 8e-3 : 1e-3;
        foreach (int token in new[] { 0, batch * seq - 1 })
        {
            using var xRow = Tensor.FromArray(x.AsSpan(token * hidden, hidden), [1, 1, hidden], dtype, q.Device);
            using var pRow = Tensor.FromArray([pos[token]], [1, 1], DType.Int64, q.Device);
            double[] expected = Reference.QkNormRope(xRow, weight, cos, sin, pRow, headDim, 1e-6, scope);
            for (int i = 0; i < hidden; i++)
                if (!(Math.Abs(actual[token * hidden + i] - expected[i]) <= 1e-5 + tolerance * Math.Abs(expected[i])))
                    return $"FAIL token {token} col {i}: {actual[token * hidden + i]} vs {expected[i]}";
        }
        return "ok";
    }
}
