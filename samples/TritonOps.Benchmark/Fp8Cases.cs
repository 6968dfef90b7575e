namespace TritonOps.Benchmark;

/// <summary>fp8_gemm on pre-quantized operands, b as the transposed view of an [N, K] weight (the
/// fast layout); flops = 2·M·N·K.</summary>
/// <param name="schedule">The wgmma kernel's tile rows and ring depth pinned (default: the op's choice).</param>
internal sealed class Fp8GemmCase(int m, int n, int k, DType output, Fp8GemmSchedule schedule = default) : IBenchmarkCase
{
    public string Op => "fp8_gemm";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long bytes = (long)m * k + (long)n * k + (long)m * n * DTypes.SizeOf(output);
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(3);
        float[] Values(long count, double scale) { var v = new float[count]; for (long i = 0; i < count; i++) v[i] = (float)((random.NextDouble() * 2 - 1) * scale); return v; }

        using var aFloat = Tensor.FromArray(Values((long)m * k, 2), [m, k], DType.BFloat16, device);
        using var wFloat = Tensor.FromArray(Values((long)n * k, 0.05), [n, k], DType.BFloat16, device);
        var (aq, aScale) = Ops.QuantizeFp8(aFloat);
        var (wq, wScale) = Ops.QuantizeFp8(wFloat);
        var aSets = new Tensor[sets];
        var wSets = new Tensor[sets];
        byte[] aBytes = aq.ToBytes(), wBytes = wq.ToBytes();
        for (int i = 0; i < sets; i++)
        {
            aSets[i] = i == 0 ? aq : Tensor.FromBytes(aBytes, [m, k], DType.Float8E4M3, device);
            wSets[i] = (i == 0 ? wq : Tensor.FromBytes(wBytes, [n, k], DType.Float8E4M3, device)).Transpose(0, 1);
        }
        Tensor? last = null;
        var stats = timer.Time(i => { last?.Dispose(); last = Ops.Fp8Gemm(aSets[i % sets], wSets[i % sets], aScale, wScale, output, null, schedule); }, warmup: 5, runs: 60);
        string check = Check(aq, aScale, wq, wScale, last!, m, n, k);
        last!.Dispose();
        foreach (var t in aSets.Concat(wSets)) t.Dispose();
        aScale.Dispose(); wScale.Dispose();

        double tflops = 2.0 * m * n * k / (stats.MedianUs * 1e-6) / 1e12;
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        string pinned = (schedule.Tiled ? " tiled" : "")
            + (schedule.BlockM > 0 ? $" {schedule.BlockM}-row tiles" : "") + (schedule.Stages > 0 ? $" {schedule.Stages} stages" : "");
        return new Result(Op, $"M{m} N{n} K{k}{pinned}", $"e4m3→{DTypes.Name(output)}", stats,
            $"{tflops:F0} TFLOP/s ({gbs / 1000:F2} TB/s)", $"{100 * gbs / copyGbs:F0} %", check);
    }

    /// <summary>Rows 0 and M−1 against the float64 product of the dequantized operands.</summary>
    private static string Check(Tensor aq, Tensor aScale, Tensor wq, Tensor wScale, Tensor output, int m, int n, int k)
    {
        float[] a = aq.ToFloatArray(), w = wq.ToFloatArray(), y = output.ToFloatArray();
        double sa = aScale.ToFloatArray()[0], sw = wScale.ToFloatArray()[0];
        foreach (int row in new[] { 0, m - 1 })
            for (int col = 0; col < n; col += Math.Max(1, n / 512))
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)a[(long)row * k + p] * w[(long)col * k + p];
                double e = sum * sa * sw, actual = y[(long)row * n + col];
                if (!(Math.Abs(actual - e) <= 1e-2 + 1e-2 * Math.Abs(e)))
                    return $"FAIL row {row} col {col}: {actual} vs {e}";
            }
        return "ok";
    }
}

/// <summary>quantize_fp8, per tensor, amax on the device; bytes = read x + write codes.</summary>
/// <param name="schedule">The per-tensor kernels pinned (default: the op's choice), for A/B rows in the same run.</param>
/// <param name="keepInL2Mb">The fused kernel's L2 budget for its second phase instead of the op's (an experiment).</param>
/// <param name="givenScale">The scale passed in (computed once beforehand): one pass, no amax, the static-scale case.</param>
internal sealed class QuantizeFp8Case(int rows, int cols, DType dtype, QuantizeSchedule schedule = QuantizeSchedule.Auto, int? keepInL2Mb = null,
    bool givenScale = false) : IBenchmarkCase
{
    public string Op => "quantize_fp8";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long count = (long)rows * cols;
        long bytes = count * DTypes.SizeOf(dtype) + count;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(4);
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * 3);
        var xs = new Tensor[sets];
        for (int i = 0; i < sets; i++) xs[i] = Tensor.FromArray(values, [rows, cols], dtype, device);
        (Tensor Data, Tensor Scale)? last = null;
        Tensor? fixedScale = null;
        if (givenScale)
        {
            var (codes0, scale0) = Ops.QuantizeFp8(xs[0]);
            codes0.Dispose();
            fixedScale = scale0;
        }
        var stats = timer.Time(i =>
        {
            if (last is { } l) { l.Data.Dispose(); if (!givenScale) l.Scale.Dispose(); }
            last = Ops.QuantizeFp8(xs[i % sets], fixedScale, DType.Float8E4M3, ScaleGranularity.PerTensor, schedule, keepInL2Mb * (1L << 20));
        }, warmup: 5, runs: 60);
        var (data, scale) = last!.Value;
        var (codes, scales) = Reference.QuantizeFp8(xs[0].ToFloatArray(), DType.Float8E4M3, 1, _ => 0);
        string check = scale.ToFloatArray()[0] == scales[0] && data.ToBytes().AsSpan().SequenceEqual(codes) ? "ok (bit-exact)" : "FAIL: codes differ from the reference";
        data.Dispose(); scale.Dispose();
        foreach (var t in xs) t.Dispose();
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{rows},{cols}] per-tensor{(givenScale ? ", scale given" : "")}{(schedule == QuantizeSchedule.Auto ? "" : schedule == QuantizeSchedule.Fused ? ", fused kernel" : ", two passes")}{(keepInL2Mb is { } mb ? $", L2 keeps {mb} MB" : "")}", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }
}
