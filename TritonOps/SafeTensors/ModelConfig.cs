using System.Text.Json;

namespace TritonOps.SafeTensors;

/// <summary>How a model stretches RoPE past its training length (<c>rope_scaling</c>, or the non-default
/// part of transformers 5's <c>rope_parameters</c>).</summary>
/// <param name="RopeType">"llama3", "linear", "dynamic", "yarn", …</param>
/// <param name="Factor">The context-length multiplier.</param>
/// <param name="LowFreqFactor">llama3: wavelengths above original/low_freq_factor are scaled by 1/factor.</param>
/// <param name="HighFreqFactor">llama3: wavelengths below original/high_freq_factor are left as they are.</param>
/// <param name="OriginalMaxPositionEmbeddings">The context length the model was trained at.</param>
public sealed record RopeScaling(string RopeType, double? Factor, double? LowFreqFactor, double? HighFreqFactor, int? OriginalMaxPositionEmbeddings)
{
    /// <summary>yarn: the factor cos and sin are multiplied by (<c>attention_factor</c>); when null, transformers' default
    /// from <see cref="Factor"/>, <see cref="Mscale"/> and <see cref="MscaleAllDim"/>.</summary>
    public double? AttentionFactor { get; init; }

    /// <summary>yarn: the rotation count past which a frequency is extrapolated (kept); 32 when null or 0.</summary>
    public double? BetaFast { get; init; }

    /// <summary>yarn: the rotation count below which a frequency is interpolated (divided by the factor); 1 when null or 0.</summary>
    public double? BetaSlow { get; init; }

    /// <summary>yarn (DeepSeek's form): with <see cref="MscaleAllDim"/>, the default attention factor is
    /// mscale(factor, Mscale) / mscale(factor, MscaleAllDim).</summary>
    public double? Mscale { get; init; }

    /// <summary>yarn (DeepSeek's form): see <see cref="Mscale"/>.</summary>
    public double? MscaleAllDim { get; init; }

    /// <summary>yarn: whether the ramp's ends are rounded to whole dimensions (floor and ceil); true when null.</summary>
    public bool? Truncate { get; init; }

    /// <summary>longrope: the per-frequency divisors for sequences within <see cref="OriginalMaxPositionEmbeddings"/>.</summary>
    public IReadOnlyList<double>? ShortFactor { get; init; }

    /// <summary>longrope: the per-frequency divisors for longer sequences.</summary>
    public IReadOnlyList<double>? LongFactor { get; init; }

    /// <summary>dynamic and longrope: the config's <c>max_position_embeddings</c> (dynamic stretches only past it; longrope
    /// derives its default factor from it).</summary>
    public int? MaxPositionEmbeddings { get; init; }

    /// <summary>Value equality over every field (as a record's, NaN equal to itself), the factor lists by element.</summary>
    public bool Equals(RopeScaling? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        var d = EqualityComparer<double?>.Default;
        return other is not null && RopeType == other.RopeType && d.Equals(Factor, other.Factor) && d.Equals(LowFreqFactor, other.LowFreqFactor)
            && d.Equals(HighFreqFactor, other.HighFreqFactor) && OriginalMaxPositionEmbeddings == other.OriginalMaxPositionEmbeddings
            && d.Equals(AttentionFactor, other.AttentionFactor) && d.Equals(BetaFast, other.BetaFast) && d.Equals(BetaSlow, other.BetaSlow)
            && d.Equals(Mscale, other.Mscale) && d.Equals(MscaleAllDim, other.MscaleAllDim) && Truncate == other.Truncate
            && SameList(ShortFactor, other.ShortFactor) && SameList(LongFactor, other.LongFactor)
            && MaxPositionEmbeddings == other.MaxPositionEmbeddings;
    }

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(RopeType, Factor, OriginalMaxPositionEmbeddings, AttentionFactor, MaxPositionEmbeddings);

    private static bool SameList(IReadOnlyList<double>? a, IReadOnlyList<double>? b) =>
        a is null ? b is null : b is not null && a.SequenceEqual(b);

