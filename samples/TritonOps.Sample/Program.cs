using TritonOps;

// The main sample: runs each op on the default device (the first CUDA GPU, else ILGPU's CPU
// accelerator) and checks it against the float64 reference.
var device = Device.Default;
Console.WriteLine($"TritonOps on {device} ({device.Kind})");
var random = new Random(42);
float[] Random(int n, double lo, double hi) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }

// fused_rmsnorm_rope: a Llama-style attention input, bf16, 4 heads of 64, 16 positions.
const int batch = 2, seq = 16, heads = 4, headDim = 64, hidden = heads * headDim;
using var norm = new FusedRmsNormRope(hidden, headDim, eps: 1e-6, DType.BFloat16, device);
norm.LoadWeight(Random(hidden, 0.5, 1.5));
var (cosValues, sinValues) = RopeTable(seq, headDim, theta: 10000);
using var x = Tensor.FromArray(Random(batch * seq * hidden, -2, 2), [batch, seq, hidden], DType.BFloat16, device);
using var cos = Tensor.FromArray(cosValues, [1, seq, 1, headDim], DType.BFloat16, device);
using var sin = Tensor.FromArray(sinValues, [1, seq, 1, headDim], DType.BFloat16, device);
using var y = norm.Forward(x, cos, sin);
Report("fused_rmsnorm_rope", y, Reference.FusedRmsNormRope(x, norm.Weight, cos, sin));
return 0;

static void Report(string op, Tensor output, double[] expected)
{
    float[] actual = output.ToFloatArray();
    double worst = 0;
    for (int i = 0; i < actual.Length; i++)
        worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / (1 + Math.Abs(expected[i])));
    Console.WriteLine($"{op,-20} {output} max |Δ|/(1+|ref|) = {worst:E2} {(worst < 1e-2 ? "ok" : "MISMATCH")}");
}

// Hugging Face's rotary table: cat(freqs, freqs) for positions 0..seq-1.
static (float[] Cos, float[] Sin) RopeTable(int seq, int headDim, double theta)
{
    float[] cos = new float[seq * headDim], sin = new float[seq * headDim];
    for (int p = 0; p < seq; p++)
        for (int d = 0; d < headDim; d++)
        {
            double angle = p * Math.Pow(theta, -2.0 * (d % (headDim / 2)) / headDim);
            cos[p * headDim + d] = (float)Math.Cos(angle);
            sin[p * headDim + d] = (float)Math.Sin(angle);
        }
    return (cos, sin);
}
