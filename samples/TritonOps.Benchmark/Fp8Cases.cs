namespace TritonOps.Benchmark;

/// <summary>How a benchmark row's fp8_gemm operands are scaled (issue #18's bars compare the last two with the first).</summary>
internal enum Fp8GemmScales
{
    /// <summary>One scale each.</summary>
    PerTensor,
    /// <summary>a per token [M, 1], the weight per output channel [1, N] (torch._scaled_mm's row-wise).</summary>
    RowWise,
    /// <summary>a per token and 1 × 128 group [M, K/128], the weight per 128 × 128 block (DeepSeek-V3, DeepGEMM's 1d2d).</summary>
    Blocks,
}

/// <summary>fp8_gemm on pre-quantized operands, b as the transposed view of an [N, K] weight (the
/// fast layout); flops = 2·M·N·K.</summary>
/// <param name="schedule">The wgmma kernel's tile rows and ring depth pinned (default: the op's choice).</param>
/// <param name="scales">Per tensor (default), row-wise, or block scales.</param>
internal sealed class Fp8GemmCase(int m, int n, int k, DType output, Fp8GemmSchedule schedule = default, Fp8GemmScales scales = Fp8GemmScales.PerTensor) : IBenchmarkCase
{
    public string Op => "fp8_gemm";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long bytes = (long)m * k + (long)n * k + (long)m * n * DTypes.SizeOf(output);
        using var operands = new Fp8GemmOperands(m, n, k, scales, BenchmarkCases.SetsToDefeatL2(bytes), device);
        var stats = timer.Time(i => operands.Run(i, output, schedule), warmup: 5, runs: 60);
        string check = operands.Check();
        double tflops = 2.0 * m * n * k / (stats.MedianUs * 1e-6) / 1e12;
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        string pinned = ScalesName(scales)
            + (schedule.Tiled ? " tiled" : "")
            + (schedule.BlockM > 0 ? $" {schedule.BlockM}-row tiles" : "") + (schedule.Stages > 0 ? $" {schedule.Stages} stages" : "");
        return new Result(Op, $"M{m} N{n} K{k}{pinned}", $"e4m3→{DTypes.Name(output)}", stats,
            $"{tflops:F0} TFLOP/s ({gbs / 1000:F2} TB/s)", $"{100 * gbs / copyGbs:F0} %", check);
    }

    internal static string ScalesName(Fp8GemmScales scales) =>
        scales == Fp8GemmScales.RowWise ? " row-wise" : scales == Fp8GemmScales.Blocks ? " 1x128/128x128 blocks" : "";
}

/// <summary>Issue #18's ratio bars measured fairly: fp8_gemm with <paramref name="scales"/> and with per-tensor
/// scales timed alternately in one batch (<see cref="GpuTimer.TimeInterleaved"/>), same values, same kernel choice.</summary>
internal sealed class Fp8GemmScalesVsPerTensorCase(int m, int n, int k, DType output, Fp8GemmScales scales) : IBenchmarkCase
{
    public string Op => "fp8_gemm";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long bytes = (long)m * k + (long)n * k + (long)m * n * DTypes.SizeOf(output);
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        using var perTensor = new Fp8GemmOperands(m, n, k, Fp8GemmScales.PerTensor, sets, device);
        using var scaled = new Fp8GemmOperands(m, n, k, scales, sets, device);
        var (a, b) = timer.TimeInterleaved(i => perTensor.Run(i, output, default), i => scaled.Run(i, output, default), warmup: 5, runs: 60);
        string check = scaled.Check();
        double tflops = 2.0 * m * n * k / (b.MedianUs * 1e-6) / 1e12;
        return new Result("fp8_gemm", $"M{m} N{n} K{k}{Fp8GemmCase.ScalesName(scales)}, interleaved with per-tensor", $"e4m3→{DTypes.Name(output)}", b,
            $"{tflops:F0} TFLOP/s, {a.MedianUs / b.MedianUs:F3}× per-tensor ({a.MedianUs:F1} µs)", $"{100 * bytes / (b.MedianUs * 1e-6) / 1e9 / copyGbs:F0} %", check);
    }
}

/// <summary>One fp8_gemm row's operands: uniform values quantized with the row's scales, in enough copies to defeat L2.</summary>
internal sealed class Fp8GemmOperands : IDisposable
{
    private readonly int _m, _n, _k;
    private readonly Tensor _aq, _wq, _aScale, _wScale;
    private readonly Tensor[] _aSets, _wSets;
    private Tensor? _last;

