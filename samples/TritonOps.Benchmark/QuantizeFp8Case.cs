namespace TritonOps.Benchmark;

/// <summary>quantize_fp8, per tensor, amax on the device; bytes = read x + write codes.</summary>
/// <param name="schedule">The per-tensor kernels pinned (default: the op's choice), for A/B rows in the same run.</param>
/// <param name="keepInL2Mb">The fused kernel's L2 budget for its second phase instead of the op's (an experiment).</param>
/// <param name="givenScale">The scale passed in (computed once beforehand): one pass, no amax, the static-scale case.</param>
/// <param name="granularity">Per tensor (default) or per token and 1 × 128 group (scales computed on the device; bytes add the scales).</param>
internal sealed class QuantizeFp8Case(int rows, int cols, DType dtype, QuantizeSchedule schedule = QuantizeSchedule.Auto, int? keepInL2Mb = null,
    bool givenScale = false, ScaleGranularity granularity = ScaleGranularity.PerTensor) : IBenchmarkCase
{
    public string Op => "quantize_fp8";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long count = (long)rows * cols;
        bool groups = granularity == ScaleGranularity.PerTokenGroup;
        long bytes = count * DTypes.SizeOf(dtype) + count + (groups ? 4L * rows * ((cols + 127) / 128) : 0);
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
            last = Ops.QuantizeFp8(xs[i % sets], fixedScale, DType.Float8E4M3, granularity, schedule, keepInL2Mb * (1L << 20));
        }, warmup: 5, runs: 60);
        var (data, scale) = last!.Value;
        var (codes, scales) = Reference.QuantizeFp8(xs[0], granularity: granularity);
        string check = scale.ToFloatArray().AsSpan().SequenceEqual(scales) && data.ToBytes().AsSpan().SequenceEqual(codes) ? "ok (bit-exact)" : "FAIL: codes differ from the reference";
        data.Dispose(); scale.Dispose();
        foreach (var t in xs) t.Dispose();
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"[{rows},{cols}] {(groups ? "per-token-group 1x128" : "per-tensor")}{(givenScale ? ", scale given" : "")}{(schedule == QuantizeSchedule.Auto ? "" : schedule == QuantizeSchedule.Fused ? ", fused kernel" : ", two passes")}{(keepInL2Mb is { } mb ? $", L2 keeps {mb} MB" : "")}", DTypes.Name(dtype), stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
    }
}
