using TritonOps.SafeTensors;

namespace TritonOps.Samples.Decoder;

/// <summary>The decoder-layer layouts this sample builds, as transformers 5 writes them.</summary>
public enum DecoderFamily
{
    /// <summary><c>LlamaDecoderLayer</c>: pre-norm; input_layernorm → attention (no q/k norm) → + residual →
    /// post_attention_layernorm → MLP → + residual.</summary>
    Llama,
    /// <summary><c>Qwen3DecoderLayer</c>: Llama's layer with a per-head RMSNorm of q and k (weights [head_dim]) before RoPE.</summary>
    Qwen3,
    /// <summary><c>Olmo2DecoderLayer</c>: post-norm; no input norm; q_norm/k_norm over the whole projection (weights
    /// [heads · head_dim]); attention → post_attention_layernorm → + residual; MLP → post_feedforward_layernorm → + residual.</summary>
    Olmo2,
    /// <summary><c>Gemma3DecoderLayer</c> (text): every norm <c>(1 + w)</c>, rounded once; input_layernorm → attention
    /// with a per-head q/k norm before RoPE (a sliding-window layer rotates with its own base) → post_attention_layernorm →
    /// + residual → pre_feedforward_layernorm → MLP (gelu tanh) → post_feedforward_layernorm → + residual.</summary>
    Gemma3,
    /// <summary><c>Gemma2DecoderLayer</c>: Gemma 3's layer without the q/k norm (one RoPE base for every layer).</summary>
    Gemma2,
    /// <summary><c>GemmaDecoderLayer</c> (Gemma 1): Llama's layout with Gemma's <c>(1 + w)</c> norms rounded once and a gelu
    /// tanh MLP.</summary>
    Gemma,
    /// <summary><c>Phi3DecoderLayer</c> (Phi-3, Phi-4-mini): Llama's layer with q, k, v in one <c>qkv_proj</c> and gate and up
    /// in one <c>gate_up_proj</c> (gate the first half), as the checkpoint stores them.</summary>
    Phi3,
}

/// <summary>
/// One decoder layer of a Hugging Face checkpoint run on TritonOps ops, every part but attention itself (which the
/// library does not have yet: the caller supplies it, e.g. transformers' own attention output from a fixture).
/// The residual stream is updated in place, as inference engines do: <see cref="Forward"/> takes the layer's input
/// hidden states and leaves the layer's output in the same tensor.
/// <para>Per family, the ops (each line one launch; the attention callback in the middle):</para>
/// <list type="bullet">
/// <item>Llama, Qwen3: <c>RmsNorm</c> (input_layernorm) → <c>Linear</c> q, k, v → <c>FusedQkNormRope</c> per head
/// (Qwen3) or <c>Rope</c> (Llama) at the tokens' positions with a float32 table → attention → <c>Linear</c> o_proj
/// with the residual added in its epilogue, into the residual stream → <c>RmsNorm</c> (post_attention_layernorm) →
/// <c>FusedGatedMlp</c> → <c>Linear</c> down_proj with the residual, into the residual stream. With Llama's
/// <c>mlp_bias</c>, <c>Linear</c> gate and <c>Linear</c> up (each with its bias) → <c>GatedActivation</c> stand in for
/// <c>FusedGatedMlp</c>, and down_proj adds its bias.</item>
/// <item>OLMo2: <c>Linear</c> q, k, v → <c>FusedQkNormRope</c> over the whole projection → attention → <c>Linear</c>
/// o_proj → <c>RmsNorm</c> (post_attention_layernorm) → the residual add → <c>FusedGatedMlp</c> → <c>Linear</c>
/// down_proj → <c>RmsNorm</c> (post_feedforward_layernorm) → the residual add. The library has no plain add, and no
/// norm-then-add op yet: each add is a <c>FusedAddRmsNorm</c> whose norm output is discarded (one wasted write of
/// [tokens, hidden]); transformers rounds the same way (bf16 norm output, then a bf16 add).</item>
/// <item>Phi-3: Llama's sequence on its fused qkv_proj and gate_up_proj weights (its sliding window is attention's).</item>
/// <item>Gemma (1): Llama's sequence with every norm <c>(1 + w)</c> and rounded once, a GELU MLP.</item>
/// <item>Gemma 3, Gemma 2: <c>RmsNorm</c> (input_layernorm) → <c>Linear</c> q, k, v → <c>FusedQkNormRope</c> per head
/// (Gemma 3; Gemma 2 rotates only) → attention → <c>Linear</c> o_proj → <c>RmsNorm</c> (post_attention_layernorm) →
/// <c>FusedAddRmsNorm</c> (the residual add and pre_feedforward_layernorm in one pass) → <c>FusedGatedMlp</c> (gelu
/// tanh) → <c>Linear</c> down_proj → <c>RmsNorm</c> (post_feedforward_layernorm) → the residual add. Every norm
/// scales by <c>(1 + w)</c> and rounds once; a sliding-window layer of Gemma 3 rotates at its own base. Attention's own
/// parts stay the caller's: Gemma scales scores by <c>query_pre_attn_scalar</c>^-½, Gemma 2 soft-caps them, and the
/// sliding layers see a window.</item>
/// <item>Phi-3 and the Gemma families run 16-bit only (no FP8 path here).</item>
/// </list>
/// <para>Rounding against transformers in bfloat16: the layer rounds where transformers does (the ops' options:
/// <c>NormRounding.Llama</c> for Llama's and Qwen3's norms, <c>ActivationRounding.PerOp</c>, <c>ResidualRounding.PerOp</c>,
/// <c>RopeRounding.PerOp</c> with the tables in each model's dtype), so on the CPU accelerator every stage is
/// transformers' bits; the ops' defaults round once from float32, within an ulp of those.</para>
/// </summary>
public sealed class DecoderLayer : IDisposable
{
    private readonly Dictionary<string, Tensor> _weights;
    /// <summary>The projections held as FP8 codes (by role: "self_attn.q_proj", …); null for a 16-bit layer.</summary>
    private readonly Dictionary<string, Fp8Projection>? _fp8;
    private Workspace? _workspace;

    private DecoderLayer(ModelConfig config, DecoderFamily family, int layer, DType dtype, Device device,
        Dictionary<string, Tensor> weights, Dictionary<string, Fp8Projection>? fp8, Tensor cos, Tensor sin)
    {
        _fp8 = fp8;
        Fp8Scheme = fp8?.Values.First().Scheme;
        if (fp8 is not null && fp8.Values.Any(p => p.Scheme != Fp8Scheme))
            throw new CheckpointFormatException("config", "quantization_config",
                $"expected one scale scheme for every projection, got {string.Join(", ", fp8.Select(p => $"{p.Key} {p.Value.Scheme}"))}.");
        Config = config;
        Family = family;
        LayerIndex = layer;
        DType = dtype;
        Device = device;
        _weights = weights;
        Cos = cos;
        Sin = sin;
    }