    /// <summary>The record's members, the factor lists by value (for messages and logs).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"RopeType = {RopeType}, Factor = {Factor}, LowFreqFactor = {LowFreqFactor}, HighFreqFactor = {HighFreqFactor}, ")
            .Append($"OriginalMaxPositionEmbeddings = {OriginalMaxPositionEmbeddings}, AttentionFactor = {AttentionFactor}, BetaFast = {BetaFast}, ")
            .Append($"BetaSlow = {BetaSlow}, Mscale = {Mscale}, MscaleAllDim = {MscaleAllDim}, Truncate = {Truncate}, ")
            .Append($"ShortFactor = {List(ShortFactor)}, LongFactor = {List(LongFactor)}, MaxPositionEmbeddings = {MaxPositionEmbeddings}");
        return true;
        static string List(IReadOnlyList<double>? values) => values is null ? "" : $"[{string.Join(", ", values)}]";
    }
}

/// <summary>How the scales of a quantized checkpoint's weights are laid out.</summary>
public enum QuantGranularity
{
    /// <summary>One scale for the whole weight.</summary>
    PerTensor,
    /// <summary>One scale per output channel (row of an <c>[out, in]</c> weight).</summary>
    PerChannel,
    /// <summary>One scale per block of <see cref="QuantizationConfig.WeightBlockSize"/> (e.g. 128 × 128).</summary>
    Block,
}

/// <summary>A checkpoint's <c>quantization_config</c>.</summary>
/// <param name="QuantMethod">"fp8", "fbgemm_fp8", "compressed-tensors", …</param>
/// <param name="ActivationScheme">"dynamic" (scales computed per call) or "static" (scales stored); null when unstated.</param>
/// <param name="WeightBlockSize">The block of one weight scale, e.g. [128, 128]; null unless <see cref="Granularity"/> is Block.</param>
/// <param name="Granularity">The weights' scale layout: Block when a block size is given; otherwise what the method
/// implies (compressed-tensors' weight strategy, per-channel for fbgemm_fp8, per-tensor for a plain fp8 config).</param>
/// <param name="Format">The FP8 format ("e4m3"), when stated (<c>fmt</c>).</param>
/// <param name="ModulesNotConverted">Modules left unquantized (<c>modules_to_not_convert</c> or <c>ignore</c>).</param>
public sealed record QuantizationConfig(string QuantMethod, string? ActivationScheme, IReadOnlyList<int>? WeightBlockSize,
    QuantGranularity Granularity, string? Format, IReadOnlyList<string> ModulesNotConverted);

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> a decoder-only transformer needs, for the Llama,
/// Qwen3, OLMo2 and Gemma (1, 2, 3-text) families. Defaults follow transformers' config classes where a
/// field may be absent (head_dim = hidden/heads, num_key_value_heads = heads, rope_theta 10000,
/// tie_word_embeddings false except Gemma). Both spellings transformers has used are accepted:
/// <c>rope_scaling</c> + <c>rope_theta</c> or <c>rope_parameters</c> (transformers 5), and
/// <c>torch_dtype</c> or <c>dtype</c>.
/// </summary>
public sealed class ModelConfig
{
    private ModelConfig() { }

    /// <summary>"llama", "qwen3", "olmo2", "gemma2", …</summary>
    public string ModelType { get; private init; } = "";

    /// <summary>e.g. ["LlamaForCausalLM"]; empty when absent.</summary>
    public IReadOnlyList<string> Architectures { get; private init; } = [];

    /// <summary>Model width.</summary>
    public int HiddenSize { get; private init; }

    /// <summary>Decoder layers.</summary>
    public int NumHiddenLayers { get; private init; }

    /// <summary>Query heads.</summary>
    public int NumAttentionHeads { get; private init; }

    /// <summary>Key/value heads (grouped-query attention); equals <see cref="NumAttentionHeads"/> when absent.</summary>
    public int NumKeyValueHeads { get; private init; }

    /// <summary>Width of one head; hidden_size / num_attention_heads when absent.</summary>
    public int HeadDim { get; private init; }

    /// <summary>Width of the gated MLP.</summary>
    public int IntermediateSize { get; private init; }

    /// <summary>Vocabulary size (0 when absent).</summary>
    public int VocabSize { get; private init; }

    /// <summary>The MLP activation as transformers names it ("silu", "gelu_pytorch_tanh"); Gemma's
    /// <c>hidden_activation</c> wins over <c>hidden_act</c>.</summary>
    public string HiddenAct { get; private init; } = "silu";

    /// <summary>The TritonOps activation of <see cref="HiddenAct"/>; null when there is none.</summary>
    public Activation? Activation => Ops.TryParseActivation(HiddenAct);

