using TritonOps.SafeTensors;
using TritonOps.Samples.Decoder;

namespace TritonOps.Benchmark;

/// <summary>
/// decoder_layer: one Llama decoder layer without attention (samples/TritonOps.DecoderLayer's layer: input norm,
/// q/k/v, RoPE at positions with a float32 table, o_proj + residual, post-attention norm, gated MLP, down + residual;
/// attention's output is a fixed stand-in tensor, as the library has no attention op yet) at Llama-3-8B sizes
/// (hidden 4096, 32/8 heads of 128, intermediate 14336, θ 5·10⁵), weights seeded like nn.Linear.
/// flops = 2·tokens·(hidden·(q + k + v) + q·hidden + 3·hidden·intermediate); bytes = weights + activations read
/// and written once. The check: the output rows of the first and last token against a float64 layer from the same
/// bf16 inputs and weights, within StageTolerance's bf16 bar. scripts/anchors.py's decoder_layer times the same
/// computation in PyTorch eager and torch.compile.
/// </summary>
/// <param name="quantize">FP8 projections quantized on the device from the same weights (the check then takes the FP8 bar).</param>
internal sealed class DecoderLayerCase(int batch, int seq, DType dtype, Fp8WeightScheme? quantize = null) : IBenchmarkCase
{
    private const int Hidden = 4096, Heads = 32, KvHeads = 8, HeadDim = 128, Intermediate = 14336, TablePositions = 8192;

