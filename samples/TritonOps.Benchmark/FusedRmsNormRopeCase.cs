namespace TritonOps.Benchmark;

/// <summary>fused_rmsnorm_rope: bytes = read x + write out + weight + cos + sin.</summary>
/// <param name="schedule">A pinned kernel and its sizes (default: the op's choice), for A/B rows in the same run.</param>
internal sealed class FusedRmsNormRopeCase(int batch, int seq, int hidden, int headDim, DType dtype, RmsNormRopeSchedule schedule = default) : IBenchmarkCase
{
    public string Op => "fused_rmsnorm_rope";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype);
        long xBytes = (long)batch * seq * hidden * size;
        long bytes = 2 * xBytes + hidden * size + 2L * seq * headDim * size;
        int sets = BenchmarkCases.SetsToDefeatL2(2 * xBytes);
        var random = new Random(1);
        float[] RandomValues(long n, double lo, double hi) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }

        var xs = new Tensor[sets];
        var outs = new Tensor[sets];
        float[] xValues = RandomValues((long)batch * seq * hidden, -2, 2);
        for (int i = 0; i < sets; i++)
        {
            xs[i] = Tensor.FromArray(xValues, [batch, seq, hidden], dtype, device);
            outs[i] = Tensor.Empty([batch, seq, hidden], dtype, device);
        }
        using var weight = Tensor.FromArray(RandomValues(hidden, 0.5, 1.5), [hidden], dtype, device);
        using var cos = Tensor.FromArray(RandomValues((long)seq * headDim, -1, 1), [seq, headDim], dtype, device);
        using var sin = Tensor.FromArray(RandomValues((long)seq * headDim, -1, 1), [seq, headDim], dtype, device);

        Stats stats = timer.Time(i => Ops.FusedRmsNormRope(xs[i % sets], weight, cos, sin, 1e-6, null, outs[i % sets], schedule));
        string check = CheckRows(xs[0], weight, cos, sin, outs[0], dtype);
        foreach (var t in xs.Concat(outs))
            t.Dispose();

        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{batch},{seq},{hidden}] hd{headDim}{Describe(schedule)}", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }

    private static string Describe(RmsNormRopeSchedule s) =>
        (s.Kernel == RmsNormRopeKernelChoice.Auto ? "" : $" {s.Kernel.ToString().ToLowerInvariant()} kernel")
        + (s.BlocksPerSm > 0 ? $" ≤{s.BlocksPerSm} blocks/SM" : "")
        + (s.PairsPerThread > 0 ? $" {s.PairsPerThread} pair/thread" : "")
        + (s.Warps > 0 ? $" {s.Warps} warps" : "")
        + (s.Slots > 0 ? $" {s.Slots} slots" : "");

    /// <summary>Checks the first two rows (and the last) against the float64 reference.</summary>
    private static string CheckRows(Tensor x, Tensor weight, Tensor cos, Tensor sin, Tensor output, DType dtype)
    {
        int hidden = x.Shape[2], seq = x.Shape[1], headDim = cos.Shape[^1];
        float[] all = x.ToFloatArray(), actual = output.ToFloatArray();
        double[] w = Array.ConvertAll(weight.ToFloatArray(), v => (double)v);
        double[] c = Array.ConvertAll(cos.ToFloatArray(), v => (double)v);
        double[] s = Array.ConvertAll(sin.ToFloatArray(), v => (double)v);
        double relative = dtype == DType.Float32 ? 1e-5 : dtype == DType.Float16 ? 1e-3 : 8e-3;
        long rows = all.LongLength / hidden;
        foreach (long row in new long[] { 0, 1, rows - 1 }.Where(r => r < rows).Distinct())
        {
            double[] xr = new double[hidden];
            for (int k = 0; k < hidden; k++)
                xr[k] = all[row * hidden + k];
            // The reference row sees its own position: slice cos/sin to that row's seq index.
            int position = (int)(row % seq);
            double[] expected = Reference.FusedRmsNormRope(xr, w, c.AsSpan(position * headDim, headDim), s.AsSpan(position * headDim, headDim),
                1, 1, hidden, headDim, 1e-6);
            for (int k = 0; k < hidden; k++)
            {
                double e = expected[k], a = actual[row * hidden + k];
                if (!(Math.Abs(a - e) <= 1e-5 + relative * Math.Abs(e)))
                    return $"FAIL row {row} col {k}: {a} vs {e}";
            }
        }
        return "ok";
    }
}
