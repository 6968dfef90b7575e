using ILGPU.Runtime;

namespace TritonOps.Benchmark;

/// <summary>
/// rms_norm (bytes = read x + write out + weight) or fused_add_rms_norm (bytes = read x and residual + write
/// residual and out + weight). The residual is updated in place by every timed call, so the check runs one more
/// call on rows whose inputs it read just before: the new residual bit for bit, the output against the float64
/// reference of that rounded sum.
/// </summary>
/// <param name="schedule">A pinned schedule (default: the op's choice), for A/B rows in the same run.</param>
internal sealed class RmsNormCase(int rows, int hidden, DType dtype, bool fusedAdd, RmsNormSchedule schedule = default) : IBenchmarkCase
{
    public string Op => fusedAdd ? "fused_add_rms_norm" : "rms_norm";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype);
        long xBytes = (long)rows * hidden * size;
        long bytes = (fusedAdd ? 4 : 2) * xBytes + (long)hidden * size;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(1);
        float[] RandomValues(long n, double lo, double hi) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }
        float[] xValues = RandomValues((long)rows * hidden, -2, 2), residualValues = RandomValues((long)rows * hidden, -8, 8);
        var xs = new Tensor[sets];
        var residuals = new Tensor[fusedAdd ? sets : 0];
        var outs = new Tensor[sets];
        for (int i = 0; i < sets; i++)
        {
            xs[i] = Tensor.FromArray(xValues, [rows, hidden], dtype, device);
            if (fusedAdd)
                residuals[i] = Tensor.FromArray(residualValues, [rows, hidden], dtype, device);
            outs[i] = Tensor.Empty([rows, hidden], dtype, device);
        }
        using var weight = Tensor.FromArray(RandomValues(hidden, 0.5, 1.5), [hidden], dtype, device);
        try
        {
            Stats stats = timer.Time(i => Call(xs[i % sets], fusedAdd ? residuals[i % sets] : null, weight, outs[i % sets]));
            string check = Check(xs[0], fusedAdd ? residuals[0] : null, weight, outs[0]);
            double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
            string pinned = (schedule.RunsPerThread > 0 ? $" {schedule.RunsPerThread} runs/thread" : "") + (schedule.Wide ? " wide kernel" : "");
            return new Result(Op, $"[{rows},{hidden}]{pinned}", DTypes.Name(dtype), stats,
                $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
        }
        finally
        {
            foreach (var t in xs.Concat(residuals).Concat(outs))
                t.Dispose();
        }
    }

    private void Call(Tensor x, Tensor? residual, Tensor weight, Tensor output)
    {
        if (residual is null)
            Ops.RmsNorm(x, weight, 1e-6, 0, output, NormRounding.Once, schedule);
        else
            Ops.FusedAddRmsNorm(x, residual, weight, 1e-6, 0, output, NormRounding.Once, schedule);
    }

    /// <summary>One more call, then its first two rows and its last against the reference (NaN-poisoned output first).</summary>
    private string Check(Tensor x, Tensor? residual, Tensor weight, Tensor output)
    {
        output.Bytes.MemSet(output.Device.Accelerator.DefaultStream, 0xFF);
        float[] xv = x.ToFloatArray(), before = residual?.ToFloatArray() ?? xv;
        Call(x, residual, weight, output);
        float[] actual = output.ToFloatArray(), after = residual?.ToFloatArray() ?? xv;
        double[] w = Array.ConvertAll(weight.ToFloatArray(), v => (double)v);
        double relative = dtype == DType.Float32 ? 1e-5 : dtype == DType.Float16 ? 1e-3 : 8e-3;
        foreach (long row in new long[] { 0, 1, rows - 1 }.Where(r => r < rows).Distinct())
        {
            double[] input = new double[hidden];
            for (int k = 0; k < hidden; k++)
            {
                long i = row * hidden + k;
                float sum = residual is null ? xv[i] : DTypes.Round(before[i] + xv[i], dtype);
                if (residual is not null && after[i] != sum)
                    return $"FAIL residual row {row} col {k}: {after[i]} vs {sum}";
                input[k] = sum;
            }
            double[] expected = Reference.RmsNorm(input, w, 1, hidden, 1e-6);
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