    public string Op => "decoder_layer";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        var config = ModelConfig.Parse($$"""
            {"model_type": "llama", "hidden_size": {{Hidden}}, "num_hidden_layers": 1, "num_attention_heads": {{Heads}},
             "num_key_value_heads": {{KvHeads}}, "head_dim": {{HeadDim}}, "intermediate_size": {{Intermediate}},
             "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": {{TablePositions}}, "hidden_act": "silu"}
            """, "DecoderLayerCase");
        var random = new Random(5);
        float[] Values(long n, double lo, double hi) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * random.NextDouble()); return a; }
        var host = new Dictionary<string, (float[] Values, int[] Shape)>
        {
            ["input_layernorm.weight"] = (Values(Hidden, 0.5, 1.5), [Hidden]),
            ["post_attention_layernorm.weight"] = (Values(Hidden, 0.5, 1.5), [Hidden]),
        };
        void Matrix(string name, int rows, int cols) => host[name] = (Values((long)rows * cols, -1 / Math.Sqrt(cols), 1 / Math.Sqrt(cols)), [rows, cols]);
        Matrix("self_attn.q_proj.weight", Heads * HeadDim, Hidden);
        Matrix("self_attn.k_proj.weight", KvHeads * HeadDim, Hidden);
        Matrix("self_attn.v_proj.weight", KvHeads * HeadDim, Hidden);
        Matrix("self_attn.o_proj.weight", Hidden, Heads * HeadDim);
        Matrix("mlp.gate_proj.weight", Intermediate, Hidden);
        Matrix("mlp.up_proj.weight", Intermediate, Hidden);
        Matrix("mlp.down_proj.weight", Hidden, Intermediate);
        var weights = host.ToDictionary(p => p.Key, p => Tensor.FromArray(p.Value.Values, p.Value.Shape, dtype, device));
        using var layer = DecoderLayer.Create(config, weights, maxPositions: TablePositions, quantize: quantize);
        layer.RopeRounding = RopeRounding.Once; // the tuned norm+RoPE kernels (the per-op rounding runs on the general one)

        int tokens = batch * seq, size = DTypes.SizeOf(dtype);
        long weightElements = (long)Hidden * (Heads + 2 * KvHeads) * HeadDim + (long)Heads * HeadDim * Hidden + 3L * Hidden * Intermediate + 2 * Hidden;
        long activationElements = (long)tokens * (2 * Hidden + 2 * (Heads + 2 * KvHeads) * HeadDim + Heads * HeadDim + 4 * Hidden + 2 * Intermediate);
        long bytes = (weightElements + activationElements) * size;
        double flops = 2.0 * tokens * ((double)Hidden * (Heads + 2 * KvHeads) * HeadDim + (double)Heads * HeadDim * Hidden + 3.0 * Hidden * Intermediate);

        float[] input = Values((long)tokens * Hidden, -2, 2), attention = Values((long)tokens * Heads * HeadDim, -1, 1);
        // Prefill: positions 0…seq−1 of each sequence; decode: each sequence at its own position.
        long[] positionValues = Enumerable.Range(0, tokens).Select(t => seq > 1 ? (long)(t % seq) : (long)(37 * t + 11) % TablePositions).ToArray();
        using var positions = Tensor.FromArray(positionValues, [batch, seq], device);
        using var attn = Tensor.FromArray(attention, [batch, seq, Heads * HeadDim], dtype, device);
        string check;
        using (var once = Tensor.FromArray(input, [batch, seq, Hidden], dtype, device))
        {
            layer.Forward(once, positions, (_, _, _) => attn);
            check = Check(host, Round(input), Round(attention), once.ToFloatArray(), tokens);
        }
        // The layer updates its input in place (the residual stream): each run adds to the stream it is given.
        int sets = Math.Min(BenchmarkCases.SetsToDefeatL2(activationElements * size), 8);
        var streams = Enumerable.Range(0, sets).Select(_ => Tensor.FromArray(input, [batch, seq, Hidden], dtype, device)).ToArray();
        Stats stats = timer.Time(i => layer.Forward(streams[i % sets], positions, (_, _, _) => attn), warmup: 5, runs: 60);
        foreach (var t in streams)
            t.Dispose();

        double tflops = flops / (stats.MedianUs * 1e-6) / 1e12, gbs = bytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"llama [{batch},{seq}] H{Hidden} q{Heads} kv{KvHeads} hd{HeadDim} I{Intermediate} (no attention){(quantize is { } q ? $", FP8 projections ({q})" : "")}", DTypes.Name(dtype), stats,
            $"{tflops:F0} TFLOP/s ({gbs / 1000:F2} TB/s)", $"{100 * gbs / copyGbs:F0} %", check);

        float[] Round(float[] values)
        {
            using var t = Tensor.FromArray(values, [values.Length], dtype, device);
            return t.ToFloatArray();
        }
    }

    /// <summary>The first and last token's output row against float64 (Llama: o + residual, norm, silu-gated MLP, down + residual).</summary>
    private string Check(Dictionary<string, (float[] Values, int[] Shape)> host, float[] input, float[] attention, float[] output, int tokens)
    {
        var w = host.ToDictionary(p => p.Key, p => RoundTo(p.Value.Values));
        foreach (int t in new[] { 0, tokens - 1 })
        {
            double[] x = input.AsSpan(t * Hidden, Hidden).ToArray().Select(v => (double)v).ToArray();
            double[] a = attention.AsSpan(t * Heads * HeadDim, Heads * HeadDim).ToArray().Select(v => (double)v).ToArray();
            double[] h1 = Add(x, Mv(w["self_attn.o_proj.weight"], a, Hidden));
            double mean = h1.Sum(v => v * v) / Hidden, scale = 1 / Math.Sqrt(mean + 1e-5);
            double[] n = h1.Select((v, i) => v * scale * w["post_attention_layernorm.weight"][i]).ToArray();
            double[] g = Mv(w["mlp.gate_proj.weight"], n, Intermediate), u = Mv(w["mlp.up_proj.weight"], n, Intermediate);
            double[] act = g.Select((v, i) => v / (1 + Math.Exp(-v)) * u[i]).ToArray();
            double[] expected = Add(h1, Mv(w["mlp.down_proj.weight"], act, Hidden));
            var error = StageError.Of($"output row {t}", output.AsSpan(t * Hidden, Hidden).ToArray(), expected.Select(v => (float)v).ToArray(), quantize is null ? StageTolerance.For(dtype) : StageTolerance.Fp8);
            if (!error.Passed)
                return $"FAIL token {t}: {error.Outside} of {Hidden} outside the bar; {error.Worst}";
        }
        return "ok";
    }

    private float[] RoundTo(float[] values) => dtype == DType.Float32 ? values
        : values.Select(v => dtype == DType.BFloat16 ? BFloat16(v) : (float)(Half)v).ToArray();

    /// <summary>Round to nearest even into bfloat16, widened back.</summary>
    private static float BFloat16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    private static double[] Mv(float[] matrix, double[] x, int rows)
    {
        int cols = x.Length;
        var y = new double[rows];
        Parallel.For(0, rows, r =>
        {
            double sum = 0;
            for (int c = 0; c < cols; c++)
                sum += matrix[(long)r * cols + c] * x[c];
            y[r] = sum;
        });
        return y;
    }

    private static double[] Add(double[] a, double[] b) => a.Zip(b, (x, y) => x + y).ToArray();
}
