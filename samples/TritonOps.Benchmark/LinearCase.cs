namespace TritonOps.Benchmark;

/// <summary>linear: x [M, in] · Wᵀ (W [out, in]), optionally + residual; flops = 2·M·in·out; bytes = x + W + out
/// (+ residual). The check compares the first and last rows with the float64 reference.</summary>
internal sealed class LinearCase(int m, int inFeatures, int outFeatures, DType dtype, bool residual = false,
    LinearKernelChoice kernel = LinearKernelChoice.Auto, int splitK = 0, int? blocks = null, int? stages = null) : IBenchmarkCase
{
    public string Op => "linear";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype);
        long bytes = ((long)m * inFeatures + (long)outFeatures * inFeatures + (residual ? 2L : 1L) * m * outFeatures) * size;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(3);
        float[] Values(long n, double scale) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)((random.NextDouble() * 2 - 1) * scale); return a; }
        float[] xValues = Values((long)m * inFeatures, 1.5), wValues = Values((long)outFeatures * inFeatures, 1 / Math.Sqrt(inFeatures));
        var xs = new Tensor[sets];
        var outs = new Tensor[sets];
        for (int i = 0; i < sets; i++)
        {
            xs[i] = Tensor.FromArray(xValues, [m, inFeatures], dtype, device);
            outs[i] = Tensor.Empty([m, outFeatures], dtype, device);
        }
        // One weight per set when they fit (decode streams weights from DRAM).
        int weightSets = Math.Min(sets, (int)Math.Max(1, 4_000_000_000L / ((long)outFeatures * inFeatures * size)));
        var weights = Enumerable.Range(0, weightSets).Select(_ => Tensor.FromArray(wValues, [outFeatures, inFeatures], dtype, device)).ToArray();
        using var res = residual ? Tensor.FromArray(Values((long)m * outFeatures, 1), [m, outFeatures], dtype, device) : null;

        Stats stats = timer.Time(i => Ops.Linear(xs[i % sets], weights[i % weightSets], null, res, outs[i % sets], kernel, splitK, blocks: blocks, stages: stages), warmup: 5, runs: 60);
        string check = CheckRows(xs[0], weights[0], res, outs[0]);
        foreach (var t in xs.Concat(outs).Concat(weights))
            t.Dispose();

        double tflops = 2.0 * m * inFeatures * outFeatures / (stats.MedianUs * 1e-6) / 1e12;
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"M{m} in{inFeatures} out{outFeatures}{(residual ? " +residual" : "")}{(kernel == LinearKernelChoice.Auto ? "" : $" {kernel}")}{(splitK > 0 ? $" split-K {splitK}" : "")}{(blocks is int b ? $" {b} blocks" : "")}{(stages is int st ? $" {st} stages" : "")}", DTypes.Name(dtype), stats,
            $"{tflops:F0} TFLOP/s ({gbs / 1000:F2} TB/s)", $"{100 * gbs / copyGbs:F0} %", check);
    }

    private string CheckRows(Tensor x, Tensor weight, Tensor? residual, Tensor output)
    {
        float[] xs = x.ToFloatArray(), w = weight.ToFloatArray(), actual = output.ToFloatArray(), r = residual?.ToFloatArray() ?? [];
        double relative = dtype == DType.Float16 ? 2e-3 : 1e-2;
        foreach (int row in new[] { 0, m - 1 })
            for (int n = 0; n < outFeatures; n++)
            {
                double e = residual is null ? 0 : r[(long)row * outFeatures + n];
                for (int k = 0; k < inFeatures; k++)
                    e += (double)xs[(long)row * inFeatures + k] * w[(long)n * inFeatures + k];
                double a = actual[(long)row * outFeatures + n];
                if (!(Math.Abs(a - e) <= 1e-3 + relative * Math.Abs(e)))
                    return $"FAIL row {row} col {n}: {a} vs {e}";
            }
        return "ok";
    }
}
