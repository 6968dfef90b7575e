using ILGPU.Runtime;

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
        var inputs = InputsFor(device, xBytes);
        var (xs, outs) = (inputs.Xs, inputs.Outs);
        int sets = xs.Length;
        // Outputs are kept between cases of a shape: NaN them first, so a case that writes nothing fails its check.
        foreach (var o in outs)
            o.Bytes.MemSet(device.Accelerator.DefaultStream, 0xFF);

        Stats stats = timer.Time(i => Ops.FusedRmsNormRope(xs[i % sets], inputs.Weight, inputs.Cos, inputs.Sin, 1e-6, null, outs[i % sets], schedule));
        string check = CheckRows(inputs.XValues, inputs.Weight, inputs.Cos, inputs.Sin, outs[0], dtype);

        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{batch},{seq},{hidden}] hd{headDim}{Describe(schedule)}", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }

    /// <summary>The inputs of the last shape run, kept for the next case of the same shape (sweeps run many
    /// schedules of one shape; making 134 MB of inputs costs more host time than timing them).</summary>
    private sealed record CachedInputs((int, int, int, int, DType) Key, Tensor[] Xs, Tensor[] Outs, float[] XValues, Tensor Weight, Tensor Cos, Tensor Sin)
    {
        public void Dispose()
        {
            foreach (var t in Xs.Concat(Outs).Append(Weight).Append(Cos).Append(Sin))
                t.Dispose();
        }
    }

    private static CachedInputs? s_inputs;

    private CachedInputs InputsFor(Device device, long xBytes)
    {
        var key = (batch, seq, hidden, headDim, dtype);
        if (s_inputs is { } cached && cached.Key == key)
            return cached;
        s_inputs?.Dispose();
        int sets = BenchmarkCases.SetsToDefeatL2(2 * xBytes);
        var random = new Random(1);
        float[] RandomValues(long n, double lo, double hi) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }
        float[] xValues = RandomValues((long)batch * seq * hidden, -2, 2);
        var xs = new Tensor[sets];
        var outs = new Tensor[sets];
        for (int i = 0; i < sets; i++)
        {
            xs[i] = Tensor.FromArray(xValues, [batch, seq, hidden], dtype, device);
            outs[i] = Tensor.Empty([batch, seq, hidden], dtype, device);
        }
        var weight = Tensor.FromArray(RandomValues(hidden, 0.5, 1.5), [hidden], dtype, device);
        var cos = Tensor.FromArray(RandomValues((long)seq * headDim, -1, 1), [seq, headDim], dtype, device);
        var sin = Tensor.FromArray(RandomValues((long)seq * headDim, -1, 1), [seq, headDim], dtype, device);
        // The values as the device holds them (rounded to dtype), for the check.
        return s_inputs = new CachedInputs(key, xs, outs, xs[0].ToFloatArray(), weight, cos, sin);
    }

    private static string Describe(RmsNormRopeSchedule s) =>
        (s.Kernel == RmsNormRopeKernelChoice.Auto ? "" : $" {s.Kernel.ToString().ToLowerInvariant()} kernel")
        + (s.BlocksPerSm > 0 ? $" ≤{s.BlocksPerSm} blocks/SM" : "")
        + (s.PairsPerThread > 0 ? $" {s.PairsPerThread} pair/thread" : "");

    /// <summary>Checks the first two rows (and the last) against the float64 reference.</summary>
    private string CheckRows(float[] all, Tensor weight, Tensor cos, Tensor sin, Tensor output, DType dtype)
    {
        int headDim = cos.Shape[^1];
        float[] actual = output.ToFloatArray();
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
