namespace TritonOps.Benchmark;

/// <summary>fused_gated_mlp: flops = 4·M·hidden·intermediate (two GEMMs); bytes = x + both weights + out.</summary>
/// <param name="tiling">A tiled kernel instead of the op's choice (an A/B).</param>
/// <param name="stages">Stages of the wide kernel's ring instead of its default (an A/B).</param>
/// <param name="blocks">The wide kernel's grid instead of one block per SM (int.MaxValue: one block a tile; an A/B); the
/// warp-specialized kernel's grid instead of a block a tile (its blocks walk the tiles).</param>
internal sealed class FusedGatedMlpCase(int m, int hidden, int intermediate, DType dtype,
    GatedMlpTiling tiling = GatedMlpTiling.Auto, int? stages = null, int? blocks = null) : IBenchmarkCase
{
    public string Op => "fused_gated_mlp";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        int size = DTypes.SizeOf(dtype);
        long bytes = ((long)m * hidden + 2L * intermediate * hidden + (long)m * intermediate) * size;
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(2);
        float[] Values(long n, double scale) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)((random.NextDouble() * 2 - 1) * scale); return a; }

        double bound = 1 / Math.Sqrt(hidden);
        float[] xValues = Values((long)m * hidden, 1.5);
        var xs = new Tensor[sets];
        var outs = new Tensor[sets];
        for (int i = 0; i < sets; i++)
        {
            xs[i] = Tensor.FromArray(xValues, [1, m, hidden], dtype, device);
            outs[i] = Tensor.Empty([1, m, intermediate], dtype, device);
        }
        // One weight pair per set too when they fit, so decode runs stream weights from DRAM.
        int weightSets = Math.Min(sets, (int)Math.Max(1, 4_000_000_000L / (2L * intermediate * hidden * size)));
        var gates = new Tensor[weightSets];
        var ups = new Tensor[weightSets];
        float[] gateValues = Values((long)intermediate * hidden, bound), upValues = Values((long)intermediate * hidden, bound);
        for (int i = 0; i < weightSets; i++)
        {
            gates[i] = Tensor.FromArray(gateValues, [intermediate, hidden], dtype, device);
            ups[i] = Tensor.FromArray(upValues, [intermediate, hidden], dtype, device);
        }

        Stats stats = timer.Time(i => Ops.FusedGatedMlp(xs[i % sets], gates[i % weightSets], ups[i % weightSets], Activation.Silu, outs[i % sets], tiling, stages, blocks),
            warmup: 5, runs: 60);
        string check = CheckRow(xValues, gates[0], ups[0], outs[0], m, hidden, intermediate, dtype);
        foreach (var t in xs.Concat(outs).Concat(gates).Concat(ups))
            t.Dispose();

        double tflops = 4.0 * m * hidden * intermediate / (stats.MedianUs * 1e-6) / 1e12;
        double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"M{m} H{hidden} I{intermediate}{(tiling == GatedMlpTiling.Auto ? "" : $" {tiling}")}{(stages is int n ? $" {n} stages" : "")}{(blocks is int b ? b == int.MaxValue ? " a block a tile" : $" {b} blocks" : "")}", DTypes.Name(dtype), stats,
            $"{tflops:F0} TFLOP/s ({gbs / 1000:F2} TB/s)", $"{100 * gbs / copyGbs:F0} %", check);
    }

    /// <summary>Row 0 and the last row against the float64 reference.</summary>
    private static string CheckRow(float[] xValues, Tensor gate, Tensor up, Tensor output, int m, int hidden, int intermediate, DType dtype)
    {
        float[] g = gate.ToFloatArray(), u = up.ToFloatArray(), actual = output.ToFloatArray();
        double relative = dtype == DType.Float16 ? 2e-3 : 1e-2;
        foreach (int row in new[] { 0, m - 1 })
        {
            double[] xr = new double[hidden];
            for (int k = 0; k < hidden; k++)
                xr[k] = DTypes.Round(xValues[(long)row * hidden + k], dtype);
            double[] expected = Reference.FusedGatedMlp(xr, Array.ConvertAll(g, v => (double)v), Array.ConvertAll(u, v => (double)v),
                1, hidden, intermediate, Activation.Silu);
            for (int n = 0; n < intermediate; n++)
            {
                double a = actual[(long)row * intermediate + n], e = expected[n];
                if (!(Math.Abs(a - e) <= 1e-3 + relative * Math.Abs(e)))
                    return $"FAIL row {row} col {n}: {a} vs {e}";
            }
        }
        return "ok";
    }
}