    /// <summary>RMSNorm epsilon.</summary>
    public double RmsNormEps { get; private init; }

    /// <summary>RoPE base frequency.</summary>
    public double RopeTheta { get; private init; }

    /// <summary>RoPE scaling; null for plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; private init; }

    /// <summary>The sliding-window layers' own RoPE base where the model has one (Gemma 3: transformers 5's
    /// <c>rope_parameters.sliding_attention</c>, or <c>rope_local_base_freq</c>; their tables are unscaled); null otherwise.</summary>
    public double? SlidingRopeTheta { get; private init; }

    /// <summary>The sliding-window layers' RoPE scaling (transformers 5's <c>rope_parameters.sliding_attention</c>); null for plain.</summary>
    public RopeScaling? SlidingRopeScaling { get; private init; }

    /// <summary>Each layer's attention kind as transformers names it ("full_attention", "sliding_attention"): the config's
    /// <c>layer_types</c>, or derived from <c>sliding_window_pattern</c> (Gemma 3's transformers 4 field: every pattern-th
    /// layer full) or, for Gemma 2, alternating from a sliding layer 0; empty when the config says neither.</summary>
    public IReadOnlyList<string> LayerTypes { get; private init; } = [];

    /// <summary>Whether <paramref name="layer"/> attends in a sliding window (its RoPE: <see cref="SlidingRopeTheta"/>).</summary>
    public bool IsSlidingWindowLayer(int layer) =>
        layer >= 0 && layer < LayerTypes.Count && LayerTypes[layer] == "sliding_attention";

    /// <summary>Whether the output projection shares the embedding's weight (no lm_head.weight in the checkpoint).</summary>
    public bool TieWordEmbeddings { get; private init; }

    /// <summary>Longest context the model supports.</summary>
    public int MaxPositionEmbeddings { get; private init; }

    /// <summary>Whether the attention projections have biases.</summary>
    public bool AttentionBias { get; private init; }

    /// <summary>The checkpoint's dtype as transformers names it ("bfloat16"); null when absent.</summary>
    public string? TorchDtype { get; private init; }

    /// <summary>The TritonOps dtype of <see cref="TorchDtype"/>; null when absent or not one TritonOps holds.</summary>
    public DType? DType => TorchDtype switch
    {
        "bfloat16" => TritonOps.DType.BFloat16,
        "float16" or "half" => TritonOps.DType.Float16,
        "float32" or "float" => TritonOps.DType.Float32,
        _ => null,
    };

    /// <summary>The quantization, for quantized checkpoints; null otherwise.</summary>
    public QuantizationConfig? Quantization { get; private init; }

    /// <summary>The whole JSON, for fields not parsed here.</summary>
    public JsonElement Raw { get; private init; }

