using TritonOps.SafeTensors;

namespace TritonOps.Samples.Decoder;

/// <summary>
/// The bar each stage of <see cref="DecoderLayer"/> meets against transformers' own output of the same stage:
/// <c>|ours − theirs| ≤ AbsoluteOfRms · rms(theirs) + Relative · |theirs|</c>, element by element. The absolute term is
/// scaled by the stage's root mean square so one bar serves stages of any magnitude (a norm's output is O(weight),
/// a projection's O(√in · |x| · |w|)).
/// <list type="bullet">
/// <item>float32: transformers computes in float32 too, in another order: ~10 float32 roundings of O(rms) terms,
/// through at most four chained stages (norm → projection → norm → MLP → projection): 10⁻⁴ of the rms and 10⁻⁴
/// relative leaves two orders of magnitude over float32's 6·10⁻⁸.</item>
/// <item>bfloat16 (and float16, bounded the same way): each stage's output is rounded into the dtype on both sides,
/// but transformers rounds more often (RMSNorm twice; the MLP's gate, up, silu and product four times; each
/// projection before the residual add), and a one-ulp difference in a stage's input moves the next projection's
/// output by up to a few ulps of its rms. Up to ~5 roundings of 2⁻⁹ between what we compare, carried through the
/// chain: 2⁻⁵ of the rms absolute and 2⁻⁶ relative (4 ulps), as TransformersFixtureTests' bf16 bar.</item>
/// </list>
/// </summary>
/// <param name="MaxRelativeRmsError">When set, the stage's bar is instead ‖ours − theirs‖₂ / ‖theirs‖₂ ≤ this (the FP8 bar:
/// quantization noise is spread over every element, and elementwise bars would only measure its tails).</param>
public readonly record struct StageTolerance(double AbsoluteOfRms, double Relative, double? MaxRelativeRmsError = null)
{
    /// <summary>The bar for a layer run in <paramref name="dtype"/>.</summary>
    public static StageTolerance For(DType dtype) => dtype == DType.Float32
        ? new(1e-4, 1e-4)
        : new(Math.Pow(2, -5), Math.Pow(2, -6));

    /// <summary>The bar of <paramref name="layer"/>'s stages: <see cref="Fp8"/> when its projections were quantized on load
    /// (against the 16-bit model), <see cref="Fp8Checkpoint"/> for an FP8 checkpoint's own codes, else the dtype's.</summary>
    public static StageTolerance For(DecoderLayer layer) =>
        layer.Fp8Scheme is null ? For(layer.DType) : layer.QuantizedOnLoad ? Fp8 : Fp8Checkpoint;

    /// <summary>FP8 projections quantized on load, against the 16-bit model's stages: every projection's input and
    /// weight carry E4M3's rounding (3 significand bits: up to 2⁻⁴ relative an element), which does not average away at
    /// the tiny K of the fixtures (64 and 96 terms), and the errors chain through the layer's stages. Measured on the
    /// bf16 fixtures (Llama, Qwen3, OLMo2; 128-block and per-channel scales; CPU accelerator, 2026-12-03): relative RMS
    /// errors 0.003–0.077 per stage, 0.011–0.049 at the output. The bar, 0.25, separates that noise from a wiring fault (a wrong scale or layout
    /// gives errors of the stage's own size, ≥ 1).</summary>
    public static StageTolerance Fp8 => new(0, 0, 0.25);

    /// <summary>An FP8 checkpoint's layer against the FP8 model that made it (both quantize each projection's bf16 input
    /// per token and 128-group, and multiply the same E4M3 weights). With the quantizers dividing as PyTorch does on CUDA
    /// (2026-12-04) and Llama's and Qwen3's norms rounded as theirs (<see cref="NormRounding.Llama"/>), every stage up to
    /// the post-attention norm is bit-identical on the CPU accelerator (q/k/v, the residual, both norms); what remains is
    /// where transformers rounds to bf16 between steps and we round once (RoPE, silu(gate) · up), a one-ulp difference
    /// that moves an E4M3 code of the next product a whole step (2⁻³ relative). Measured (CPU accelerator, 12-04):
    /// relative RMS errors up to 0.35 % a stage for Llama and Qwen3 (0.24 % at the output), up to 1.45 % for OLMo2
    /// (down_proj, after mlp_act's flips; 0.89 % at the output). The bar stays 5 % until an H200 run measures the GPU's
    /// (its norms use rsqrt.approx, its FP8 products a narrower accumulator).</summary>
    public static StageTolerance Fp8Checkpoint => new(0, 0, 0.05);

    /// <summary>e.g. "≤ 2⁻⁵·rms + 2⁻⁶·|x|" in plain numbers.</summary>
    public override string ToString() => MaxRelativeRmsError is { } bar ? $"‖Δ‖₂ ≤ {bar:G3}·‖ref‖₂ (FP8 quantization noise)"
        : $"|Δ| ≤ {AbsoluteOfRms:G3}·rms + {Relative:G3}·|ref|";
}

/// <summary>One stage's comparison: the worst element, relative to the stage's rms, and how many elements miss the bar.</summary>
/// <param name="Stage">The stage's name.</param>
/// <param name="Elements">Elements compared.</param>
/// <param name="Rms">Root mean square of transformers' output.</param>
/// <param name="MaxAbsError">Largest |ours − theirs|.</param>
/// <param name="Outside">Elements outside the bar (non-finite ones included).</param>
/// <param name="Worst">A description of the worst element outside the bar, or null.</param>
/// <param name="RelativeRmsError">‖ours − theirs‖₂ / ‖theirs‖₂.</param>
public sealed record StageError(string Stage, int Elements, double Rms, double MaxAbsError, int Outside, string? Worst, double RelativeRmsError = double.NaN)
{
    /// <summary>MaxAbsError / Rms.</summary>
    public double MaxOverRms => Rms > 0 ? MaxAbsError / Rms : MaxAbsError;