    /// <summary>The checkpoint's config.</summary>
    public ModelConfig Config { get; }

    /// <summary>Which layer layout runs.</summary>
    public DecoderFamily Family { get; }

    /// <summary>How the family's own norms round in 16 bits: Llama's and Qwen3's <c>weight * x.to(dtype)</c> twice,
    /// OLMo2's <c>(weight * x).to(dtype)</c> once. (Qwen3's per-head q/k norm inside FusedQkNormRope rounds once.)</summary>
    public NormRounding NormRounding => Family == DecoderFamily.Olmo2 || IsGemma ? NormRounding.Once : NormRounding.Llama;

    /// <summary>What every norm adds to its weight: 1 for Gemma's <c>(1 + w)</c> (its checkpoints store w), else 0.</summary>
    public float NormWeightOffset => IsGemma ? 1f : 0f;

    private bool IsGemma => IsGemmaFamily(Family);

    private static bool IsGemmaFamily(DecoderFamily family) => family is DecoderFamily.Gemma3 or DecoderFamily.Gemma2 or DecoderFamily.Gemma;

    /// <summary>The families this sample builds an FP8 path for.</summary>
    private static bool HasFp8Path(DecoderFamily family) => family is DecoderFamily.Llama or DecoderFamily.Qwen3 or DecoderFamily.Olmo2;

    /// <summary>Gemma 2's and 3's norms around attention and the MLP both (post_attention before the add, pre/post_feedforward).</summary>
    private bool SandwichNorms => Family is DecoderFamily.Gemma3 or DecoderFamily.Gemma2;

    /// <summary>How q and k are normed and rotated: <see cref="RopeRounding.PerOp"/> (the default) as transformers rounds
    /// (its q/k norms as <see cref="NormRounding"/>), on the general norm+RoPE kernel; <see cref="RopeRounding.Once"/> on
    /// the tuned kernels, within an ulp of those (the benchmark's choice).</summary>
    public RopeRounding RopeRounding { get; set; } = RopeRounding.PerOp;

    private NormRounding QkNormRounding => RopeRounding == RopeRounding.PerOp ? NormRounding : NormRounding.Once;

    /// <summary>Which of the checkpoint's layers this is.</summary>
    public int LayerIndex { get; }

    /// <summary>How the projections' FP8 weights are scaled (their activations are quantized per token, or per token and
    /// 128-group for block scales); null when the projections run in <see cref="DType"/>.</summary>
    public Fp8WeightScheme? Fp8Scheme { get; }

    /// <summary>True when the FP8 projections were quantized here from 16-bit weights (<c>quantize</c> of <see cref="Load"/> or
    /// <see cref="Create(ModelConfig, Dictionary{string, Tensor}, int, int?, Fp8WeightScheme?)"/>), false for an FP8 checkpoint's own codes or a 16-bit layer.</summary>
    public bool QuantizedOnLoad { get; private set; }

    /// <summary>The dtype of the activations (and of the weights, but for FP8 projections).</summary>
    public DType DType { get; }

    /// <summary>Where it runs.</summary>
    public Device Device { get; }

    /// <summary>The RoPE cos table <c>[maxPositions, rotaryDim]</c> built from the config (RopeTable.Create; for this layer's
    /// attention kind), in the activations' dtype as the models cast it, float32 for OLMo2.</summary>
    public Tensor Cos { get; }

    /// <summary>The RoPE sin table, as <see cref="Cos"/>.</summary>
    public Tensor Sin { get; }

    /// <summary>Hidden size.</summary>
    public int Hidden => Config.HiddenSize;

    /// <summary>Width of q: heads · head_dim.</summary>
    public int QWidth => Config.NumAttentionHeads * Config.HeadDim;

    /// <summary>Width of k and v: kv_heads · head_dim.</summary>
    public int KvWidth => Config.NumKeyValueHeads * Config.HeadDim;

    /// <summary>The family of a config's <c>model_type</c>.</summary>
    /// <exception cref="CheckpointFormatException">A model type this sample does not build.</exception>
    public static DecoderFamily FamilyOf(ModelConfig config, string source) => config.ModelType switch
    {
        "llama" or "mistral" or "qwen2" => DecoderFamily.Llama, // Qwen2: Llama's layer with q/k/v biases (BiasedProjections)
        "qwen3" => DecoderFamily.Qwen3,
        "olmo2" => DecoderFamily.Olmo2,
        "gemma3_text" or "gemma3" => DecoderFamily.Gemma3,
        "gemma2" => DecoderFamily.Gemma2,
        "gemma" => DecoderFamily.Gemma,
        "phi3" => DecoderFamily.Phi3,
        _ => throw new CheckpointFormatException(source, "model_type",
            $"expected \"llama\", \"mistral\", \"qwen2\", \"qwen3\", \"olmo2\", \"phi3\", \"gemma\", \"gemma2\" or \"gemma3_text\" (the layouts this sample builds), got \"{config.ModelType}\"."),
    };