    /// <summary>Reads <paramref name="path"/>: a <c>config.json</c>, or a folder holding one.</summary>
    /// <exception cref="CheckpointFormatException">Bad JSON, a required field missing, or a field of the wrong type.</exception>
    public static ModelConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(Directory.Exists(path) ? Path.Combine(path, "config.json") : path);
        return Parse(File.ReadAllText(full), full);
    }

    /// <summary>Parses the text of a <c>config.json</c>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="CheckpointFormatException">Bad JSON, a required field missing, or a field of the wrong type.</exception>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(source, null, $"not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(source, null, $"expected a JSON object, got {root.ValueKind}.");
            // Multimodal configs (Gemma 3) keep the language model's fields under text_config.
            var text = !root.TryGetProperty("hidden_size", out _) && !root.TryGetProperty("n_embd", out _)
                && root.TryGetProperty("text_config", out JsonElement t) && t.ValueKind == JsonValueKind.Object
                ? new Fields(source, t, root) : new Fields(source, root, root);

            string modelType = text.String("model_type") ?? text.StringFromRoot("model_type") ?? "";
            bool gemma = modelType.StartsWith("gemma", StringComparison.Ordinal);
            // GPT-J and GPT-2-style configs name them n_embd, n_head, n_layer, n_inner, n_positions (transformers' attribute_map).
            int hidden = text.RequiredPositive("hidden_size", "n_embd");
            int heads = text.RequiredPositive("num_attention_heads", "n_head");
            int kvHeads = text.Int("num_key_value_heads") ?? heads;
            if (kvHeads <= 0 || heads % kvHeads != 0)
                throw new CheckpointFormatException(source, "num_key_value_heads", $"expected a positive divisor of num_attention_heads {heads}, got {kvHeads}.");
            int? headDim = text.Int("head_dim");
            if (headDim <= 0)
                throw new CheckpointFormatException(source, "head_dim", $"expected a positive size, got {headDim}.");
            if (headDim is null && hidden % heads != 0)
                throw new CheckpointFormatException(source, "head_dim", $"absent, and hidden_size {hidden} is not divisible by num_attention_heads {heads}.");
            int layers = text.RequiredPositive("num_hidden_layers", "n_layer");
            var (ropeTheta, scaling) = Rope(text, modelType);
            var (slidingTheta, slidingScaling) = SlidingRope(text, modelType);
            return new ModelConfig
            {
                ModelType = modelType,
                Architectures = text.StringsFromRoot("architectures"),
                HiddenSize = hidden,
                NumHiddenLayers = layers,
                NumAttentionHeads = heads,
                NumKeyValueHeads = kvHeads,
                HeadDim = headDim ?? hidden / heads,
                IntermediateSize = text.Int("intermediate_size") is null && text.Int("n_embd") is not null
                    ? text.Int("n_inner") ?? 4 * hidden : text.RequiredPositive("intermediate_size"),
                VocabSize = text.Int("vocab_size") ?? 0,
                // Gemma 2's and 3's MLPs read hidden_activation alone; Gemma 1's reads hidden_act in transformers 5 (its
                // 4.x releases read hidden_activation); gelu tanh when unset.
                HiddenAct = modelType == "gemma" ? text.String("hidden_act") ?? text.String("hidden_activation") ?? "gelu_pytorch_tanh"
                    : gemma ? text.String("hidden_activation") ?? "gelu_pytorch_tanh"
                    : text.String("hidden_activation") ?? text.String("hidden_act") ?? text.String("activation_function") ?? "silu",
                RmsNormEps = text.Double("rms_norm_eps") ?? (modelType == "olmo2" ? 1e-5 : 1e-6),
                RopeTheta = ropeTheta,
                RopeScaling = scaling,
                SlidingRopeTheta = slidingTheta,
                SlidingRopeScaling = slidingScaling,
                LayerTypes = LayerTypesOf(text, modelType, layers),
                TieWordEmbeddings = text.Bool("tie_word_embeddings") ?? text.BoolFromRoot("tie_word_embeddings") ?? gemma,
                MaxPositionEmbeddings = text.Int("max_position_embeddings") ?? text.Int("n_positions") ?? 0,
                AttentionBias = text.Bool("attention_bias") ?? false,
                TorchDtype = text.String("torch_dtype") ?? text.String("dtype") ?? text.StringFromRoot("torch_dtype") ?? text.StringFromRoot("dtype"),
                Quantization = ReadQuantization(source, root),
                Raw = root.Clone(),
            };
        }
    }

    /// <summary>rope_theta and rope_scaling, or transformers 5's rope_parameters (which holds both, and for
    /// Gemma 3 one set per layer type: the full-attention set is taken).</summary>
    private static (double Theta, RopeScaling? Scaling) Rope(Fields text, string modelType)
    {
        double? theta = text.Double("rope_theta");
        JsonElement? scaling = text.Object("rope_scaling");
        bool perLayerType = false;
        if (text.Object("rope_parameters") is JsonElement parameters)
        {
            if (!parameters.TryGetProperty("rope_type", out _) && !parameters.TryGetProperty("rope_theta", out _)
                && parameters.TryGetProperty("full_attention", out JsonElement full) && full.ValueKind == JsonValueKind.Object)
            {
                parameters = full;
                perLayerType = true;
            }
            var inner = text.Nested(parameters, "rope_parameters");
            theta = inner.Double("rope_theta") ?? theta;
            scaling = parameters;
        }
        // A set per layer type takes no top-level original_max_position_embeddings (standardize_rope_params' second case).
        RopeScaling? result = scaling is JsonElement s ? Scaling(text.Nested(s, "rope_scaling"), text, topLevelOriginal: !perLayerType) : null;
        // GPT-NeoX / Pythia name it rotary_emb_base; Gemma 3's config class defaults its global base to 10⁶.
        return (theta ?? text.Double("rotary_emb_base") ?? (IsGemma3(modelType) ? 1_000_000.0 : 10000.0), result);
    }

    private static bool IsGemma3(string modelType) => modelType.StartsWith("gemma3", StringComparison.Ordinal);

    /// <summary>The scaling one set of RoPE parameters describes; null for plain RoPE (type "default", no factor).</summary>
    private static RopeScaling? Scaling(Fields f, Fields text, bool topLevelOriginal)
    {
        string type = f.String("rope_type") ?? f.String("type") ?? "default";
        // Phi3Config calls longrope "su" (and, in its older releases, "yarn") and keeps a 4K original context by default.
        bool phi3 = text.String("model_type") is "phi3" or "phimoe";
        if (phi3 && type is "su" or "yarn")
            type = "longrope";
        double? factor = f.Double("factor");
        if (type == "default" && factor is null)
            return null;
        // transformers' standardize_rope_params: a top-level original_max_position_embeddings (Phi-3 keeps it there)
        // overrides the parameters' own, and without either these types take max_position_embeddings. (yarn needs its
        // factor: transformers refuses the config without one, and so does RopeTable.)
        int? original = f.Int("original_max_position_embeddings");
        if (type is "llama3" or "yarn" or "longrope")
            original = (topLevelOriginal ? text.Int("original_max_position_embeddings") : null) ?? original
                ?? (phi3 ? 4096 : text.Int("max_position_embeddings"));
        bool usesMax = type is "dynamic" or "longrope";
        return new RopeScaling(type, factor, f.Double("low_freq_factor"), f.Double("high_freq_factor"), original)
        {
            AttentionFactor = f.Double("attention_factor"),
            BetaFast = f.Double("beta_fast"),
            BetaSlow = f.Double("beta_slow"),
            Mscale = f.Double("mscale"),
            MscaleAllDim = f.Double("mscale_all_dim"),
            Truncate = f.Bool("truncate"),
            ShortFactor = f.Doubles("short_factor"),
            LongFactor = f.Doubles("long_factor"),
            MaxPositionEmbeddings = usesMax ? text.Int("max_position_embeddings") ?? text.Int("n_positions") : null,
        };
    }

    /// <summary>transformers' layer_types, or what its config classes derive when it is absent.</summary>
    private static IReadOnlyList<string> LayerTypesOf(Fields text, string modelType, int layers)
    {
        if (text.Strings("layer_types") is { Count: > 0 } given)
            return given;
        // Gemma 3's config class defaults the pattern to 6 (five sliding layers, then a full one), Gemma 2 alternates.
        int? pattern = text.Int("sliding_window_pattern") ?? (IsGemma3(modelType) ? 6 : modelType == "gemma2" ? 2 : null);
        return pattern > 0
            ? [.. Enumerable.Range(0, layers).Select(i => (i + 1) % pattern != 0 ? "sliding_attention" : "full_attention")]
            : [];
    }

    /// <summary>Gemma 3's sliding-window layers' RoPE: transformers 5's <c>rope_parameters.sliding_attention</c>, or
    /// transformers 4's <c>rope_local_base_freq</c> (plain RoPE at that base).</summary>
    private static (double? Theta, RopeScaling? Scaling) SlidingRope(Fields text, string modelType)
    {
        if (text.Object("rope_parameters") is JsonElement parameters
            && parameters.TryGetProperty("sliding_attention", out JsonElement sliding) && sliding.ValueKind == JsonValueKind.Object)
        {
            var f = text.Nested(sliding, "rope_parameters.sliding_attention");
            return (f.Double("rope_theta") ?? 10000.0, Scaling(f, text, topLevelOriginal: false));
        }
        // Gemma 3's config class defaults rope_local_base_freq to 10 000.
        return (text.Double("rope_local_base_freq") ?? (IsGemma3(modelType) ? 10000.0 : null), null);
    }

    private static QuantizationConfig? ReadQuantization(string source, JsonElement root)
    {
        var top = new Fields(source, root, root);
        if (top.Object("quantization_config") is not JsonElement q)
            return null;
        var f = top.Nested(q, "quantization_config");
        string method = f.String("quant_method") ?? throw new CheckpointFormatException(source, "quantization_config.quant_method", "missing.");
        IReadOnlyList<int>? block = f.Ints("weight_block_size");
        string? activation = f.String("activation_scheme");
        var granularity = block is not null ? QuantGranularity.Block
            : method == "fbgemm_fp8" ? QuantGranularity.PerChannel : QuantGranularity.PerTensor;
        // compressed-tensors: the first config group's weight strategy ("tensor", "channel", "block").
        if (f.Object("config_groups") is JsonElement groups)
            foreach (JsonProperty group in groups.EnumerateObject())
            {
                if (group.Value.ValueKind != JsonValueKind.Object)
                    continue;
                var g = f.Nested(group.Value, $"quantization_config.config_groups.{group.Name}");
                if (g.Object("weights") is JsonElement w)
                {
                    var weights = f.Nested(w, $"quantization_config.config_groups.{group.Name}.weights");
                    granularity = weights.String("strategy") switch
                    {
                        "channel" => QuantGranularity.PerChannel,
                        "block" => QuantGranularity.Block,
                        _ => granularity,
                    };
                    block ??= weights.Ints("block_structure");
                }
                if (activation is null && g.Object("input_activations") is JsonElement a)
                    activation = f.Nested(a, "input_activations").Bool("dynamic") is bool dynamic ? (dynamic ? "dynamic" : "static") : null;
                break;
            }
        if (granularity != QuantGranularity.Block)
            block = null;
        else if (block is null || block.Count != 2 || block.Any(b => b <= 0))
            throw new CheckpointFormatException(source, "quantization_config.weight_block_size", "expected two positive sizes for block scales.");
        return new QuantizationConfig(method, activation, block, granularity, f.String("fmt"),
            f.Strings("modules_to_not_convert") is { Count: > 0 } skip ? skip : f.Strings("ignore"));
    }

    /// <summary>Typed reads of one JSON object's fields; a field of the wrong type is a format error naming
    /// it; absent or null fields read as null.</summary>
    private sealed class Fields(string source, JsonElement obj, JsonElement root, string prefix = "")
    {
        public Fields Nested(JsonElement inner, string name) => new(source, inner, root, name + ".");

        public int RequiredPositive(string name, string? alias = null)
        {
            if (alias is not null && Int(name) is null && Int(alias) is not null)
                name = alias;
            int value = Int(name) ?? throw new CheckpointFormatException(source, prefix + name, "missing (required).");
            return value > 0 ? value : throw new CheckpointFormatException(source, prefix + name, $"expected a positive size, got {value}.");
        }

        public int? Int(string name) => Get(name, JsonValueKind.Number) is JsonElement e
            ? e.TryGetInt32(out int value) ? value : throw Wrong(name, "an integer", e)
            : null;

        public double? Double(string name) => Get(name, JsonValueKind.Number) is JsonElement e ? e.GetDouble() : null;

        public string? String(string name) => Get(name, JsonValueKind.String)?.GetString();

        public bool? Bool(string name)
        {
            if (!obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
                return null;
            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Wrong(name, "true or false", e),
            };
        }

        public JsonElement? Object(string name) => Get(name, JsonValueKind.Object);

        public IReadOnlyList<double>? Doubles(string name) => Get(name, JsonValueKind.Array) is JsonElement e
            ? e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Wrong(name, "an array of numbers", e)).ToArray()
            : null;

        public IReadOnlyList<int>? Ints(string name) => Get(name, JsonValueKind.Array) is JsonElement e
            ? e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Wrong(name, "an array of integers", e)).ToArray()
            : null;

        public IReadOnlyList<string> Strings(string name) => Get(name, JsonValueKind.Array) is JsonElement e
            ? e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Wrong(name, "an array of strings", e)).ToArray()
            : [];

        public string? StringFromRoot(string name) => new Fields(source, root, root).String(name);

        public bool? BoolFromRoot(string name) => new Fields(source, root, root).Bool(name);

        public IReadOnlyList<string> StringsFromRoot(string name) => new Fields(source, root, root).Strings(name);

        private JsonElement? Get(string name, JsonValueKind kind)
        {
            if (!obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
                return null;
            return e.ValueKind == kind ? e : throw Wrong(name, $"a JSON {kind}", e);
        }

        private CheckpointFormatException Wrong(string name, string expected, JsonElement actual) =>
            new(source, prefix + name, $"expected {expected}, got {Truncate(actual.GetRawText())}.");

        private static string Truncate(string text) => text.Length <= 60 ? text : text[..57] + "...";
    }
}