    /// <summary>Whether every element meets the bar.</summary>
    public bool Passed => Outside == 0;

    /// <summary>Compares <paramref name="actual"/> with <paramref name="expected"/> under <paramref name="tolerance"/>.</summary>
    public static StageError Of(string stage, float[] actual, float[] expected, StageTolerance tolerance)
    {
        if (actual.Length != expected.Length)
            return new StageError(stage, actual.Length, double.NaN, double.PositiveInfinity, Math.Max(actual.Length, expected.Length),
                $"ours has {actual.Length} elements, transformers' {expected.Length}");
        double sum = 0;
        foreach (float e in expected)
            sum += (double)e * e;
        double rms = Math.Sqrt(sum / Math.Max(1, expected.Length));
        double max = 0, worstExcess = -1, squaredError = 0;
        int outside = 0;
        string? worst = null;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs((double)actual[i] - expected[i]);
            double bar = tolerance.MaxRelativeRmsError is null ? tolerance.AbsoluteOfRms * rms + tolerance.Relative * Math.Abs(expected[i]) : double.PositiveInfinity;
            if (!double.IsFinite(error))
                error = double.PositiveInfinity;
            squaredError += error * error;
            max = Math.Max(max, error);
            if (error <= bar)
                continue;
            outside++;
            if (error - bar > worstExcess)
            {
                worstExcess = error - bar;
                worst = $"[{i}] transformers {expected[i]:R}, ours {actual[i]:R} (|Δ| {error:E2}, bar {bar:E2})";
            }
        }
        double relativeRms = Math.Sqrt(squaredError / Math.Max(1, expected.Length)) / (rms > 0 ? rms : 1);
        if (tolerance.MaxRelativeRmsError is { } rmsBar && !(relativeRms <= rmsBar))
        {
            outside = Math.Max(outside, 1);
            worst = $"relative RMS error {relativeRms:G3} over the bar {rmsBar:G3}";
        }
        return new StageError(stage, actual.Length, rms, max, outside, worst, relativeRms);
    }
}

/// <summary>
/// A decoder-layer fixture folder made by <c>scripts/fixtures/make_decoder_fixtures.py</c>: a transformers checkpoint
/// (<c>config.json</c>, <c>model.safetensors</c>) and <c>stages.safetensors</c> with the input hidden states
/// <c>input</c> <c>[batch, seq, hidden]</c>, <c>positions</c> (I64 <c>[batch, seq]</c>), the attention's output before
/// o_proj <c>attn_output</c>, and transformers' output of every stage (<see cref="DecoderLayer.StageNames"/>), in the
/// checkpoint's dtype.
/// </summary>
public sealed class DecoderFixture : IDisposable
{
    /// <summary>The stages file's name.</summary>
    public const string StagesFileName = "stages.safetensors";

    private DecoderFixture(string folder, SafeTensorsFile stages)
    {
        Folder = folder;
        Stages = stages;
    }

    /// <summary>The checkpoint folder.</summary>
    public string Folder { get; }

    /// <summary>stages.safetensors.</summary>
    public SafeTensorsFile Stages { get; }

    /// <summary>Whether <paramref name="folder"/> holds a fixture (config.json and stages.safetensors).</summary>
    public static bool Exists(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, StagesFileName));

    /// <summary>Opens the fixture in <paramref name="folder"/>.</summary>
    public static DecoderFixture Open(string folder) => new(Path.GetFullPath(folder), SafeTensorsFile.Open(Path.Combine(folder, StagesFileName)));

    /// <summary>Stage <paramref name="name"/> widened to float (through <paramref name="device"/>).</summary>
    public float[] Floats(string name, Device device)
    {
        using var t = Load(name, device);
        return t.ToFloatArray();
    }

    /// <summary>Tensor <paramref name="name"/> on <paramref name="device"/>, in its stored dtype.</summary>
    public Tensor Load(string name, Device device) => Stages.Load(name, device);

    /// <summary>Metadata value <paramref name="key"/>, or null.</summary>
    public string? Meta(string key) => Stages.Metadata.GetValueOrDefault(key);

    /// <summary>The fixture folders under <paramref name="root"/> (one per family and dtype), sorted.</summary>
    public static IReadOnlyList<string> FoldersUnder(string root) =>
        Directory.Exists(root) ? Directory.GetDirectories(root).Where(Exists).OrderBy(d => d, StringComparer.Ordinal).ToList() : [];

    /// <summary>Runs <paramref name="layer"/> on this fixture's input and positions, with transformers' attention output
    /// in place of attention, and compares every stage; returns the errors in stage order.</summary>
    public IReadOnlyList<StageError> Check(DecoderLayer layer, StageTolerance tolerance)
    {
        var errors = new List<StageError>();
        using var hidden = Load("input", layer.Device);
        using var positions = Load("positions", layer.Device);
        using var attn = Load("attn_output", layer.Device);
        layer.Forward(hidden, positions, (_, _, _) => attn, (stage, tensor) =>
        {
            errors.Add(Stages.Contains(stage)
                ? StageError.Of(stage, tensor.ToFloatArray(), Floats(stage, layer.Device), tolerance)
                : new StageError(stage, 0, double.NaN, double.PositiveInfinity, 1, $"{Stages.Path} has no stage '{stage}'"));
        });
        return errors;
    }

    /// <summary>Unmaps the stages file.</summary>
    public void Dispose() => Stages.Dispose();
}
