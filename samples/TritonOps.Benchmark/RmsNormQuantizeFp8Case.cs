namespace TritonOps.Benchmark;

/// <summary>rms_norm_quantize_fp8: RMSNorm and per-token (or per 1 × 128 group) E4M3 quantization in one pass; bytes = read
/// x and the weight + write codes and scales (issue #18's bar: ≥ 85 % of a copy of as many bytes). Check: codes and
/// scales bit for bit against RmsNorm then QuantizeFp8 on the same device.</summary>
internal sealed class RmsNormQuantizeFp8Case(int rows, int hidden, DType dtype, ScaleGranularity granularity = ScaleGranularity.PerRow) : IBenchmarkCase
{
    public string Op => "rms_norm_quantize_fp8";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype), scaleCols = granularity == ScaleGranularity.PerRow ? 1 : (hidden + 127) / 128;
        long bytes = (long)rows * hidden * (size + 1) + (long)hidden * size + 4L * rows * scaleCols;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(5);
        float[] values = new float[(long)rows * hidden], weights = new float[hidden];
        for (long i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 4 - 2);
        for (int i = 0; i < hidden; i++) weights[i] = (float)(0.5 + random.NextDouble());
        var xs = new Tensor[sets];
        for (int i = 0; i < sets; i++) xs[i] = Tensor.FromArray(values, [rows, hidden], dtype, device);
        using var weight = Tensor.FromArray(weights, [hidden], dtype, device);
        (Tensor Data, Tensor Scale)? last = null;
        var stats = timer.Time(i =>
        {
            if (last is { } l) { l.Data.Dispose(); l.Scale.Dispose(); }
            last = Ops.RmsNormQuantizeFp8(xs[i % sets], weight, 1e-6, granularity);
        }, warmup: 5, runs: 60);
        var (data, scale) = last!.Value;
        var (fusedCodes, fusedScales) = Ops.RmsNormQuantizeFp8(xs[0], weight, 1e-6, granularity);
        using var y = Ops.RmsNorm(xs[0], weight, 1e-6);
        var (codes, scales) = Ops.QuantizeFp8(y, granularity: granularity);
        string check = fusedCodes.ToBytes().AsSpan().SequenceEqual(codes.ToBytes()) && fusedScales.ToFloatArray().AsSpan().SequenceEqual(scales.ToFloatArray())
            ? "ok (bit-exact vs RmsNorm + QuantizeFp8)" : "FAIL: differs from RmsNorm then QuantizeFp8";
        foreach (var t in new[] { data, scale, fusedCodes, fusedScales, codes, scales }.Concat(xs)) t.Dispose();
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{rows},{hidden}] {(granularity == ScaleGranularity.PerRow ? "per-token" : "per-token-group 1x128")}", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }
}
