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
            + (schedule.BlockM > 0 ? $" {schedule.BlockM}-row tiles" : "") + (schedule.Stages > 0 ? $" {schedule.Stages} stages" : "")
            + (schedule.Blocks > 0 ? $" {schedule.Blocks} blocks" : "");
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
