using TritonOps;

// The main sample: runs each op on the default device (the first CUDA GPU, else ILGPU's CPU
// accelerator) and checks it against the float64 reference.
var device = Device.Default;
Console.WriteLine($"TritonOps on {device} ({device.Kind})");
var random = new Random(42);
float[] Random(int n, double lo, double hi) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }

// Sizes: Llama-like on a GPU; small on the CPU accelerator, which emulates the tensor cores slowly.
bool gpu = device.Kind == DeviceKind.Cuda;
int batch = 2, seq = gpu ? 16 : 4, heads = gpu ? 32 : 2, headDim = gpu ? 128 : 32, hidden = heads * headDim;
int intermediate = gpu ? 11008 : 96;

// fused_rmsnorm_rope: an attention input in bf16.
using var norm = new FusedRmsNormRope(hidden, headDim, eps: 1e-6, DType.BFloat16, device);
norm.LoadWeight(Random(hidden, 0.5, 1.5));
var (cosValues, sinValues) = RopeTable(seq, headDim, theta: 10000);
using var x = Tensor.FromArray(Random(batch * seq * hidden, -2, 2), [batch, seq, hidden], DType.BFloat16, device);
using var cos = Tensor.FromArray(cosValues, [1, seq, 1, headDim], DType.BFloat16, device);
using var sin = Tensor.FromArray(sinValues, [1, seq, 1, headDim], DType.BFloat16, device);
using var y = norm.Forward(x, cos, sin);
Report("fused_rmsnorm_rope", y, Reference.FusedRmsNormRope(x, norm.Weight, cos, sin));

// fused_gated_mlp: the SwiGLU expansion of that output, on tensor cores for bf16.
using var mlp = new FusedGatedMlp(hidden, intermediate, "silu", DType.BFloat16, device, seed: 1);
using var h = mlp.Forward(y);
Report("fused_gated_mlp", h, Reference.FusedGatedMlp(y, mlp.GateWeight, mlp.UpWeight, Activation.Silu));

// FP8: a linear layer on FP8 tensor cores, checked against the float64 product of its quantized operands.
using var linear = new Fp8Linear(intermediate, hidden, bias: true, DType.BFloat16, device, seed: 2);
using var z = linear.Forward(h);
using var h2 = h.Reshape(batch * seq, intermediate);
var (hq, hScale) = Ops.QuantizeFp8(h2);
using var _hq = hq; using var _hs = hScale;
// b is the layer's cached [in, out] view of its [out, in] weight codes: the reference reads the strided view as is.
Report("fp8 linear", z, Reference.Fp8Gemm(hq, hScale, linear.WeightFp8T!, linear.WeightScale!, linear.Bias));
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