    public Fp8GemmOperands(int m, int n, int k, Fp8GemmScales scales, int sets, Device device)
    {
        (_m, _n, _k) = (m, n, k);
        var random = new Random(3);
        float[] Values(long count, double scale) { var v = new float[count]; for (long i = 0; i < count; i++) v[i] = (float)((random.NextDouble() * 2 - 1) * scale); return v; }

        using var aFloat = Tensor.FromArray(Values((long)m * k, 2), [m, k], DType.BFloat16, device);
        using var wFloat = Tensor.FromArray(Values((long)n * k, 0.05), [n, k], DType.BFloat16, device);
        (_aq, _aScale) = Ops.QuantizeFp8(aFloat, granularity: scales switch
        {
            Fp8GemmScales.RowWise => ScaleGranularity.PerRow,
            Fp8GemmScales.Blocks => ScaleGranularity.PerTokenGroup,
            _ => ScaleGranularity.PerTensor,
        });
        var (wq, wStored) = Ops.QuantizeFp8(wFloat, granularity: scales switch
        {
            Fp8GemmScales.RowWise => ScaleGranularity.PerRow,
            Fp8GemmScales.Blocks => ScaleGranularity.Block,
            _ => ScaleGranularity.PerTensor,
        });
        _wq = wq;
        // b's scale as fp8_gemm takes it: [1], [1, N] (the weight's [N, 1]), or the [K/128, N/128] view of its blocks.
        _wScale = scales switch
        {
            Fp8GemmScales.RowWise => wStored.Reshape(1, n),
            Fp8GemmScales.Blocks => wStored.Transpose(0, 1),
            _ => wStored.Reshape(1),
        };
        wStored.Dispose();
        _aSets = new Tensor[sets];
        _wSets = new Tensor[sets];
        byte[] aBytes = _aq.ToBytes(), wBytes = _wq.ToBytes();
        for (int i = 0; i < sets; i++)
        {
            _aSets[i] = i == 0 ? _aq : Tensor.FromBytes(aBytes, [m, k], DType.Float8E4M3, device);
            _wSets[i] = (i == 0 ? _wq : Tensor.FromBytes(wBytes, [n, k], DType.Float8E4M3, device)).Transpose(0, 1);
        }
    }

    public void Run(int i, DType output, Fp8GemmSchedule schedule)
    {
        _last?.Dispose();
        _last = Ops.Fp8Gemm(_aSets[i % _aSets.Length], _wSets[i % _wSets.Length], _aScale, _wScale, output, null, schedule);
    }

    public string Check() => Fp8GemmCheck.Check(_aq, _aScale, _wq, _wScale, _last!, _m, _n, _k);

    public void Dispose()
    {
        _last?.Dispose();
        foreach (var t in _aSets.Concat(_wSets)) t.Dispose();
        _aScale.Dispose();
        _wScale.Dispose();
    }
}

internal static class Fp8GemmCheck
{
    /// <summary>Rows 0 and M−1 against the float64 product of the dequantized operands (scales per 128-deep block of K
    /// read through the same shapes the op took).</summary>
    public static string Check(Tensor aq, Tensor aScale, Tensor wq, Tensor wScale, Tensor output, int m, int n, int k)
    {
        float[] a = aq.ToFloatArray(), w = wq.ToFloatArray(), y = output.ToFloatArray();
        float[] sa = aScale.ToFloatArray(), sw = wScale.ToFloatArray(); // wScale row-major in its [K/128, N/128] view
        int kb = (k + 127) / 128, nb = (n + 127) / 128;
        double A(int row, int block) => sa.Length == 1 ? sa[0] : sa.Length == m ? sa[row] : sa[row * kb + block];
        double W(int block, int col) => sw.Length == 1 ? sw[0] : sw.Length == n ? sw[col] : sw[block * nb + col / 128];
        foreach (int row in new[] { 0, m - 1 })
            for (int col = 0; col < n; col += Math.Max(1, n / 512))
            {
                double e = 0;
                for (int k0 = 0; k0 < k; k0 += 128)
                {
                    double sum = 0;
                    for (int p = k0; p < Math.Min(k, k0 + 128); p++)
                        sum += (double)a[(long)row * k + p] * w[(long)col * k + p];
                    e += sum * A(row, k0 / 128) * W(k0 / 128, col);
                }
                double actual = y[(long)row * n + col];
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
