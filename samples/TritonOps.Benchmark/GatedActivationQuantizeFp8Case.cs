namespace TritonOps.Benchmark;

/// <summary>gated_activation_quantize_fp8: act(gate) ⊙ up (PyTorch eager's two roundings) quantized per token and 1 × 128
/// group in one pass, merged [rows, 2d] input as the FP8 decoder layer's gate_up product; bytes = read gate and up + write
/// codes and scales. The rate column also gives the two ops it replaces (GatedActivation, then QuantizeFp8), timed in
/// the same case. Check: codes and scales bit for bit against those two ops.</summary>
internal sealed class GatedActivationQuantizeFp8Case(int rows, int d, DType dtype) : IBenchmarkCase
{
    public string Op => "gated_activation_quantize_fp8";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype), scaleCols = (d + 127) / 128;
        long bytes = (long)rows * d * (2 * size + 1) + 4L * rows * scaleCols;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(11);
        float[] values = new float[2L * rows * d];
        for (long i = 0; i < values.Length; i++) values[i] = (float)(6 * random.NextDouble() - 3);
        var inputs = new Tensor[sets];
        for (int i = 0; i < sets; i++) inputs[i] = Tensor.FromArray(values, [rows, 2 * d], dtype, device);
        const ActivationRounding rounding = ActivationRounding.PerOp;
        (Tensor Data, Tensor Scale)? last = null;
        void Release() { if (last is { } l) { l.Data.Dispose(); l.Scale.Dispose(); } last = null; }
        var stats = timer.Time(i =>
        {
            Release();
            last = Ops.GatedActivationQuantizeFp8(inputs[i % sets], Activation.Silu, rounding);
        }, warmup: 5, runs: 60);
        Release();
        using var product = Tensor.Empty([rows, d], dtype, device);
        var twoOps = timer.Time(i =>
        {
            Release();
            Ops.GatedActivation(inputs[i % sets], Activation.Silu, product, rounding);
            last = Ops.QuantizeFp8(product, granularity: ScaleGranularity.PerTokenGroup);
        }, warmup: 5, runs: 60);
        Release();
        var (codes, scales) = Ops.GatedActivationQuantizeFp8(inputs[0], Activation.Silu, rounding);
        Ops.GatedActivation(inputs[0], Activation.Silu, product, rounding);
        var (twoCodes, twoScales) = Ops.QuantizeFp8(product, granularity: ScaleGranularity.PerTokenGroup);
        string check = codes.ToBytes().AsSpan().SequenceEqual(twoCodes.ToBytes()) && scales.ToFloatArray().AsSpan().SequenceEqual(twoScales.ToFloatArray())
            ? "ok (bit-exact vs GatedActivation + QuantizeFp8)" : "FAIL: differs from GatedActivation then QuantizeFp8";
        foreach (var t in new[] { codes, scales, twoCodes, twoScales }.Concat(inputs)) t.Dispose();
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{rows},{d}] merged, per-token-group 1x128", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s; the two ops {twoOps.MedianUs:F1} µs", $"{100 * gbs / copyGbs:F0} %", check);
    }
}