    /// <summary>The projections that carry a bias: q, k, v and o with attention_bias; Qwen2's q, k and v always (its
    /// attention builds them with bias=True and o without, whatever the config says).</summary>
    public static IReadOnlyList<string> BiasedProjections(ModelConfig config)
    {
        IReadOnlyList<string> attention = config.ModelType == "qwen2" ? ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]
            : config.AttentionBias ? ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"]
            : [];
        // Llama's mlp_bias: gate, up and down carry biases too.
        return HasMlpBias(config) ? [.. attention, "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"] : attention;
    }

    // Only LlamaMLP reads mlp_bias (the other families' MLPs are bias-free whatever the config says).
    private static bool HasMlpBias(ModelConfig config) =>
        config.ModelType == "llama" && config.Raw.ValueKind == System.Text.Json.JsonValueKind.Object && config.Raw.TryGetProperty("mlp_bias", out var bias)
        && bias.ValueKind == System.Text.Json.JsonValueKind.True;

    /// <summary>The tensor names of layer <paramref name="layer"/> that <paramref name="family"/> reads, by role
    /// (without the "model.layers.N." prefix).</summary>
    public static IReadOnlyList<string> WeightNames(DecoderFamily family) => family switch
    {
        DecoderFamily.Llama or DecoderFamily.Gemma => [.. Common, "input_layernorm.weight", "post_attention_layernorm.weight"],
        DecoderFamily.Phi3 => [Qkv + ".weight", "self_attn.o_proj.weight", GateUp + ".weight", "mlp.down_proj.weight",
            "input_layernorm.weight", "post_attention_layernorm.weight"],
        DecoderFamily.Qwen3 => [.. Common, "input_layernorm.weight", "post_attention_layernorm.weight",
            "self_attn.q_norm.weight", "self_attn.k_norm.weight"],
        DecoderFamily.Olmo2 => [.. Common, "post_attention_layernorm.weight", "post_feedforward_layernorm.weight",
            "self_attn.q_norm.weight", "self_attn.k_norm.weight"],
        DecoderFamily.Gemma3 => [.. Common, "input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight",
            "post_feedforward_layernorm.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight"],
        DecoderFamily.Gemma2 => [.. Common, "input_layernorm.weight", "post_attention_layernorm.weight", "pre_feedforward_layernorm.weight",
            "post_feedforward_layernorm.weight"],
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    /// <summary>The FP8 layer's stacked gate and up projection (<see cref="Fp8Projection.Stack"/>), when it has one; also
    /// Phi-3's own fused gate and up weight.</summary>
    private const string GateUp = "mlp.gate_up_proj";

    /// <summary>The 16-bit layer's q, k and v projections stacked into one weight (<see cref="StackQkv"/>).</summary>
    private const string Qkv = "self_attn.qkv_proj";

    private static readonly string[] QkvRoles = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"];

    /// <summary>The seven projections (a weight each, <c>[out, in]</c>), by role.</summary>
    public static readonly IReadOnlyList<string> Projections =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    private static readonly string[] Common =
    [
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    ];

    /// <summary>
    /// Loads layer <paramref name="layer"/> of the checkpoint in <paramref name="folder"/> (config.json plus
    /// model.safetensors or a sharded index) onto <paramref name="device"/>, with RoPE tables of
    /// <paramref name="maxPositions"/> rows (when null, the config's max_position_embeddings, or for longrope its original
    /// context, where transformers' short factors hold). FP8 checkpoints (E4M3
    /// projection weights with <c>weight_scale_inv</c> per 128 × 128 block, as transformers' FineGrainedFP8 and
    /// DeepSeek-V3 store them, or <c>weight_scale</c> per output channel or tensor, as llm-compressor's do) load as
    /// they are (and <paramref name="quantize"/> is then ignored: <see cref="QuantizedOnLoad"/> says which happened);
    /// <paramref name="quantize"/> quantizes a 16-bit checkpoint's projections on the device instead.
    /// </summary>
    /// <exception cref="CheckpointFormatException">An unsupported model type, a missing tensor, tensors of mixed dtypes,
    /// or FP8 weights without a scale TritonOps can use.</exception>
    public static DecoderLayer Load(string folder, int layer = 0, Device? device = null, int? maxPositions = null, Fp8WeightScheme? quantize = null)
    {
        device ??= Device.Default;
        var config = ModelConfig.Load(folder);
        string configPath = Path.GetFullPath(Path.Combine(folder, "config.json"));
        var family = FamilyOf(config, configPath);
        if (layer < 0 || layer >= config.NumHiddenLayers)
            throw new InvalidArgumentException(nameof(layer), $"Argument 'layer': expected 0 … {config.NumHiddenLayers - 1}, got {layer}.");
        if (config.Activation is null)
            throw new CheckpointFormatException(configPath, "hidden_act", $"expected an activation TritonOps has (silu, gelu, gelu_tanh), got \"{config.HiddenAct}\".");

        using var checkpoint = SafeTensorsCheckpoint.Open(folder);
        // A ForCausalLM checkpoint names them model.layers.N.…, a bare model layers.N.…, and Gemma 3's multimodal one
        // model.language_model.layers.N.… (transformers 5) or language_model.model.layers.N.… (4.x).
        string prefix = new[] { "model.", "", "model.language_model.", "language_model.model." }
            .Select(p => $"{p}layers.{layer}.").FirstOrDefault(p => checkpoint.Contains(p + "self_attn.o_proj.weight")) ?? $"layers.{layer}.";
        var names = WeightNames(family).ToList();
        var biased = BiasedProjections(config);
        names.AddRange(biased.Select(role => role + ".bias"));
        foreach (string name in names)
            if (!checkpoint.Contains(prefix + name))
                throw new CheckpointFormatException(checkpoint.IndexPath ?? checkpoint.Files[0], prefix + name,
                    $"missing: a {config.ModelType} decoder layer needs it.");
        // The activations' dtype is the norms' (an FP8 checkpoint keeps them in its torch_dtype).
        string dtypeSource = prefix + "post_attention_layernorm.weight";
        DType dtype = checkpoint.GetInfo(dtypeSource).DType
            ?? throw new CheckpointFormatException(checkpoint.FileOf(dtypeSource), dtypeSource, "has a dtype TritonOps cannot hold.");
        if (dtype is not (DType.Float32 or DType.Float16 or DType.BFloat16))
            throw new CheckpointFormatException(checkpoint.FileOf(dtypeSource), dtypeSource,
                $"expected float32, float16 or bfloat16, got {DTypes.Name(dtype)}.");
        string probe = prefix + "self_attn.o_proj.weight";
        bool fp8Checkpoint = checkpoint.GetInfo(probe).DType == DType.Float8E4M3;
        if (!HasFp8Path(family) && fp8Checkpoint)
            throw new CheckpointFormatException(checkpoint.FileOf(probe), probe,
                $"FP8 projections are not built for {config.ModelType} in this sample (Llama, Qwen2/3 and OLMo2 have them): expected 16-bit weights, got float8_e4m3.");
        if (!HasFp8Path(family) && quantize is not null)
            throw new InvalidArgumentException(nameof(quantize), $"Argument 'quantize': expected null for {config.ModelType} (this sample builds FP8 projections for Llama, Qwen2/3 and OLMo2), got {quantize}.");
        foreach (string name in names)
        {
            bool projectionWeight = fp8Checkpoint && Projections.Any(p => name == p + ".weight");
            DType expected = projectionWeight ? DType.Float8E4M3 : dtype;
            if (checkpoint.GetInfo(prefix + name).DType != expected)
                throw new CheckpointFormatException(checkpoint.FileOf(prefix + name), prefix + name,
                    $"expected {DTypes.Name(expected)} like {(projectionWeight ? probe : dtypeSource)}, got {checkpoint.GetInfo(prefix + name).DTypeName}.");
        }
        if (fp8Checkpoint && config.Quantization is { Granularity: QuantGranularity.Block, WeightBlockSize: var block } && !block!.SequenceEqual([128, 128]))
            throw new CheckpointFormatException(configPath, "quantization_config.weight_block_size",
                $"expected [128, 128] (the block fp8_gemm scales), got [{string.Join(", ", block!)}].");
        // Static activation scales (llm-compressor's plain FP8, fbgemm's input_scale) are a different arithmetic from the
        // dynamic per-token scales this layer computes: refuse them rather than run them differently.
        if (fp8Checkpoint && config.Quantization?.ActivationScheme == "static")
            throw new CheckpointFormatException(configPath, "quantization_config.activation_scheme",
                "expected \"dynamic\" (activations quantized per token or per 128-group on each call), got \"static\" (stored input scales), which this sample does not apply.");
        if (fp8Checkpoint && Projections.FirstOrDefault(p => checkpoint.Contains(prefix + p + ".input_scale")) is { } withInputScale)
            throw new CheckpointFormatException(checkpoint.FileOf(prefix + withInputScale + ".input_scale"), prefix + withInputScale + ".input_scale",
                "a static activation scale, which this sample does not apply (it quantizes activations dynamically).");

        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Dictionary<string, Fp8Projection>? fp8 = fp8Checkpoint ? new(StringComparer.Ordinal) : null;
        try
        {
            foreach (string name in names)
            {
                string role = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : "";
                if (fp8 is not null && Projections.Contains(role))
                    fp8.Add(role, LoadFp8Projection(checkpoint, prefix + role, biased.Contains(role),
                        config.Quantization?.Granularity == QuantGranularity.Block, device));
                else if (fp8 is null || !(name.EndsWith(".bias", StringComparison.Ordinal) && Projections.Contains(name[..^".bias".Length])))
                    weights.Add(name, checkpoint.Load(prefix + name, device));
            }
        }
        catch
        {
            foreach (var t in weights.Values)
                t.Dispose();
            foreach (var p in fp8?.Values ?? Enumerable.Empty<Fp8Projection>())
                p.Dispose();
            throw;
        }
        return fp8 is null ? Create(config, weights, layer, maxPositions, quantize) : Create(config, weights, fp8, dtype, layer, maxPositions);
    }

    /// <summary>Phi-3's fused weights as the other families' names: q, k, v as row views of qkv_proj (which stays the
    /// product's weight: <see cref="StackQkv"/> has nothing to stack), gate and up as the halves of gate_up_proj.</summary>
    private static void SplitPhi3(ModelConfig config, Dictionary<string, Tensor> weights)
    {
        int q = config.NumAttentionHeads * config.HeadDim, kv = config.NumKeyValueHeads * config.HeadDim, i = config.IntermediateSize;
        var qkv = weights[Qkv + ".weight"];
        var gateUp = weights[GateUp + ".weight"];
        if (qkv.Rank != 2 || qkv.Shape[0] != q + 2 * kv)
            throw new ShapeMismatchException($"Weight '{Qkv}.weight': expected [{q + 2 * kv}, hidden] (q {q} + k {kv} + v {kv} rows), got {ShapeOf(qkv)}.");
        if (gateUp.Rank != 2 || gateUp.Shape[0] != 2 * i)
            throw new ShapeMismatchException($"Weight '{GateUp}.weight': expected [{2 * i}, hidden] (gate and up, {i} rows each), got {ShapeOf(gateUp)}.");
        weights["self_attn.q_proj.weight"] = qkv.Narrow(0, 0, q);
        weights["self_attn.k_proj.weight"] = qkv.Narrow(0, q, kv);
        weights["self_attn.v_proj.weight"] = qkv.Narrow(0, q + kv, kv);
        weights["mlp.gate_proj.weight"] = gateUp.Narrow(0, 0, i);
        weights["mlp.up_proj.weight"] = gateUp.Narrow(0, i, i);
    }

    /// <summary>An FP8 projection of a checkpoint: the E4M3 <c>weight</c> with <c>weight_scale_inv</c> (per 128 × 128
    /// block) or <c>weight_scale</c> (per output channel <c>[out]</c> / <c>[out, 1]</c>, or one), widened to float32
    /// where stored in 16 bits; its bias (when the layer has one) in float32, as fp8_gemm's epilogue adds it.</summary>
    private static Fp8Projection LoadFp8Projection(SafeTensorsCheckpoint checkpoint, string name, bool withBias, bool block, Device device)
    {
        string scaleName = checkpoint.Contains(name + ".weight_scale_inv") ? name + ".weight_scale_inv"
            : checkpoint.Contains(name + ".weight_scale") ? name + ".weight_scale"
            : throw new CheckpointFormatException(checkpoint.FileOf(name + ".weight"), name + ".weight",
                "is FP8 but has no weight_scale_inv (per block) or weight_scale (per channel or tensor) beside it.");
        using var codes = checkpoint.Load(name + ".weight", device);
        using var stored = checkpoint.Load(scaleName, device);
        using var bias16 = withBias ? checkpoint.Load(name + ".bias", device) : null;
        Tensor? scale = null, bias = null;
        try
        {
            // Scales and biases widen to float32 on the device (compressed-tensors stores them in bf16).
            scale = stored.To(DType.Float32);
            bias = bias16?.To(DType.Float32);
            return Fp8Projection.From(codes, scale, bias, block ? Fp8WeightScheme.Block : null);
        }
        catch (TritonOpsException e)
        {
            throw new CheckpointFormatException(checkpoint.FileOf(scaleName), scaleName, e.Message);
        }
        finally
        {
            scale?.Dispose();
            bias?.Dispose();
        }
    }

    /// <summary>A layer of <paramref name="config"/> from weights already on one device, named as
    /// <see cref="WeightNames"/> lists them (q/k/v/o biases when the config has attention_bias); the layer takes
    /// ownership of them (disposed with it, and on failure here). For benchmarks with generated weights.
    /// <paramref name="quantize"/>: the seven projections become FP8 codes with scales of that scheme, made on the
    /// device (<see cref="Ops.QuantizeFp8(Tensor, Tensor?, DType, ScaleGranularity, int)"/>), and their 16-bit weights are released.</summary>
    public static DecoderLayer Create(ModelConfig config, Dictionary<string, Tensor> weights, int layer = 0, int? maxPositions = null,
        Fp8WeightScheme? quantize = null)
    {
        Dictionary<string, Fp8Projection>? fp8 = null;
        try
        {
            if (quantize is not null && !HasFp8Path(FamilyOf(config, "config")))
                throw new InvalidArgumentException(nameof(quantize), $"Argument 'quantize': expected null for {config.ModelType} (this sample builds FP8 projections for Llama, Qwen2/3 and OLMo2), got {quantize}.");
            Tensor first = weights["self_attn.o_proj.weight"];
            DType dtype = first.DType;
            if (quantize is { } scheme)
            {
                fp8 = new(StringComparer.Ordinal);
                foreach (string role in Projections)
                {
                    using var weight = weights[role + ".weight"];
                    weights.Remove(role + ".weight");
                    using var bias16 = weights.Remove(role + ".bias", out var b) ? b : null;
                    using var bias = bias16?.To(DType.Float32);
                    var (codes, scale) = Ops.QuantizeFp8(weight, granularity: scheme switch
                    {
                        Fp8WeightScheme.Block => ScaleGranularity.Block,
                        Fp8WeightScheme.PerChannel => ScaleGranularity.PerRow,
                        _ => ScaleGranularity.PerTensor,
                    });
                    using (codes)
                    using (scale)
                        fp8.Add(role, Fp8Projection.From(codes, scale, bias, scheme));
                }
            }
            var created = Create(config, weights, fp8, dtype, layer, maxPositions);
            created.QuantizedOnLoad = quantize is not null;
            return created;
        }
        catch
        {
            foreach (var t in weights.Values)
                t.Dispose();
            foreach (var p in fp8?.Values ?? Enumerable.Empty<Fp8Projection>())
                p.Dispose();
            throw;
        }
    }

    private static DecoderLayer Create(ModelConfig config, Dictionary<string, Tensor> weights, Dictionary<string, Fp8Projection>? fp8,
        DType dtype, int layer, int? maxPositions)
    {
        try
        {
            var family = FamilyOf(config, "config");
            if (family == DecoderFamily.Phi3 && !weights.ContainsKey("mlp.gate_proj.weight"))
                SplitPhi3(config, weights); // from Load or a caller's fused weights alike; disposed below on failure
            Device device = weights.Values.First().Device;
            if (fp8 is null)
                StackQkv(weights);
            // Gate and up as one product (one launch, one wave tail) where their scales allow it.
            if (fp8 is not null && Fp8Projection.Stack(fp8["mlp.gate_proj"], fp8["mlp.up_proj"]) is { } gateUp)
            {
                fp8.Remove("mlp.gate_proj", out var gate);
                fp8.Remove("mlp.up_proj", out var up);
                gate!.Dispose();
                up!.Dispose();
                fp8.Add(GateUp, gateUp);
            }
            // q, k and v likewise (StackQkv's FP8 form): one product, q and k read as column slices of its rows.
            if (fp8 is not null && Fp8Projection.Stack([.. QkvRoles.Select(role => fp8[role])]) is { } qkv)
            {
                foreach (string role in QkvRoles)
                {
                    fp8.Remove(role, out var part);
                    part!.Dispose();
                }
                fp8.Add(Qkv, qkv);
            }
            // The tables as each model rotates with them: Llama and Qwen3 cast cos and sin to the activations' dtype
            // (cos.to(dtype=x.dtype)), OLMo2 keeps float32.
            // A sliding-window layer (Gemma 3) rotates with its own base. Longrope's frequencies follow the sequence's
            // length: without maxPositions, the table covers the original context with its short factors (what
            // transformers uses up to there); pass maxPositions past it for the long ones.
            int? rows = maxPositions ?? (config.RopeScaling is { RopeType: "longrope", OriginalMaxPositionEmbeddings: int original } ? original : null);
            var (cos, sin) = RopeTable.Create(config, rows, RotaryForm.RotateHalf, family == DecoderFamily.Olmo2 ? DType.Float32 : dtype, device,
                slidingWindow: config.IsSlidingWindowLayer(layer));
            return new DecoderLayer(config, family, layer, dtype, device, weights, fp8, cos, sin);
        }
        catch
        {
            foreach (var t in weights.Values)
                t.Dispose();
            foreach (var p in fp8?.Values ?? Enumerable.Empty<Fp8Projection>())
                p.Dispose();
            throw;
        }
    }

    /// <summary>
    /// q, k and v as one product: their weights (and biases, when all three have one) stacked on the device into one
    /// <c>[q + k + v rows, hidden]</c> tensor under <see cref="Qkv"/>, each projection's name kept as a row view of it.
    /// One launch streams all three (H200 12-07, decode M64 bf16: in4096 out6144 28.9 µs against 27.6 + 13.6 + 13.6 for
    /// the three), and q and k are read as column slices of its output by <see cref="Ops.FusedQkNormRope"/>.
    /// </summary>
    private static void StackQkv(Dictionary<string, Tensor> weights)
    {
        foreach (string suffix in new[] { ".weight", ".bias" })
        {
            // Already one product (Phi-3's qkv_proj, with q, k and v as its row views), or nothing to stack.
            if (weights.ContainsKey(Qkv + suffix) || !QkvRoles.Any(role => weights.ContainsKey(role + suffix)))
                continue;
            // A bias on some of the three only: zeros stand in for the others (adding 0 changes no value).
            foreach (string role in QkvRoles.Where(role => !weights.ContainsKey(role + suffix)))
            {
                var present = weights[QkvRoles.First(r => weights.ContainsKey(r + suffix)) + suffix];
                weights[role + suffix] = Tensor.Full([weights[role + ".weight"].Shape[0]], 0f, present.DType, present.Device);
            }
            var parts = QkvRoles.Select(role => weights[role + suffix]).ToArray();
            for (int i = 1; i < parts.Length; i++)
            {
                string name = QkvRoles[i] + suffix, reference = QkvRoles[0] + suffix;
                if (parts[i].DType != parts[0].DType)
                    throw new UnsupportedDtypeException(
                        $"Weight '{name}': expected {DTypes.Name(parts[0].DType)} like '{reference}', got {DTypes.Name(parts[i].DType)}.");
                if (parts[i].Rank != parts[0].Rank || parts[i].Shape.Skip(1).SequenceEqual(parts[0].Shape.Skip(1)) is false)
                    throw new ShapeMismatchException(
                        $"Weight '{name}': expected [out, {string.Join(", ", parts[0].Shape.Skip(1))}] like '{reference}', got {ShapeOf(parts[i])}.");
            }
            var stacked = StackRows.Of(parts);
            weights[Qkv + suffix] = stacked; // disposed with the others from here on
            int row = 0;
            for (int i = 0; i < parts.Length; i++)
            {
                int rows = parts[i].Shape[0];
                parts[i].Dispose();
                weights[QkvRoles[i] + suffix] = stacked.Narrow(0, row, rows);
                row += rows;
            }
        }
    }

    /// <summary>A weight by its name within the layer (e.g. "mlp.down_proj.weight").</summary>
    public Tensor Weight(string name) => _weights[name];

    private Tensor? Bias(string projection) => _weights.GetValueOrDefault($"self_attn.{projection}.bias");

    private Tensor? MlpBias(string projection) => _weights.GetValueOrDefault($"mlp.{projection}.bias");

    /// <summary>Whether gate and up carry biases (Llama's mlp_bias): then they run as two biased products and a gated
    /// activation instead of the fused MLP, which takes none.</summary>
    private bool GateUpBiased => MlpBias("gate_proj") is not null || MlpBias("up_proj") is not null;

    /// <summary>act(gate(x)) · up(x) into w.Act, rounded as transformers rounds it.</summary>
    private void GatedMlp(Tensor input, Workspace w, Activation activation)
    {
        var gate = _weights["mlp.gate_proj.weight"];
        var up = _weights["mlp.up_proj.weight"];
        if (!GateUpBiased)
        {
            Ops.FusedGatedMlp(input, gate, up, activation, output: w.Act, rounding: ActivationRounding.PerOp);
            return;
        }
        Ops.Linear(input, gate, MlpBias("gate_proj"), output: w.Gate!);
        Ops.Linear(input, up, MlpBias("up_proj"), output: w.Up!);
        Ops.GatedActivation(w.Gate!, w.Up!, activation, output: w.Act, rounding: ActivationRounding.PerOp);
    }

    /// <summary>
    /// Runs the layer on <paramref name="hidden"/> <c>[batch, seq, hidden]</c> (updated in place to the layer's output)
    /// with tokens at <paramref name="positions"/> (int32/int64 <c>[batch, seq]</c>). <paramref name="attention"/>
    /// gets q and k after norm and RoPE and v (<c>[batch, seq, heads · head_dim]</c> and <c>[batch, seq, kv_heads ·
    /// head_dim]</c>; where q, k and v run as one product, v is a column slice of its rows, so strided: <c>Contiguous()</c>
    /// gives a dense copy) and returns the attention's output before o_proj, <c>[batch, seq, heads · head_dim]</c>.
    /// <paramref name="observe"/>, when given, sees each stage's result as it is made (named as the fixture names
    /// transformers' stages: see <see cref="StageNames"/>); it must read, not keep, the tensor.
    /// </summary>
    public void Forward(Tensor hidden, Tensor positions, Func<Tensor, Tensor, Tensor, Tensor> attention, Action<string, Tensor>? observe = null)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(attention);
        if (hidden.Rank != 3 || hidden.Shape[2] != Hidden)
            throw new ShapeMismatchException($"Argument 'hidden': expected [batch, seq, hidden = {Hidden}], got {ShapeOf(hidden)}.");
        if (hidden.DType != DType)
            throw new UnsupportedDtypeException($"Argument 'hidden': expected {DTypes.Name(DType)} like the layer's weights, got {DTypes.Name(hidden.DType)}.");
        int batch = hidden.Shape[0], seq = hidden.Shape[1];
        var w = _workspace is { } ws && ws.Batch == batch && ws.Seq == seq ? ws : Reallocate(batch, seq);
        double eps = Config.RmsNormEps;
        int headDim = Config.HeadDim, rotaryDim = Cos.Shape[1];
        if (_fp8 is not null)
        {
            ForwardFp8(hidden, positions, attention, observe, w, batch, seq);
            return;
        }

        Tensor input = hidden;
        float offset = NormWeightOffset;
        if (Family != DecoderFamily.Olmo2)
        {
            Ops.RmsNorm(hidden, _weights["input_layernorm.weight"], eps, offset, output: w.Normed, rounding: NormRounding);
            observe?.Invoke("input_norm", w.Normed);
            input = w.Normed;
        }
        // q, k and v in one product (StackQkv); w.Q, w.K and w.V are column slices of its rows.
        Ops.Linear(input, _weights[Qkv + ".weight"], _weights.GetValueOrDefault(Qkv + ".bias"), output: w.Qkv);
        observe?.Invoke("q_proj", w.Q);
        observe?.Invoke("k_proj", w.K);
        observe?.Invoke("v_proj", w.V);

        if (Family is DecoderFamily.Llama or DecoderFamily.Gemma2 or DecoderFamily.Gemma or DecoderFamily.Phi3)
        {
            // Ops.Rope writes in place or into new tensors: copy-free, rotate into the workspace by the general op with no norm.
            Ops.FusedQkNormRope(w.Q, w.K, null, null, Cos, Sin, positions, headDim, 0, NormScope.None, RotaryForm.RotateHalf, rotaryDim,
                qOutput: w.QRot, kOutput: w.KRot, ropeRounding: RopeRounding);
        }
        else
        {
            var scope = Family == DecoderFamily.Olmo2 ? NormScope.Hidden : NormScope.PerHead;
            Ops.FusedQkNormRope(w.Q, w.K, _weights["self_attn.q_norm.weight"], _weights["self_attn.k_norm.weight"], Cos, Sin, positions,
                headDim, eps, scope, RotaryForm.RotateHalf, rotaryDim, offset, qOutput: w.QRot, kOutput: w.KRot,
                normRounding: QkNormRounding, ropeRounding: RopeRounding);
        }
        observe?.Invoke("q_rope", w.QRot);
        observe?.Invoke("k_rope", w.KRot);

        Tensor attn = attention(w.QRot, w.KRot, w.V);
        if (attn.DType != DType || !attn.Shape.SequenceEqual([batch, seq, QWidth]))
            throw new ShapeMismatchException($"The attention callback returned {DTypes.Name(attn.DType)} {ShapeOf(attn)}; expected {DTypes.Name(DType)} [{batch}, {seq}, {QWidth}].");

        var down = _weights["mlp.down_proj.weight"];
        var downBias = MlpBias("down_proj");
        var activation = Config.Activation!.Value;
        if (SandwichNorms || Family == DecoderFamily.Olmo2)
        {
            // Post-norms: o and down are normed before each residual add. Gemma 2/3 also norm the new residual for the MLP
            // (pre_feedforward_layernorm, in the add's own pass); OLMo2's MLP reads the residual itself.
            var postAttention = _weights["post_attention_layernorm.weight"];
            var postFeedForward = _weights["post_feedforward_layernorm.weight"];
            var preFeedForward = SandwichNorms ? _weights["pre_feedforward_layernorm.weight"] : null;
            Ops.Linear(attn, _weights["self_attn.o_proj.weight"], Bias("o_proj"), output: w.O);
            observe?.Invoke("o_proj", w.O);
            Ops.RmsNorm(w.O, postAttention, eps, offset, output: w.O);
            observe?.Invoke("post_attention_norm", w.O);
            // hidden += norm(o); the norm this pass writes is the MLP's input (Gemma) or not used (OLMo2).
            Ops.FusedAddRmsNorm(w.O, hidden, preFeedForward ?? postAttention, eps, offset, output: preFeedForward is null ? w.O : w.Normed);
            observe?.Invoke("attn_residual", hidden);
            if (preFeedForward is not null)
                observe?.Invoke("pre_feedforward_norm", w.Normed);
            GatedMlp(preFeedForward is null ? hidden : w.Normed, w, activation);
            observe?.Invoke("mlp_act", w.Act);
            Ops.Linear(w.Act, down, downBias, output: w.O);
            observe?.Invoke("down_proj", w.O);
            Ops.RmsNorm(w.O, postFeedForward, eps, offset, output: w.O);
            observe?.Invoke("post_feedforward_norm", w.O);
            Ops.FusedAddRmsNorm(w.O, hidden, postFeedForward, eps, offset, output: w.O); // hidden += norm(down); the norm written is not used
        }
        else
        {
            Ops.Linear(attn, _weights["self_attn.o_proj.weight"], Bias("o_proj"), residual: hidden, output: hidden, rounding: ResidualRounding.PerOp);
            observe?.Invoke("attn_residual", hidden);
            Ops.RmsNorm(hidden, _weights["post_attention_layernorm.weight"], eps, offset, output: w.Normed, rounding: NormRounding);
            observe?.Invoke("post_attention_norm", w.Normed);
            GatedMlp(w.Normed, w, activation);
            observe?.Invoke("mlp_act", w.Act);
            Ops.Linear(w.Act, down, downBias, residual: hidden, output: hidden, rounding: ResidualRounding.PerOp);
        }
        observe?.Invoke("output", hidden);
    }

    /// <summary>
    /// <see cref="Forward"/> with FP8 projections: each projection's input is quantized once on the device (per token, or
    /// per token and 128-group for block-scaled weights) and shared by the projections that read it (q, k, v; gate, up);
    /// Llama's and Qwen3's input norm is fused with that quantization (<see cref="Ops.RmsNormQuantizeFp8"/>: the normed
    /// input never goes to memory in 16 bits). fp8_gemm's epilogue adds a bias but no residual, so each residual add is a
    /// <see cref="Ops.FusedAddRmsNorm(Tensor, Tensor, Tensor, double, float, Tensor?, NormRounding)"/> (after o_proj its norm is the
    /// post-attention norm the MLP reads; after down_proj it is discarded). The gated MLP's two projections run apart and
    /// meet in <see cref="Ops.GatedActivationQuantizeFp8(Tensor, Tensor, Activation, ActivationRounding, ScaleGranularity, int)"/>
    /// (act_fn(gate) * up rounded as transformers' FP8 layer computes it in bf16, quantized for down_proj in the same pass;
    /// when the "mlp_act" stage is observed, the gated activation and the quantize run apart, with the same codes).
    /// The "input_norm" stage, reported only when observed, is the plain <see cref="Ops.RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/>
    /// (the fused kernel quantizes exactly that 16-bit norm: RmsNormQuantizeFp8Tests).
    /// </summary>
    private void ForwardFp8(Tensor hidden, Tensor positions, Func<Tensor, Tensor, Tensor, Tensor> attention, Action<string, Tensor>? observe,
        Workspace w, int batch, int seq)
    {
        var fp8 = _fp8!;
        double eps = Config.RmsNormEps;
        int headDim = Config.HeadDim, rotaryDim = Cos.Shape[1], rows = batch * seq;
        var granularity = fp8["self_attn.o_proj"].ActivationGranularity; // one scheme for every projection (the constructor's check)
        var activation = Config.Activation!.Value;

        (Tensor Codes, Tensor Scales) Quantize(Tensor x)
        {
            using var flat = x.Reshape(rows, x.Shape[^1]);
            var (codes, scales) = Ops.QuantizeFp8(flat, granularity: granularity);
            return (codes, scales);
        }
        Tensor Project((Tensor Codes, Tensor Scales) input, string role)
        {
            using var codes = input.Codes.Reshape(rows, input.Codes.Shape[^1]);
            using var y = fp8[role].Apply(codes, input.Scales, DType);
            return y.Reshape(batch, seq, fp8[role].Out);
        }
        // Each quantized input feeds its projections, then goes (also when one of them throws).
        Tensor[] ProjectAndRelease((Tensor Codes, Tensor Scales) input, params string[] roles)
        {
            var outputs = new List<Tensor>(roles.Length);
            try
            {
                foreach (string role in roles)
                    outputs.Add(Project(input, role));
                return [.. outputs];
            }
            catch
            {
                foreach (var t in outputs)
                    t.Dispose();
                throw;
            }
            finally
            {
                input.Codes.Dispose();
                input.Scales.Dispose();
            }
        }

        // Attention's inputs.
        if (observe is not null && Family != DecoderFamily.Olmo2)
        {
            Ops.RmsNorm(hidden, _weights["input_layernorm.weight"], eps, output: w.Normed, rounding: NormRounding);
            observe("input_norm", w.Normed);
        }
        var input = Family == DecoderFamily.Olmo2 ? Quantize(hidden)
            : Ops.RmsNormQuantizeFp8(hidden, _weights["input_layernorm.weight"], eps, granularity, rounding: NormRounding);
        // One q/k/v product where the scales stacked at load (q, k and v its column slices), else three.
        Tensor? stacked = fp8.ContainsKey(Qkv) ? ProjectAndRelease(input, Qkv)[0] : null;
        var qkv = stacked is null ? ProjectAndRelease(input, QkvRoles)
            : [stacked.Narrow(2, 0, QWidth), stacked.Narrow(2, QWidth, KvWidth), stacked.Narrow(2, QWidth + KvWidth, KvWidth)];
        Tensor q = qkv[0], k = qkv[1], v = qkv[2];
        using (stacked)
        using (q)
        using (k)
        using (v)
        {
            observe?.Invoke("q_proj", q);
            observe?.Invoke("k_proj", k);
            observe?.Invoke("v_proj", v);
            if (Family == DecoderFamily.Llama)
                Ops.FusedQkNormRope(q, k, null, null, Cos, Sin, positions, headDim, 0, NormScope.None, RotaryForm.RotateHalf, rotaryDim,
                    qOutput: w.QRot, kOutput: w.KRot, ropeRounding: RopeRounding);
            else
                Ops.FusedQkNormRope(q, k, _weights["self_attn.q_norm.weight"], _weights["self_attn.k_norm.weight"], Cos, Sin, positions,
                    headDim, eps, Family == DecoderFamily.Qwen3 ? NormScope.PerHead : NormScope.Hidden, RotaryForm.RotateHalf, rotaryDim,
                    qOutput: w.QRot, kOutput: w.KRot, normRounding: QkNormRounding, ropeRounding: RopeRounding);
            observe?.Invoke("q_rope", w.QRot);
            observe?.Invoke("k_rope", w.KRot);

            Tensor attn = attention(w.QRot, w.KRot, v);
            if (attn.DType != DType || !attn.Shape.SequenceEqual([batch, seq, QWidth]))
                throw new ShapeMismatchException($"The attention callback returned {DTypes.Name(attn.DType)} {ShapeOf(attn)}; expected {DTypes.Name(DType)} [{batch}, {seq}, {QWidth}].");
            using (var o = ProjectAndRelease(Quantize(attn), "self_attn.o_proj")[0])
            {
                var postAttention = _weights["post_attention_layernorm.weight"];
                if (Family == DecoderFamily.Olmo2)
                {
                    observe?.Invoke("o_proj", o);
                    Ops.RmsNorm(o, postAttention, eps, output: o);
                    observe?.Invoke("post_attention_norm", o);
                    Ops.FusedAddRmsNorm(o, hidden, postAttention, eps, output: o);   // hidden += norm(o); the norm written is not used
                    observe?.Invoke("attn_residual", hidden);
                }
                else
                {
                    Ops.FusedAddRmsNorm(o, hidden, postAttention, eps, output: w.Normed, rounding: NormRounding); // hidden += o; the MLP's input norm
                    observe?.Invoke("attn_residual", hidden);
                    observe?.Invoke("post_attention_norm", w.Normed);
                }
            }
        }

        // The MLP.
        var mlpInput = Quantize(Family == DecoderFamily.Olmo2 ? hidden : w.Normed);
        (Tensor Codes, Tensor Scales) downInput;
        if (fp8.ContainsKey(GateUp))
        {
            // One product [rows, 2 · intermediate]: gate's columns, then up's.
            using var gateUp = ProjectAndRelease(mlpInput, GateUp)[0];
            downInput = ActivateAndQuantize(gateUp, null);
        }
        else
        {
            var gateAndUp = ProjectAndRelease(mlpInput, "mlp.gate_proj", "mlp.up_proj");
            using var gate = gateAndUp[0];
            using var up = gateAndUp[1];
            downInput = ActivateAndQuantize(gate, up);
        }
        // act_fn(gate) * up in bf16 (two roundings), quantized for down_proj: in one pass unless the stage is observed.
        (Tensor Codes, Tensor Scales) ActivateAndQuantize(Tensor gate, Tensor? up)
        {
            if (observe is null)
                return up is null
                    ? Ops.GatedActivationQuantizeFp8(gate, activation, ActivationRounding.PerOp, granularity)
                    : Ops.GatedActivationQuantizeFp8(gate, up, activation, ActivationRounding.PerOp, granularity);
            if (up is null)
                Ops.GatedActivation(gate, activation, w.Act, ActivationRounding.PerOp);
            else
                Ops.GatedActivation(gate, up, activation, w.Act, ActivationRounding.PerOp);
            observe("mlp_act", w.Act);
            return Quantize(w.Act);
        }
        using (var down = ProjectAndRelease(downInput, "mlp.down_proj")[0])
        {
            if (Family == DecoderFamily.Olmo2)
            {
                observe?.Invoke("down_proj", down);
                var postFeedForward = _weights["post_feedforward_layernorm.weight"];
                Ops.RmsNorm(down, postFeedForward, eps, output: down);
                observe?.Invoke("post_feedforward_norm", down);
                Ops.FusedAddRmsNorm(down, hidden, postFeedForward, eps, output: down); // hidden += norm(down)
            }
            else
            {
                // hidden += down; the norm (written over down) is not used: the library has no plain add.
                Ops.FusedAddRmsNorm(down, hidden, _weights["post_attention_layernorm.weight"], eps, output: down);
            }
        }
        observe?.Invoke("output", hidden);
    }

    /// <summary>The stages <see cref="Forward"/> reports for <paramref name="family"/>, in order (the fixture holds
    /// transformers' tensor of each name; "attn_output" is the attention's output, which the layer takes, not makes).</summary>
    public static IReadOnlyList<string> StageNames(DecoderFamily family) => family switch
    {
        DecoderFamily.Olmo2 => ["q_proj", "k_proj", "v_proj", "q_rope", "k_rope", "o_proj", "post_attention_norm", "attn_residual", "mlp_act",
            "down_proj", "post_feedforward_norm", "output"],
        DecoderFamily.Gemma3 or DecoderFamily.Gemma2 => ["input_norm", "q_proj", "k_proj", "v_proj", "q_rope", "k_rope", "o_proj", "post_attention_norm",
            "attn_residual", "pre_feedforward_norm", "mlp_act", "down_proj", "post_feedforward_norm", "output"],
        _ => ["input_norm", "q_proj", "k_proj", "v_proj", "q_rope", "k_rope", "attn_residual", "post_attention_norm", "mlp_act", "output"],
    };

    private static string ShapeOf(Tensor t) => $"[{string.Join(", ", t.Shape)}]";

    private Workspace Reallocate(int batch, int seq)
    {
        _workspace?.Dispose();
        _workspace = null;
        _workspace = new Workspace(batch, seq, this);
        return _workspace;
    }

    /// <summary>Disposes the weights, tables and workspace.</summary>
    public void Dispose()
    {
        _workspace?.Dispose();
        foreach (var t in _weights.Values)
            t.Dispose();
        foreach (var p in _fp8?.Values ?? Enumerable.Empty<Fp8Projection>())
            p.Dispose();
        Cos.Dispose();
        Sin.Dispose();
    }

    /// <summary>The layer's intermediate tensors for one [batch, seq], allocated once and reused by every call.</summary>
    private sealed class Workspace : IDisposable
    {
        public Workspace(int batch, int seq, DecoderLayer layer)
        {
            Batch = batch;
            Seq = seq;
            var all = new List<Tensor>();
            Tensor Make(int width)
            {
                var t = Tensor.Empty([batch, seq, width], layer.DType, layer.Device);
                all.Add(t);
                return t;
            }
            try
            {
                Normed = Make(layer.Hidden);
                Qkv = Make(layer.QWidth + 2 * layer.KvWidth);
                Tensor Columns(int first, int width)
                {
                    var t = Qkv.Narrow(2, first, width);
                    all.Add(t);
                    return t;
                }
                Q = Columns(0, layer.QWidth);
                K = Columns(layer.QWidth, layer.KvWidth);
                V = Columns(layer.QWidth + layer.KvWidth, layer.KvWidth);
                QRot = Make(layer.QWidth);
                KRot = Make(layer.KvWidth);
                O = Make(layer.Hidden);
                Act = Make(layer.Config.IntermediateSize);
                if (layer.GateUpBiased)
                {
                    Gate = Make(layer.Config.IntermediateSize);
                    Up = Make(layer.Config.IntermediateSize);
                }
            }
            catch
            {
                foreach (var t in all)
                    t.Dispose();
                throw;
            }
            _all = all;
        }

        private readonly List<Tensor> _all;
        public int Batch { get; }
        public int Seq { get; }
        public Tensor Normed { get; }
        /// <summary>The q/k/v product's rows; Q, K and V are column slices of it.</summary>
        public Tensor Qkv { get; }
        public Tensor Q { get; }
        public Tensor K { get; }
        public Tensor V { get; }
        public Tensor QRot { get; }
        public Tensor KRot { get; }
        public Tensor O { get; }
        public Tensor Act { get; }
        /// <summary>gate's and up's products where they carry biases (Llama's mlp_bias); null otherwise.</summary>
        public Tensor? Gate { get; }
        public Tensor? Up { get; }

        public void Dispose()
        {
            foreach (var t in _all)
                t.Dispose();
        }
    }
}
