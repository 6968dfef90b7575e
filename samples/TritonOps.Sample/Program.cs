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

// fused_rmsnorm_rope: an attention input in bf16, with transformers' RoPE table for positions 0…seq−1 (RopeTable builds
// it as Hugging Face's rotary module does: inv_freq = 1/θ^(2i/d) in float32, cat(freqs, freqs)).
using var norm = new FusedRmsNormRope(hidden, headDim, eps: 1e-6, DType.BFloat16, device);
norm.LoadWeight(Random(hidden, 0.5, 1.5));
var (cos, sin) = RopeTable.Create(seq, headDim, theta: 10000, dtype: DType.BFloat16, device: device);
using var _cos = cos; using var _sin = sin;
using var x = Tensor.FromArray(Random(batch * seq * hidden, -2, 2), [batch, seq, hidden], DType.BFloat16, device);
using var y = norm.Forward(x, cos, sin);
Report("fused_rmsnorm_rope", y, Reference.FusedRmsNormRope(x, norm.Weight, cos, sin));

// A decode step as Qwen3 takes it: one token of each sequence at its own position (517 and 3), q and k (GQA: 4× fewer
// k heads) normed per head and rotated in one launch, reading the model's table at those positions.
int kvHeads = Math.Max(1, heads / 4), maxPositions = 1024;
var (tableCos, tableSin) = RopeTable.Create(maxPositions, headDim, theta: 1_000_000, dtype: DType.BFloat16, device: device);
using var _tc = tableCos; using var _ts = tableSin;
using var q = Tensor.FromArray(Random(batch * heads * headDim, -2, 2), [batch, 1, heads * headDim], DType.BFloat16, device);
using var k = Tensor.FromArray(Random(batch * kvHeads * headDim, -2, 2), [batch, 1, kvHeads * headDim], DType.BFloat16, device);
using var qNorm = Tensor.FromArray(Random(headDim, 0.5, 1.5), [headDim], DType.BFloat16, device);
using var kNorm = Tensor.FromArray(Random(headDim, 0.5, 1.5), [headDim], DType.BFloat16, device);
using var positions = Tensor.FromArray([517, 3], [batch, 1], device);
var (qr, kr) = Ops.FusedQkNormRope(q, k, qNorm, kNorm, tableCos, tableSin, positions, headDim, eps: 1e-6, scope: NormScope.PerHead);
using var _qr = qr; using var _kr = kr;
Report("fused_qk_norm_rope q", qr, Reference.QkNormRope(q, qNorm, tableCos, tableSin, positions, headDim, 1e-6, NormScope.PerHead));
Report("fused_qk_norm_rope k", kr, Reference.QkNormRope(k, kNorm, tableCos, tableSin, positions, headDim, 1e-6, NormScope.PerHead));

// fused_gated_mlp: the SwiGLU expansion of that output, on tensor cores for bf16.
using var mlp = new FusedGatedMlp(hidden, intermediate, "silu", DType.BFloat16, device, seed: 1);
using var h = mlp.Forward(y);
Report("fused_gated_mlp", h, Reference.FusedGatedMlp(y, mlp.GateWeight, mlp.UpWeight, Activation.Silu));

// The down projection with the residual added in its epilogue, then the next layer's input norm with that residual
// (vLLM's fused_add_rms_norm: residual ← residual + x in place, the norm of the new residual returned).
using var down = Tensor.FromArray(Random(hidden * intermediate, -0.05, 0.05), [hidden, intermediate], DType.BFloat16, device);
using var residual = Tensor.FromArray(Random(batch * seq * hidden, -2, 2), [batch, seq, hidden], DType.BFloat16, device);
using var mlpOut = Ops.Linear(h, down, residual: residual);
Report("linear (down)", mlpOut, Reference.Linear(h, down, null, residual));
using var nextResidual = Tensor.FromArray(Random(batch * seq * hidden, -2, 2), [batch, seq, hidden], DType.BFloat16, device);
using var summed = Tensor.FromArray(nextResidual.ToFloatArray().Zip(mlpOut.ToFloatArray(), (r, v) => r + v).ToArray(), [batch, seq, hidden],
    DType.BFloat16, device); // residual + x rounded once into bf16, as the op stores it
using var inputNorm = Ops.FusedAddRmsNorm(mlpOut, nextResidual, norm.Weight, eps: 1e-6);
Report("fused_add_rms_norm", inputNorm, Reference.RmsNorm(summed, norm.Weight, 1e-6));

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
