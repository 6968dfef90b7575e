using ILGPU.Runtime;

namespace TritonOps.Benchmark;

/// <summary>
/// gated_activation: act(gate) ⊙ up over [rows, d] (two tensors, or the merged [rows, 2d] form); bytes = read gate and
/// up + write out. The check: one more call into a NaN-poisoned output, the first two rows and the last against the
/// float64 reference.
/// </summary>
internal sealed class GatedActivationCase(int rows, int d, DType dtype, bool merged = false) : IBenchmarkCase
{
    public string Op => "gated_activation";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        long elements = (long)rows * d;
        long bytes = 3 * elements * DTypes.SizeOf(dtype);
        int sets = BenchmarkCases.SetsToDefeatL2(bytes);
        var random = new Random(3);
        float[] RandomValues(long n) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(6 * random.NextDouble() - 3); return a; }
        float[] first = RandomValues(merged ? 2 * elements : elements), second = merged ? [] : RandomValues(elements);
        var gates = new Tensor[sets];
        var ups = new Tensor[merged ? 0 : sets];
        var outs = new Tensor[sets];
        for (int i = 0; i < sets; i++)
        {
            gates[i] = Tensor.FromArray(first, merged ? [rows, 2 * d] : [rows, d], dtype, device);
            if (!merged)
                ups[i] = Tensor.FromArray(second, [rows, d], dtype, device);
            outs[i] = Tensor.Empty([rows, d], dtype, device);
        }
        try
        {
            Stats stats = timer.Time(i => Call(gates[i % sets], merged ? null : ups[i % sets], outs[i % sets]));
            string check = Check(gates[0], merged ? null : ups[0], outs[0]);
            double gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
            return new Result(Op, $"[{rows},{d}] silu{(merged ? ", merged [rows, 2d] input" : "")}", DTypes.Name(dtype), stats,
                $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", check);
        }
        finally
        {
            foreach (var t in gates.Concat(ups).Concat(outs))
                t.Dispose();
        }
    }

    private static void Call(Tensor gate, Tensor? up, Tensor output)
    {
        if (up is null)
            Ops.GatedActivation(gate, Activation.Silu, output);
        else
            Ops.GatedActivation(gate, up, Activation.Silu, output);
    }

    private string Check(Tensor gate, Tensor? up, Tensor output)
    {
        output.Bytes.MemSet(output.Device.Accelerator.DefaultStream, 0xFF);
        Call(gate, up, output);
        float[] actual = output.ToFloatArray(), g = gate.ToFloatArray(), u = up?.ToFloatArray() ?? g;
        double relative = dtype == DType.Float32 ? 1e-5 : dtype == DType.Float16 ? 1e-3 : 8e-3;
        foreach (long row in new long[] { 0, 1, rows - 1 }.Where(r => r < rows).Distinct())
            for (int c = 0; c < d; c++)
            {
                double gv = up is null ? g[row * 2 * d + c] : g[row * d + c], uv = up is null ? g[row * 2 * d + d + c] : u[row * d + c];
                double expected = gv / (1 + Math.Exp(-gv)) * uv, got = actual[row * d + c];
                if (!(Math.Abs(got - expected) <= 1e-5 + relative * Math.Abs(expected)))
                    return $"FAIL row {row} col {c}: {got} vs {expected}";
            }
        return "ok";
    }
}
