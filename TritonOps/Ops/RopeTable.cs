using System.Text.Json;
using TritonOps.SafeTensors;

namespace TritonOps;

/// <summary>
/// RoPE cos/sin tables built the way Hugging Face transformers builds them, so a caller of
/// <c>Ops.FusedRmsNormRope</c> need not write its own: entry [p, j] is the cosine (sine) of the angle that
/// rotary dimension j turns through at position p.
/// <para>The float32 arithmetic of transformers is replicated step by step (its rotary modules and
/// <c>_compute_default_rope_parameters</c>, <c>_compute_linear_scaling_rope_parameters</c>,
/// <c>_compute_llama3_parameters</c>, <c>_compute_yarn_parameters</c>), so the angles are the float32 angles a transformers model uses, not
/// better ones:</para>
/// <list type="bullet">
/// <item>exponent tᵢ = fl32(2i / rotaryDim) (<c>arange(0, dim, 2).float() / dim</c>, a float32 division);</item>
/// <item>inv_freqᵢ = fl32(1 / fl32(θ^tᵢ)) with θ rounded to float32 first (<c>base ** t</c> with a Python float
/// base and a float32 tensor is a float32 pow; <c>1.0 / x</c> is <c>reciprocal(x) · 1.0</c>). The pow is the
/// correctly rounded one (a double pow of the float32 operands, rounded once); PyTorch's CPU pow (Sleef, ≤ 1 ulp)
/// agrees except where it is itself off by an ulp;</item>
/// <item>angle[p, i] = fl32(p · inv_freqᵢ) (the rotary module's one-deep float32 matmul of positions by
/// inv_freq);</item>
/// <item>cos/sin: the float64 cos/sin of the float32 angle, rounded once (correctly rounded). Measured on
/// 3.6 M angles (rotary dim 128, θ 10⁴, 5·10⁵, 10⁶, positions up to 131 072): <c>MathF.Cos</c>/<c>MathF.Sin</c>
/// differ from that by 1 ulp in 1.2 % / 1.4 % of them, so they are not used. PyTorch's float32 cos/sin are
/// within 1 ulp (CPU, Sleef u10) or 2 ulp (CUDA <c>cosf</c>/<c>sinf</c>) of the correctly rounded value,
/// which is the closest a single table can come to both.</item>
/// <item>yarn and longrope only: each value then times fl32(attention factor) in float32 (transformers' <c>cos() * attention_scaling</c>),
/// a second rounding.</item>
/// </list>
/// </summary>
public static class RopeTable
{
    /// <summary>
    /// cos and sin tables <c>[maxPositions, rotaryDim]</c> for positions 0 … maxPositions − 1.
    /// </summary>
    /// <param name="maxPositions">Rows of the tables (≥ 1).</param>
    /// <param name="rotaryDim">Rotated dimensions of a head (even, &gt; 0): head_dim, or less for partial rotary
    /// (GPT-NeoX <c>rotary_pct</c>, GPT-J <c>rotary_dim</c>).</param>
    /// <param name="theta">RoPE base (<c>rope_theta</c>, &gt; 0).</param>
    /// <param name="form">RotateHalf: dimension j uses frequency j mod rotaryDim/2 (transformers'
    /// <c>cat(freqs, freqs)</c>). Interleaved: dimension j uses frequency j/2 (GPT-J's
    /// <c>repeat_interleave(…, 2)</c>).</param>
    /// <param name="scaling">null or type "default" for plain RoPE; "linear" (positions divided by
    /// <c>Factor</c>; as transformers does it, by dividing inv_freq by the factor in float32); "llama3"
    /// (Llama 3.1's smooth band-wise scaling; needs Factor, LowFreqFactor, HighFreqFactor and
    /// OriginalMaxPositionEmbeddings); "yarn" (YaRN, as Qwen3 stretches its context: needs Factor and
    /// OriginalMaxPositionEmbeddings; cos and sin carry <see cref="AttentionFactor"/>, rounded a second time; DeepSeek's
    /// attention also scales its softmax by mscale², which is the attention's part, not the table's); "dynamic" (NTK-aware:
    /// θ stretched once the sequence passes max_position_embeddings) and "longrope" (Phi-3: per-frequency short or long
    /// factors, cos and sin carrying <see cref="AttentionFactor"/>), whose frequencies follow the sequence's length:
    /// the table is the one a freshly built transformers rotary module uses for one forward whose largest position is
    /// maxPositions − 1 (during generation transformers recomputes them from each call's largest position, and keeps a
    /// grown dynamic θ). Other types raise
    /// <see cref="InvalidArgumentException"/>.</param>
    /// <param name="dtype">Element type of the tables. float32 by default, as OLMo2 rotates with them; Llama, Qwen3, Gemma 3
    /// and GPT-NeoX cast cos and sin to the activations' dtype before rotating (<c>cos.to(dtype=x.dtype)</c>): pass x's
    /// dtype to match those models.</param>
    /// <param name="device">Where the tables live; <see cref="Device.Default"/> when null.</param>
    /// <exception cref="InvalidArgumentException">rotaryDim odd or ≤ 0, maxPositions &lt; 1, theta not finite and
    /// positive, an unsupported scaling type, or a scaling field missing or out of range.</exception>
    /// <exception cref="UnsupportedDtypeException"><paramref name="dtype"/> is not float32, float16 or bfloat16.</exception>
    public static (Tensor Cos, Tensor Sin) Create(int maxPositions, int rotaryDim, double theta = 10000,
        RotaryForm form = RotaryForm.RotateHalf, RopeScaling? scaling = null, DType dtype = DType.Float32, Device? device = null)
    {
        Check.Positive(maxPositions, nameof(maxPositions));
        Check.FloatDType(dtype, nameof(dtype));
        Check.Defined(form, nameof(form));
        float[] invFreq = InverseFrequencies(rotaryDim, theta, scaling, sequenceLength: maxPositions);
        device ??= Device.Default;
        Check.Live(device, nameof(device));

        var (cos, sin) = Compute(maxPositions, invFreq, form, AttentionFactor(scaling));
        Tensor cosTensor = Tensor.FromArray(cos, [maxPositions, rotaryDim], dtype, device);
        try
        {
            return (cosTensor, Tensor.FromArray(sin, [maxPositions, rotaryDim], dtype, device));
        }
        catch
        {
            cosTensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tables of a model: rotary dim = int(head_dim · partial_rotary_factor) (the factor read from
    /// <c>partial_rotary_factor</c> at the top of <c>config.json</c> or in <c>rope_parameters</c>; 1 when absent),
    /// θ and scaling from <see cref="ModelConfig.RopeTheta"/> and <see cref="ModelConfig.RopeScaling"/>.
    /// </summary>
    /// <param name="config">The model's configuration.</param>
    /// <param name="maxPositions">Rows; <see cref="ModelConfig.MaxPositionEmbeddings"/> when null. For dynamic and
    /// longrope scaling the rows also pick the frequencies (those of a sequence that long): the default of
    /// max_position_embeddings rows gives Phi-3-128K's long factors, which transformers uses only past its original
    /// 4K; pass the length your sequences reach.</param>
    /// <param name="form">How the head's dimensions pair (see <see cref="Create(int, int, double, RotaryForm, RopeScaling?, DType, Device?)"/>).</param>
    /// <param name="dtype">Element type of the tables.</param>
    /// <param name="device">Where the tables live; <see cref="Device.Default"/> when null.</param>
    /// <param name="slidingWindow">The tables of the model's sliding-window layers (Gemma 3:
    /// <see cref="ModelConfig.SlidingRopeTheta"/>, <see cref="ModelConfig.SlidingRopeScaling"/>); a model without their own
    /// parameters takes its one set.</param>
    /// <exception cref="InvalidArgumentException">No maxPositions and none in the config, or what the other overload rejects.</exception>
    public static (Tensor Cos, Tensor Sin) Create(ModelConfig config, int? maxPositions = null,
        RotaryForm form = RotaryForm.RotateHalf, DType dtype = DType.Float32, Device? device = null, bool slidingWindow = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        int rows = maxPositions ?? config.MaxPositionEmbeddings;
        if (rows < 1)
            throw Check.Invalid(nameof(maxPositions), maxPositions is null
                ? "expected a positive value; none was given and the config has no max_position_embeddings."
                : $"expected a positive value, got {rows}.");
        return slidingWindow && config.SlidingRopeTheta is double localTheta
            ? Create(rows, RotaryDim(config), localTheta, form, config.SlidingRopeScaling, dtype, device)
            : Create(rows, RotaryDim(config), config.RopeTheta, form, config.RopeScaling, dtype, device);
    }

    /// <summary>int(head_dim · partial_rotary_factor), as transformers computes the rotary dim of a config (GPT-NeoX's
    /// <c>rotary_pct</c> is that factor); a config's own <c>rotary_dim</c> (GPT-J, CodeGen) as it is.</summary>
    public static int RotaryDim(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (RotaryDimOf(config.Raw) is int given)
        {
            if (given <= 0 || given > config.HeadDim || given % 2 != 0)
                throw Check.Invalid(nameof(config), $"expected rotary_dim even and in (0, head_dim = {config.HeadDim}], got {given}.");
            return given;
        }
        double factor = PartialRotaryFactor(config.Raw) ?? 1.0;
        if (!(factor > 0 && factor <= 1))
            throw Check.Invalid(nameof(config), $"expected partial_rotary_factor in (0, 1], got {factor}.");
        return (int)(config.HeadDim * factor);
    }

    /// <summary>
    /// The float32 inverse frequencies, <c>rotaryDim / 2</c> of them, as transformers computes its <c>inv_freq</c>
    /// buffer for <paramref name="scaling"/> (for yarn, tables built from them also need <see cref="AttentionFactor"/>), with the power correctly rounded: PyTorch's CPU <c>base ** t</c> (SLEEF's
    /// 1-ulp powf) can differ by 1 ulp (1 of qwen3's 64 frequencies on the H200 host; checked in CI against its
    /// fixture).
    /// </summary>
    /// <exception cref="InvalidArgumentException">As <see cref="Create(int, int, double, RotaryForm, RopeScaling?, DType, Device?)"/>.</exception>
    /// <param name="rotaryDim">Rotated dimensions of a head (even, &gt; 0).</param>
    /// <param name="theta">RoPE base (&gt; 0).</param>
    /// <param name="scaling">The scaling, as <see cref="Create(int, int, double, RotaryForm, RopeScaling?, DType, Device?)"/> takes it.</param>
    /// <param name="sequenceLength">For the types whose frequencies follow the sequence (transformers computes them from
    /// the batch's largest position + 1): "dynamic" stretches θ past <see cref="RopeScaling.MaxPositionEmbeddings"/>,
    /// "longrope" takes its long factors past <see cref="RopeScaling.OriginalMaxPositionEmbeddings"/>; null: the
    /// frequencies transformers starts with (short sequences). Other types ignore it.</param>
    public static float[] InverseFrequencies(int rotaryDim, double theta = 10000, RopeScaling? scaling = null, int? sequenceLength = null)
    {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0)
            throw Check.Invalid(nameof(rotaryDim), $"expected an even positive size, got {rotaryDim}.");
        if (!double.IsFinite(theta) || theta <= 0)
            throw Check.Invalid(nameof(theta), $"expected a finite value > 0, got {theta}.");

        float[] invFreq = new float[rotaryDim / 2];
        for (int i = 0; i < invFreq.Length; i++)
            invFreq[i] = 1f / PosFreq(i, rotaryDim, theta);
        switch (scaling?.RopeType ?? "default")
        {
            case "default":
                break;
            case "linear":
                float factor = (float)Required(scaling!.Factor, "factor", scaling.RopeType, positive: true);
                for (int i = 0; i < invFreq.Length; i++)
                    invFreq[i] /= factor;
                break;
            case "llama3":
                Llama3(invFreq, scaling!);
                break;
            case "yarn":
                Yarn(invFreq, theta, scaling!);
                break;
            case "dynamic":
                DynamicNtk(invFreq, theta, scaling!, sequenceLength);
                break;
            case "longrope":
                LongRope(invFreq, theta, scaling!, sequenceLength);
                break;
            default:
                throw Check.Invalid(nameof(scaling),
                    $"expected rope type \"default\", \"linear\", \"llama3\", \"yarn\", \"dynamic\" or \"longrope\", got \"{scaling!.RopeType}\".");
        }
        return invFreq;
    }

    /// <summary>
    /// The factor transformers multiplies cos and sin by (its rotary module's <c>attention_scaling</c>): 1 except for
    /// yarn, where it is <c>attention_factor</c> when given, else mscale(factor, mscale) / mscale(factor, mscale_all_dim)
    /// when both are given and nonzero (DeepSeek), else mscale(factor) = 0.1 · ln(factor) + 1 (1 for factor ≤ 1); and
    /// longrope, where it is <c>attention_factor</c> when given, else √(1 + ln f / ln original) with f = factor or
    /// max_position_embeddings / original (1 for f ≤ 1).
    /// The tables <see cref="Create(int, int, double, RotaryForm, RopeScaling?, DType, Device?)"/> makes already carry it,
    /// rounded as transformers rounds it: fl32(fl32(cos) · fl32(factor)).
    /// </summary>
    /// <exception cref="InvalidArgumentException">yarn without a finite positive factor, longrope without its original
    /// context (&gt; 0) or a factor to derive, or an attention factor that is not finite and positive.</exception>
    public static double AttentionFactor(RopeScaling? scaling)
    {
        if (scaling?.RopeType == "longrope")
            return LongRopeAttentionFactor(scaling);
        if (scaling?.RopeType != "yarn")
            return 1.0;
        double factor = Required(scaling.Factor, "factor", "yarn", positive: true);
        if (scaling.AttentionFactor is double given)
            return Required(given, "attention_factor", "yarn", positive: true);
        static double MScale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        double result = scaling.Mscale is double m && m != 0 && scaling.MscaleAllDim is double all && all != 0
            ? MScale(factor, m) / MScale(factor, all)
            : MScale(factor, 1);
        return Required(result, "the attention factor its mscale fields give", "yarn", positive: true);
    }

    /// <summary>transformers' <c>_compute_llama3_parameters</c>, each tensor operation in float32: a Python
    /// scalar meets a float32 tensor as a float32 scalar, and <c>scalar / tensor</c> is
    /// <c>reciprocal(tensor) · scalar</c>.</summary>
    private static void Llama3(float[] invFreq, RopeScaling scaling)
    {
        double factor = Required(scaling.Factor, "factor", "llama3", positive: true);
        double low = Required(scaling.LowFreqFactor, "low_freq_factor", "llama3", positive: true);
        double high = Required(scaling.HighFreqFactor, "high_freq_factor", "llama3", positive: true);
        int old = scaling.OriginalMaxPositionEmbeddings
            ?? throw Check.Invalid(nameof(scaling), "rope type \"llama3\" needs original_max_position_embeddings, got none.");
        if (old <= 0)
            throw Check.Invalid(nameof(scaling), $"expected original_max_position_embeddings > 0, got {old}.");
        if (high == low)
            throw Check.Invalid(nameof(scaling), $"expected high_freq_factor ≠ low_freq_factor, got both {low}.");

        float lowFreqWavelen = (float)(old / low);     // Python floats, compared against a float32 tensor
        float highFreqWavelen = (float)(old / high);
        float factorF = (float)factor, lowF = (float)low, oldF = old, bandF = (float)(high - low);
        const float TwoPi = (float)(2 * Math.PI);
        for (int i = 0; i < invFreq.Length; i++)
        {
            float inv = invFreq[i];
            float wavelen = 1f / inv * TwoPi;                                   // 2 * math.pi / inv_freq
            float llama = wavelen > lowFreqWavelen ? inv / factorF : inv;       // where(wavelen > low_freq_wavelen, …)
            float smooth = (1f / wavelen * oldF - lowF) / bandF;                 // (old / wavelen − low) / (high − low)
            float smoothed = (1f - smooth) * llama / factorF + smooth * llama;
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            invFreq[i] = medium ? smoothed : llama;
        }
    }

    /// <summary>transformers' <c>_compute_yarn_parameters</c>: each frequency a blend of itself (extrapolated) and itself
    /// divided by the factor (interpolated), the blend a linear ramp over the dimensions whose rotation count within the
    /// original context lies between beta_slow and beta_fast. The ramp's ends are Python floats (float64, ln as the C
    /// library's) and meet float32 tensors as float32 scalars; every tensor step is one float32 operation, as there.</summary>
    private static void Yarn(float[] invFreq, double theta, RopeScaling scaling)
    {
        double factor = Required(scaling.Factor, "factor", "yarn", positive: true);
        int original = scaling.OriginalMaxPositionEmbeddings
            ?? throw Check.Invalid(nameof(scaling), "rope type \"yarn\" needs original_max_position_embeddings, got none.");
        if (original <= 0)
            throw Check.Invalid(nameof(scaling), $"expected original_max_position_embeddings > 0, got {original}.");
        double betaFast = scaling.BetaFast is double bf && bf != 0 ? bf : 32; // `get("beta_fast") or 32`
        double betaSlow = scaling.BetaSlow is double bs && bs != 0 ? bs : 1;
        if (!double.IsFinite(betaFast) || !double.IsFinite(betaSlow) || betaFast <= 0 || betaSlow <= 0)
            throw Check.Invalid(nameof(scaling), $"expected beta_fast and beta_slow finite and > 0, got {betaFast} and {betaSlow}.");
        int dim = 2 * invFreq.Length;
        double CorrectionDim(double rotations) => dim * Math.Log(original / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrectionDim(betaFast), high = CorrectionDim(betaSlow);
        if (scaling.Truncate ?? true)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, dim - 1);
        if (low == high)
            high += 0.001; // transformers' guard against a zero-width ramp
        float lowF = (float)low, widthF = (float)(high - low), factorF = (float)factor;
        for (int i = 0; i < invFreq.Length; i++)
        {
            float posFreq = PosFreq(i, dim, theta);
            float extrapolated = 1f / posFreq, interpolated = 1f / (factorF * posFreq);
            float ramp = Math.Clamp(((float)i - lowF) / widthF, 0f, 1f);
            float keep = 1f - ramp;                                  // inv_freq_extrapolation_factor
            invFreq[i] = interpolated * (1f - keep) + extrapolated * keep;
        }
    }

    /// <summary>transformers' <c>_compute_dynamic_ntk_parameters</c>: θ' = θ · (factor · L / max − (factor − 1))^(d / (d − 2))
    /// with L the sequence length, at least max_position_embeddings. At init (L = max) transformers computes θ' in Python
    /// floats; for a longer sequence L is a tensor (the positions' max + 1), so every step is a float32 operation and θ' a
    /// float32 tensor.</summary>
    private static void DynamicNtk(float[] invFreq, double theta, RopeScaling scaling, int? sequenceLength)
    {
        double factor = Required(scaling.Factor, "factor", "dynamic", positive: true);
        int max = scaling.MaxPositionEmbeddings
            ?? throw Check.Invalid(nameof(scaling), "rope type \"dynamic\" needs MaxPositionEmbeddings (the config's max_position_embeddings), got none.");
        if (max <= 0)
            throw Check.Invalid(nameof(scaling), $"expected max_position_embeddings > 0, got {max}.");
        int dim = 2 * invFreq.Length;
        if (dim <= 2)
            throw Check.Invalid("rotaryDim", $"expected more than 2 rotary dimensions for rope type \"dynamic\", got {dim}.");
        float stretched;
        if (sequenceLength is int length && length > max)
        {
            float t = (float)factor * length / max;                       // factor * seq_len / max (float32 tensor ops)
            t -= (float)(factor - 1);
            stretched = (float)theta * (float)Math.Pow(t, (float)((double)dim / (dim - 2)));
        }
        else
            stretched = (float)(theta * Math.Pow(factor * max / max - (factor - 1), (double)dim / (dim - 2)));
        for (int i = 0; i < invFreq.Length; i++)
            invFreq[i] = 1f / (float)Math.Pow(stretched, (float)(2 * i) / (float)dim);
    }

    /// <summary>transformers' <c>_compute_longrope_parameters</c> (Phi-3): inv_freqᵢ = 1 / (extᵢ · θ^(2i/d)), ext the short
    /// factors for sequences within the original context, the long ones past it; float32 throughout.</summary>
    private static void LongRope(float[] invFreq, double theta, RopeScaling scaling, int? sequenceLength)
    {
        int original = LongRopeOriginal(scaling);
        bool useLong = sequenceLength is int length && length > original;
        IReadOnlyList<double> ext = (useLong ? scaling.LongFactor : scaling.ShortFactor)
            ?? throw Check.Invalid(nameof(scaling), $"rope type \"longrope\" needs {(useLong ? "long_factor" : "short_factor")}, got none.");
        if (ext.Count != invFreq.Length)
            throw Check.Invalid(nameof(scaling), $"expected {(useLong ? "long_factor" : "short_factor")} of rotary_dim / 2 = {invFreq.Length} values, got {ext.Count}.");
        int dim = 2 * invFreq.Length;
        for (int i = 0; i < invFreq.Length; i++)
        {
            if (!(double.IsFinite(ext[i]) && ext[i] > 0))
                throw Check.Invalid(nameof(scaling), $"expected longrope factors finite and > 0, got {ext[i]} at {i}.");
            invFreq[i] = 1f / ((float)ext[i] * PosFreq(i, dim, theta));
        }
    }

    /// <summary>longrope's cos/sin factor: attention_factor, else √(1 + ln f / ln original) with f = factor or
    /// max_position_embeddings / original (1 for f ≤ 1).</summary>
    private static double LongRopeAttentionFactor(RopeScaling scaling)
    {
        if (scaling.AttentionFactor is double given)
            return Required(given, "attention_factor", "longrope", positive: true);
        int original = LongRopeOriginal(scaling);
        double factor = scaling.Factor ?? (scaling.MaxPositionEmbeddings is int max
            ? (double)max / original
            : throw Check.Invalid(nameof(scaling), "rope type \"longrope\" needs factor or max_position_embeddings, got neither."));
        return factor <= 1 ? 1.0 : Required(Math.Sqrt(1 + Math.Log(factor) / Math.Log(original)), "the attention factor from factor and original_max_position_embeddings", "longrope", positive: true);
    }

    private static int LongRopeOriginal(RopeScaling scaling)
    {
        int original = scaling.OriginalMaxPositionEmbeddings
            ?? throw Check.Invalid(nameof(scaling), "rope type \"longrope\" needs original_max_position_embeddings, got none.");
        return original > 1 ? original
            : throw Check.Invalid(nameof(scaling), $"expected original_max_position_embeddings > 1 for longrope (its attention factor divides by its log), got {original}.");
    }

    /// <summary>fl32(θ^fl32(2i / dim)) with θ rounded to float32: <c>base ** (arange(0, dim, 2).float() / dim)</c>.</summary>
    private static float PosFreq(int i, int dim, double theta) =>
        (float)Math.Pow((float)theta, (float)(2 * i) / (float)dim);

    /// <summary>The host tables for positions 0 … maxPositions − 1.</summary>
    internal static (float[] Cos, float[] Sin) Compute(int maxPositions, float[] invFreq, RotaryForm form, double attentionFactor = 1.0) =>
        Compute(maxPositions, k => k, invFreq, form, attentionFactor);

    /// <summary>Row k of the host tables for position <paramref name="position"/>(k): angle = fl32(p · inv_freq),
    /// cos/sin correctly rounded, then (yarn) times fl32(<paramref name="attentionFactor"/>) in float32.</summary>
    internal static (float[] Cos, float[] Sin) Compute(int rows, Func<int, long> position, float[] invFreq, RotaryForm form, double attentionFactor = 1.0)
    {
        float scale = (float)attentionFactor; // cos() * attention_scaling: a Python float meeting a float32 tensor
        int half = invFreq.Length, dim = 2 * half;
        float[] cos = new float[(long)rows * dim], sin = new float[cos.Length];
        Parallel.For(0, rows, k =>
        {
            long row = (long)k * dim;
            float p = position(k);
            for (int i = 0; i < half; i++)
            {
                float angle = p * invFreq[i];
                float c = (float)Math.Cos(angle) * scale, s = (float)Math.Sin(angle) * scale;
                if (form == RotaryForm.RotateHalf)
                {
                    cos[row + i] = cos[row + half + i] = c;
                    sin[row + i] = sin[row + half + i] = s;
                }
                else
                {
                    cos[row + 2 * i] = cos[row + 2 * i + 1] = c;
                    sin[row + 2 * i] = sin[row + 2 * i + 1] = s;
                }
            }
        });
        return (cos, sin);
    }

    private static double Required(double? value, string field, string type, bool positive)
    {
        if (value is not double v)
            throw Check.Invalid("scaling", $"rope type \"{type}\" needs {field}, got none.");
        if (!double.IsFinite(v) || (positive && v <= 0))
            throw Check.Invalid("scaling", $"expected {field} finite and > 0, got {v}.");
        return v;
    }

    private static double? PartialRotaryFactor(JsonElement raw)
    {
        if (raw.ValueKind != JsonValueKind.Object)
            return null;
        JsonElement text = raw.TryGetProperty("text_config", out JsonElement t) && t.ValueKind == JsonValueKind.Object
            && !raw.TryGetProperty("hidden_size", out _) ? t : raw;
        if ((Number(text, "partial_rotary_factor") ?? Number(text, "rotary_pct")) is double top)
            return top;
        if (text.TryGetProperty("rope_parameters", out JsonElement rope) && rope.ValueKind == JsonValueKind.Object)
            return Number(rope, "partial_rotary_factor");
        return null;
    }

    private static int? RotaryDimOf(JsonElement raw) =>
        raw.ValueKind == JsonValueKind.Object && raw.TryGetProperty("rotary_dim", out JsonElement e) && e.ValueKind == JsonValueKind.Number
            && e.TryGetInt32(out int dim) ? dim : null;

    private static double? Number(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble() : null;
}
