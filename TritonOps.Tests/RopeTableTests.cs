using System.Globalization;
using TritonOps.SafeTensors;

namespace TritonOps.Tests;

/// <summary>RopeTable: the float32 tables against float64 computations of the same formulas, the layout of
/// both forms, llama3 and linear scaling, the ModelConfig overload, the error contract, and (when the
/// fixtures from transformers are present) transformers' own tables.</summary>
public class RopeTableTests
{
    private static Device Device => TestDevices.Cpu;

    /// <summary>
    /// How far a float32 table may sit from the float64 value of the exact formula. The float32 angle
    /// fl32(p · fl32(1/fl32(θ^fl32(2i/d)))) carries about 5 roundings of 2⁻²⁴ relative each (division, pow,
    /// reciprocal, product; the pow's argument error is amplified by ln θ · t ≤ 13 for θ ≤ 10⁶), so its absolute
    /// error is at most |angle| · 20 · 2⁻²⁴; cos/sin move by at most that, plus their own rounding (2⁻²⁴ for values ≤ 1).
    /// </summary>
    private static double AngleSlack(double angle) => Math.Abs(angle) * 20 * Math.Pow(2, -24);

    private static readonly Tolerance CosSinRounding = new(Math.Pow(2, -24), Math.Pow(2, -24));

    [TestCase(64, 16, 10000.0)]
    [TestCase(300, 128, 500000.0)]
    [TestCase(33, 24, 1000000.0)]      // rotary dim not a power of two (partial rotary)
    [TestCase(5000, 2, 10000.0)]       // one frequency, long context
    public void Create_Float32_MatchesFloat64Reference(int maxPositions, int rotaryDim, double theta)
    {
        var (cos, sin) = RopeTable.Create(maxPositions, rotaryDim, theta, device: Device);
        using (cos)
        using (sin)
        {
            cos.Shape.Should().Equal(maxPositions, rotaryDim);
            cos.DType.Should().Be(DType.Float32);
            var (expectedCos, expectedSin, slack) = Float64Table(maxPositions, rotaryDim, p => p, i => Math.Pow(theta, -2.0 * i / rotaryDim), RotaryForm.RotateHalf);
            Compare.AllClose(cos.ToFloatArray(), expectedCos, CosSinRounding, slack, "cos");
            Compare.AllClose(sin.ToFloatArray(), expectedSin, CosSinRounding, slack, "sin");
        }
    }

    [Test]
    public void InverseFrequencies_MatchFloat64WithinFourUlps()
    {
        // fl32 exponent, pow, reciprocal: a few roundings, the exponent's amplified by ln θ · t.
        foreach (double theta in new[] { 10000.0, 500000.0, 1000000.0 })
        {
            float[] inv = RopeTable.InverseFrequencies(128, theta);
            inv.Should().HaveCount(64);
            inv[0].Should().Be(1f);
            for (int i = 0; i < inv.Length; i++)
                inv[i].Should().BeApproximately((float)Math.Pow(theta, -2.0 * i / 128), (float)(Math.Pow(theta, -2.0 * i / 128) * 16 * Math.Pow(2, -24)), $"θ {theta}, i {i}");
        }
    }

    [Test]
    public void RotateHalf_SecondHalfRepeatsFirst()
    {
        const int positions = 40, dim = 32;
        var (cos, sin) = RopeTable.Create(positions, dim, device: Device);
        using (cos)
        using (sin)
        {
            float[] c = cos.ToFloatArray(), s = sin.ToFloatArray();
            for (int p = 0; p < positions; p++)
                for (int j = 0; j < dim / 2; j++)
                {
                    c[p * dim + j + dim / 2].Should().Be(c[p * dim + j]);
                    s[p * dim + j + dim / 2].Should().Be(s[p * dim + j]);
                }
            c.Take(dim).Should().AllSatisfy(v => v.Should().Be(1f), "position 0 turns by nothing");
            s.Take(dim).Should().AllSatisfy(v => v.Should().Be(0f));
            c[dim].Should().Be((float)Math.Cos(1), "position 1, frequency 0 is an angle of exactly 1");
        }
    }

    [Test]
    public void Interleaved_PairsShareAFrequency_AndHoldTheRotateHalfValues()
    {
        const int positions = 40, dim = 32;
        var (cosI, sinI) = RopeTable.Create(positions, dim, 500000, RotaryForm.Interleaved, device: Device);
        var (cosH, sinH) = RopeTable.Create(positions, dim, 500000, RotaryForm.RotateHalf, device: Device);
        using (cosI) using (sinI) using (cosH) using (sinH)
        {
            float[] ci = cosI.ToFloatArray(), si = sinI.ToFloatArray(), ch = cosH.ToFloatArray(), sh = sinH.ToFloatArray();
            for (int p = 0; p < positions; p++)
                for (int j = 0; j < dim; j++)
                {
                    // Interleaved dimension j uses frequency j/2; rotate-half dimension i (< dim/2) frequency i.
                    ci[p * dim + j].Should().Be(ch[p * dim + j / 2], $"cos [{p}, {j}]");
                    si[p * dim + j].Should().Be(sh[p * dim + j / 2], $"sin [{p}, {j}]");
                }
        }
    }

    [TestCase(DType.BFloat16)]
    [TestCase(DType.Float16)]
    public void Create_16Bit_IsTheFloat32TableRounded(DType dtype)
    {
        var (cos32, sin32) = RopeTable.Create(50, 16, device: Device);
        var (cos, sin) = RopeTable.Create(50, 16, dtype: dtype, device: Device);
        using (cos32) using (sin32) using (cos) using (sin)
        {
            cos.DType.Should().Be(dtype);
            cos.ToFloatArray().Should().Equal(cos32.ToFloatArray().Select(v => DTypes.Round(v, dtype)));
            sin.ToFloatArray().Should().Equal(sin32.ToFloatArray().Select(v => DTypes.Round(v, dtype)));
        }
    }

    /// <summary>Llama 3.1's scaling (factor 8, low 1, high 4, original 8192; θ 500000, head dim 128) against the
    /// formula written again in float64: every band (unchanged, divided by 8, smoothed) is present.</summary>
    [Test]
    public void Llama3_MatchesFloat64Formula_InEveryBand()
    {
        const int dim = 128, positions = 4096;
        const double theta = 500000;
        var scaling = new RopeScaling("llama3", 8, 1, 4, 8192);
        double[] expected = Llama3Float64(dim, theta, factor: 8, low: 1, high: 4, old: 8192, out int[] band);
        band.Should().Contain(0).And.Contain(1).And.Contain(2, "the test must cover the unchanged, divided and smoothed bands");

        float[] inv = RopeTable.InverseFrequencies(dim, theta, scaling);
        for (int i = 0; i < inv.Length; i++)
            inv[i].Should().BeApproximately((float)expected[i], (float)(expected[i] * 32 * Math.Pow(2, -24)), $"inv_freq[{i}] (band {band[i]})");

        var (cos, sin) = RopeTable.Create(positions, dim, theta, scaling: scaling, device: Device);
        using (cos)
        using (sin)
        {
            var (expectedCos, expectedSin, slack) = Float64Table(positions, dim, p => p, i => expected[i], RotaryForm.RotateHalf, slackScale: 2);
            Compare.AllClose(cos.ToFloatArray(), expectedCos, CosSinRounding, slack, "llama3 cos");
            Compare.AllClose(sin.ToFloatArray(), expectedSin, CosSinRounding, slack, "llama3 sin");
        }
    }

    [Test]
    public void Linear_IsPositionsDividedByFactor()
    {
        const int dim = 64, positions = 200;
        const double factor = 4;
        float[] plain = RopeTable.InverseFrequencies(dim, 10000);
        float[] scaled = RopeTable.InverseFrequencies(dim, 10000, new RopeScaling("linear", factor, null, null, null));
        scaled.Should().Equal(plain.Select(v => v / (float)factor), "transformers divides inv_freq by the factor in float32");

        var (cos, sin) = RopeTable.Create(positions, dim, scaling: new RopeScaling("linear", factor, null, null, null), device: Device);
        using (cos)
        using (sin)
        {
            var (expectedCos, expectedSin, slack) = Float64Table(positions, dim, p => p / factor, i => Math.Pow(10000, -2.0 * i / dim), RotaryForm.RotateHalf);
            Compare.AllClose(cos.ToFloatArray(), expectedCos, CosSinRounding, slack, "linear cos");
            Compare.AllClose(sin.ToFloatArray(), expectedSin, CosSinRounding, slack, "linear sin");
        }
    }

    [Test]
    public void DefaultScalingType_IsPlainRope()
    {
        RopeTable.InverseFrequencies(32, 10000, new RopeScaling("default", null, null, null, null))
            .Should().Equal(RopeTable.InverseFrequencies(32, 10000));
    }

    [Test]
    public void FromModelConfig_TakesThetaScalingHeadDimAndPartialFactor()
    {
        var config = ModelConfig.Parse("""
            {
              "model_type": "llama", "hidden_size": 512, "num_attention_heads": 4, "num_hidden_layers": 2,
              "intermediate_size": 1024, "head_dim": 128, "max_position_embeddings": 100,
              "rope_theta": 500000.0, "partial_rotary_factor": 0.5,
              "rope_scaling": { "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192 }
            }
            """);
        RopeTable.RotaryDim(config).Should().Be(64);
        var (cos, sin) = RopeTable.Create(config, device: Device);
        var (cos2, sin2) = RopeTable.Create(100, 64, 500000, scaling: config.RopeScaling, device: Device);
        using (cos) using (sin) using (cos2) using (sin2)
        {
            cos.Shape.Should().Equal(100, 64);
            cos.ToFloatArray().Should().Equal(cos2.ToFloatArray());
            sin.ToFloatArray().Should().Equal(sin2.ToFloatArray());
        }
    }

    [Test]
    public void FromModelConfig_Transformers5RopeParameters_AndExplicitRows()
    {
        var config = ModelConfig.Parse("""
            {
              "model_type": "qwen3", "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 2,
              "intermediate_size": 512, "head_dim": 32,
              "rope_parameters": { "rope_type": "default", "rope_theta": 1000000.0, "partial_rotary_factor": 0.25 }
            }
            """);
        RopeTable.RotaryDim(config).Should().Be(8);
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => RopeTable.Create(config, device: Device))
            .WithMessage("*'maxPositions'*no max_position_embeddings*");
        var (cos, sin) = RopeTable.Create(config, maxPositions: 7, device: Device);
        using (cos)
        using (sin)
        {
            cos.Shape.Should().Equal(7, 8);
            float[] inv = RopeTable.InverseFrequencies(8, 1000000);
            cos.ToFloatArray()[8 + 1].Should().Be((float)Math.Cos(inv[1]), "row 1, dimension 1 turns by inv_freq[1]");
        }
    }

    /// <summary>GPT-NeoX / Pythia configs say <c>rotary_pct</c> and <c>rotary_emb_base</c>; GPT-J's say <c>rotary_dim</c>
    /// (in dimensions) with <c>n_embd</c>, <c>n_head</c>, <c>n_layer</c>, <c>n_inner</c> (null: 4 · n_embd) and <c>n_positions</c>.</summary>
    [Test]
    public void FromModelConfig_GptNeoXAndGptJNames()
    {
        var pythia = ModelConfig.Parse("""
            {
              "model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8, "num_hidden_layers": 6,
              "intermediate_size": 2048, "max_position_embeddings": 2048, "rotary_pct": 0.25, "rotary_emb_base": 20000
            }
            """);
        (pythia.HeadDim, RopeTable.RotaryDim(pythia), pythia.RopeTheta).Should().Be((64, 16, 20000.0));
        var gptj = ModelConfig.Parse("""
            {
              "model_type": "gptj", "n_embd": 4096, "n_head": 16, "n_layer": 28, "n_inner": null, "n_positions": 2048,
              "rotary_dim": 64, "activation_function": "gelu_new"
            }
            """);
        (gptj.HiddenSize, gptj.NumAttentionHeads, gptj.NumHiddenLayers, gptj.IntermediateSize, gptj.MaxPositionEmbeddings)
            .Should().Be((4096, 16, 28, 16384, 2048));
        (gptj.HeadDim, RopeTable.RotaryDim(gptj), gptj.HiddenAct).Should().Be((256, 64, "gelu_new"));
        FluentActions.Invoking(() => RopeTable.RotaryDim(ModelConfig.Parse("""{ "n_embd": 64, "n_head": 2, "n_layer": 1, "rotary_dim": 33 }""")))
            .Should().Throw<InvalidArgumentException>().WithMessage("*rotary_dim*33*");
    }

    /// <summary>Gemma 3 rotates its sliding-window layers at their own base: transformers 5 keeps one set of RoPE
    /// parameters a layer type (the global layers' is scaled), transformers 4 says <c>rope_local_base_freq</c>.</summary>
    [Test]
    public void FromModelConfig_Gemma3SlidingLayersHaveTheirOwnBase()
    {
        var v5 = ModelConfig.Parse("""
            {
              "model_type": "gemma3_text", "hidden_size": 640, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
              "num_hidden_layers": 2, "intermediate_size": 2048, "max_position_embeddings": 32768,
              "rope_parameters": {
                "full_attention": { "rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0 },
                "sliding_attention": { "rope_type": "default", "rope_theta": 10000.0 }
              }
            }
            """);
        (v5.RopeTheta, v5.RopeScaling?.RopeType, v5.RopeScaling?.Factor, v5.SlidingRopeTheta, v5.SlidingRopeScaling)
            .Should().Be((1000000.0, "linear", (double?)8.0, (double?)10000.0, (RopeScaling?)null));
        var v4 = ModelConfig.Parse("""
            {
              "model_type": "gemma3_text", "hidden_size": 640, "num_attention_heads": 4, "head_dim": 256, "num_hidden_layers": 2,
              "intermediate_size": 2048, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
              "rope_scaling": { "rope_type": "linear", "factor": 8.0 }
            }
            """);
        (v4.SlidingRopeTheta, v4.SlidingRopeScaling).Should().Be(((double?)10000.0, (RopeScaling?)null));
        // Which layers slide: layer_types when given, else Gemma 3's default pattern of 6 (five sliding, then a full one).
        v4.LayerTypes.Should().Equal("sliding_attention", "sliding_attention");
        var twelve = ModelConfig.Parse("""
            { "model_type": "gemma3_text", "hidden_size": 640, "num_attention_heads": 4, "head_dim": 256, "num_hidden_layers": 12,
              "intermediate_size": 2048, "sliding_window_pattern": 6 }
            """);
        Enumerable.Range(0, 12).Where(twelve.IsSlidingWindowLayer).Should().Equal(0, 1, 2, 3, 4, 6, 7, 8, 9, 10);
        ModelConfig.Parse("""
            { "model_type": "gemma3_text", "hidden_size": 640, "num_attention_heads": 4, "head_dim": 256, "num_hidden_layers": 2,
              "intermediate_size": 2048, "layer_types": ["full_attention", "sliding_attention"] }
            """).IsSlidingWindowLayer(0).Should().BeFalse();
        v5.LayerTypes.Should().Equal(new[] { "sliding_attention", "sliding_attention" }, "no layer_types: the class's pattern of 6");
        var (cos, sin) = RopeTable.Create(v5, maxPositions: 9, device: Device, slidingWindow: true);
        var (cos2, sin2) = RopeTable.Create(9, 256, 10000, device: Device);
        var (global, globalSin) = RopeTable.Create(v5, maxPositions: 9, device: Device);
        using (cos) using (sin) using (cos2) using (sin2) using (global) using (globalSin)
        {
            cos.ToFloatArray().Should().Equal(cos2.ToFloatArray());
            sin.ToFloatArray().Should().Equal(sin2.ToFloatArray());
            global.ToFloatArray().Should().NotEqual(cos.ToFloatArray(), "the global layers turn at 10⁶, their positions divided by 8");
        }
    }

    [TestCase(0)]
    [TestCase(-4)]
    [TestCase(15)]
    public void BadRotaryDim_ThrowsInvalidArgument(int rotaryDim) =>
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => RopeTable.Create(8, rotaryDim, device: Device))
            .Which.ParamName.Should().Be("rotaryDim");

    [TestCase(0)]
    [TestCase(-1)]
    public void BadMaxPositions_ThrowsInvalidArgument(int maxPositions) =>
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => RopeTable.Create(maxPositions, 16, device: Device))
            .Which.ParamName.Should().Be("maxPositions");

    [TestCase(0.0)]
    [TestCase(-10000.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTheta_ThrowsInvalidArgument(double theta) =>
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => RopeTable.Create(8, 16, theta, device: Device))
            .Which.ParamName.Should().Be("theta");

    [TestCase("proportional")]
    [TestCase("ntk")]
    public void UnsupportedScalingType_ThrowsInvalidArgument(string type) =>
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling(type, 2, null, null, null), device: Device))
            .WithMessage($"*'scaling'*\"default\", \"linear\", \"llama3\", \"yarn\", \"dynamic\" or \"longrope\"*\"{type}\"*");

    /// <summary>Dynamic NTK: within max_position_embeddings the plain frequencies; past it, θ stretched to
    /// θ · (factor · L / max − (factor − 1))^(d / (d − 2)) for a sequence of L tokens (float64 here).</summary>
    [Test]
    public void Dynamic_IsPlainWithinMax_AndStretchesPastIt()
    {
        const int dim = 64, max = 4096;
        const double theta = 10000, factor = 2;
        var scaling = new RopeScaling("dynamic", factor, null, null, null) { MaxPositionEmbeddings = max };
        RopeTable.InverseFrequencies(dim, theta, scaling).Should().Equal(RopeTable.InverseFrequencies(dim, theta));
        RopeTable.InverseFrequencies(dim, theta, scaling, sequenceLength: max).Should().Equal(RopeTable.InverseFrequencies(dim, theta));
        foreach (int length in new[] { 4097, 10000, 131072 })
        {
            double stretched = theta * Math.Pow(factor * length / max - (factor - 1), (double)dim / (dim - 2));
            float[] inv = RopeTable.InverseFrequencies(dim, theta, scaling, sequenceLength: length);
            for (int i = 0; i < inv.Length; i++)
            {
                double expected = Math.Pow(stretched, -2.0 * i / dim);
                inv[i].Should().BeApproximately((float)expected, (float)(expected * 16 * Math.Pow(2, -24)), $"L {length}, inv_freq[{i}]");
            }
        }
        // A table of 10 000 rows is the one for a sequence of 10 000 tokens.
        var (cos, sin) = RopeTable.Create(10000, dim, theta, scaling: scaling, device: Device);
        using (cos)
        using (sin)
        {
            var (c, _) = RopeTable.Compute(10000, RopeTable.InverseFrequencies(dim, theta, scaling, sequenceLength: 10000), RotaryForm.RotateHalf);
            cos.ToFloatArray().Should().Equal(c);
        }
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(dim, theta, new RopeScaling("dynamic", factor, null, null, null)))
            .Should().Throw<InvalidArgumentException>().WithMessage("*max_position_embeddings*");
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(dim, theta, scaling with { MaxPositionEmbeddings = 0 }))
            .Should().Throw<InvalidArgumentException>().WithMessage("*max_position_embeddings > 0*0*");
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(2, theta, scaling))
            .Should().Throw<InvalidArgumentException>().Which.ParamName.Should().Be("rotaryDim");
    }

    /// <summary>LongRoPE (Phi-3): inv_freqᵢ = 1 / (extᵢ · θ^(2i/d)) with the short factors up to the original context and
    /// the long ones past it; cos and sin times √(1 + ln(max / original) / ln original) unless attention_factor is given.</summary>
    [Test]
    public void LongRope_ShortOrLongFactors_AndItsAttentionFactor()
    {
        const int dim = 16, original = 4096, max = 131072;
        const double theta = 10000;
        double[] shortF = [.. Enumerable.Range(0, dim / 2).Select(i => 1 + 0.05 * i)], longF = [.. Enumerable.Range(0, dim / 2).Select(i => 1 + 0.5 * i)];
        var scaling = new RopeScaling("longrope", null, null, null, original) { ShortFactor = shortF, LongFactor = longF, MaxPositionEmbeddings = max };
        foreach (var (length, factors) in new[] { ((int?)null, shortF), (original, shortF), (original + 1, longF) })
        {
            float[] inv = RopeTable.InverseFrequencies(dim, theta, scaling, length);
            for (int i = 0; i < inv.Length; i++)
            {
                double expected = 1 / (factors[i] * Math.Pow(theta, 2.0 * i / dim));
                inv[i].Should().BeApproximately((float)expected, (float)(expected * 8 * Math.Pow(2, -24)), $"L {length}, inv_freq[{i}]");
            }
        }
        RopeTable.AttentionFactor(scaling).Should().BeApproximately(Math.Sqrt(1 + Math.Log(32) / Math.Log(original)), 1e-15);
        RopeTable.AttentionFactor(scaling with { AttentionFactor = 1.5 }).Should().Be(1.5);
        RopeTable.AttentionFactor(scaling with { Factor = 1.0 }).Should().Be(1.0);
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(dim, theta, scaling with { ShortFactor = [1, 2] }))
            .Should().Throw<InvalidArgumentException>().WithMessage("*short_factor*8*2*");
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(dim, theta, scaling with { LongFactor = null }, original + 1))
            .Should().Throw<InvalidArgumentException>().WithMessage("*long_factor*");
        FluentActions.Invoking(() => RopeTable.AttentionFactor(scaling with { OriginalMaxPositionEmbeddings = 1 }))
            .Should().Throw<InvalidArgumentException>().WithMessage("*original_max_position_embeddings > 1*");
        FluentActions.Invoking(() => RopeTable.AttentionFactor(scaling with { MaxPositionEmbeddings = null }))
            .Should().Throw<InvalidArgumentException>().WithMessage("*factor or max_position_embeddings*");
        FluentActions.Invoking(() => RopeTable.InverseFrequencies(dim, theta, scaling with { ShortFactor = [.. shortF.Select((v, i) => i == 3 ? -1 : v)] }))
            .Should().Throw<InvalidArgumentException>().WithMessage("*finite and > 0*-1*3*");
    }

    [Test]
    public void YarnMissingOrBadFields_ThrowInvalidArgument()
    {
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("yarn", 4, null, null, null), device: Device))
            .WithMessage("*yarn*original_max_position_embeddings*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("yarn", null, null, null, 4096), device: Device))
            .WithMessage("*yarn*factor*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("yarn", 4, null, null, 4096) { AttentionFactor = -1 }, device: Device))
            .WithMessage("*attention_factor*> 0*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("yarn", 4, null, null, 4096) { BetaFast = double.NaN }, device: Device))
            .WithMessage("*beta_fast*");
    }

    /// <summary>YaRN (Qwen3's 32K → 128K: factor 4, θ 10⁶, head dim 128) against the method written again in float64
    /// from the paper: dimension pair i keeps its frequency where it turns more than β_fast = 32 times within the
    /// original context, is divided by the factor where it turns fewer than β_slow = 1 times, and between them the two
    /// blend linearly in i over whole dimensions (floor and ceil of the counts' dimensions); cos and sin are
    /// multiplied by 0.1 · ln(factor) + 1.</summary>
    [Test]
    public void Yarn_MatchesFloat64Formula_AcrossTheRamp()
    {
        const int dim = 128, positions = 3000, original = 32768;
        const double theta = 1_000_000, factor = 4;
        var scaling = new RopeScaling("yarn", factor, null, null, original);
        double DimensionOf(double rotations) => dim * Math.Log(original / (2 * Math.PI * rotations)) / (2 * Math.Log(theta));
        double low = Math.Max(Math.Floor(DimensionOf(32)), 0), high = Math.Min(Math.Ceiling(DimensionOf(1)), dim - 1);
        var expected = new double[dim / 2];
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double blend = Math.Clamp((i - low) / (high - low), 0, 1); // 0: extrapolate (keep), 1: interpolate (÷ factor)
            expected[i] = Math.Pow(theta, -2.0 * i / dim) * (1 - blend + blend / factor);
            if (blend == 0) kept++; else if (blend == 1) divided++; else blended++;
        }
        (kept, divided, blended).Should().Match<(int K, int D, int B)>(t => t.K > 0 && t.D > 0 && t.B > 0, "the ramp must have all three parts");

        float[] inv = RopeTable.InverseFrequencies(dim, theta, scaling);
        for (int i = 0; i < inv.Length; i++)
            inv[i].Should().BeApproximately((float)expected[i], (float)(expected[i] * 8 * Math.Pow(2, -24)), $"inv_freq[{i}]");

        double attention = 0.1 * Math.Log(factor) + 1;
        RopeTable.AttentionFactor(scaling).Should().BeApproximately(attention, 1e-15);
        var (cos, sin) = RopeTable.Create(positions, dim, theta, scaling: scaling, device: Device);
        using (cos)
        using (sin)
        {
            var (expectedCos, expectedSin, slack) = Float64Table(positions, dim, p => p, i => expected[i], RotaryForm.RotateHalf, slackScale: 2);
            Compare.AllClose(cos.ToFloatArray(), expectedCos.Select(v => v * attention).ToArray(), new Tolerance(2 * Math.Pow(2, -24), 2 * Math.Pow(2, -24)),
                slack.Select(v => v * attention).ToArray(), "yarn cos");
            Compare.AllClose(sin.ToFloatArray(), expectedSin.Select(v => v * attention).ToArray(), new Tolerance(2 * Math.Pow(2, -24), 2 * Math.Pow(2, -24)),
                slack.Select(v => v * attention).ToArray(), "yarn sin");
        }
    }

    /// <summary>The cos/sin factor: given; DeepSeek's mscale ratio; the default from the factor; 1 at factor ≤ 1 and
    /// for every other type.</summary>
    [Test]
    public void YarnAttentionFactor_FollowsItsFields()
    {
        RopeTable.AttentionFactor(new RopeScaling("yarn", 8, null, null, 4096) { AttentionFactor = 1.25 }).Should().Be(1.25);
        RopeTable.AttentionFactor(new RopeScaling("yarn", 40, null, null, 4096) { Mscale = 1.0, MscaleAllDim = 0.5 })
            .Should().BeApproximately((0.1 * Math.Log(40) + 1) / (0.05 * Math.Log(40) + 1), 1e-15);
        RopeTable.AttentionFactor(new RopeScaling("yarn", 40, null, null, 4096) { Mscale = 0.707, MscaleAllDim = 0.707 }).Should().Be(1.0);
        RopeTable.AttentionFactor(new RopeScaling("yarn", 40, null, null, 4096) { Mscale = 1.0 })
            .Should().BeApproximately(0.1 * Math.Log(40) + 1, 1e-15, "mscale alone does not count");
        RopeTable.AttentionFactor(new RopeScaling("yarn", 1, null, null, 4096)).Should().Be(1.0);
        RopeTable.AttentionFactor(new RopeScaling("linear", 4, null, null, null)).Should().Be(1.0);
        RopeTable.AttentionFactor(null).Should().Be(1.0);
    }

    /// <summary>Without truncation the ramp's ends stay fractional, and the betas move them: the frequencies differ
    /// from the truncated ramp's and stay within the float64 formula's.</summary>
    [Test]
    public void Yarn_UntruncatedRampWithOwnBetas_MatchesFloat64Formula()
    {
        const int dim = 64, original = 4096;
        const double theta = 10000, factor = 8, betaFast = 16, betaSlow = 2;
        var scaling = new RopeScaling("yarn", factor, null, null, original) { BetaFast = betaFast, BetaSlow = betaSlow, Truncate = false };
        double DimensionOf(double rotations) => dim * Math.Log(original / (2 * Math.PI * rotations)) / (2 * Math.Log(theta));
        double low = Math.Max(DimensionOf(betaFast), 0), high = Math.Min(DimensionOf(betaSlow), dim - 1);
        float[] inv = RopeTable.InverseFrequencies(dim, theta, scaling);
        for (int i = 0; i < inv.Length; i++)
        {
            double blend = Math.Clamp((i - low) / (high - low), 0, 1);
            double expected = Math.Pow(theta, -2.0 * i / dim) * (1 - blend + blend / factor);
            inv[i].Should().BeApproximately((float)expected, (float)(expected * 8 * Math.Pow(2, -24)), $"inv_freq[{i}]");
        }
        inv.Should().NotEqual(RopeTable.InverseFrequencies(dim, theta, scaling with { Truncate = true }));
    }

    [Test]
    public void Llama3MissingFields_ThrowInvalidArgument()
    {
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("llama3", 8, null, 4, 8192), device: Device))
            .WithMessage("*llama3*low_freq_factor*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("llama3", 8, 1, 4, null), device: Device))
            .WithMessage("*original_max_position_embeddings*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device,
                () => RopeTable.Create(8, 16, scaling: new RopeScaling("linear", 0, null, null, null), device: Device))
            .WithMessage("*factor*> 0*");
    }

    [TestCase(DType.Float8E4M3)]
    [TestCase(DType.Int32)]
    public void NonFloatDtype_ThrowsUnsupportedDtype(DType dtype) =>
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => RopeTable.Create(8, 16, dtype: dtype, device: Device))
            .WithMessage("*'dtype'*");

    /// <summary>transformers' own tables (rope_tables.safetensors: its rotary modules on the CPU): inv_freq within
    /// 1 ulp (we round the power correctly; PyTorch's CPU <c>base ** t</c> is SLEEF's 1-ulp powf: on the H200 host
    /// it differed in 1 of 64 qwen3 frequencies), cos/sin within 1 ulp (PyTorch's CPU cos/sin are ≤ 1 ulp from the
    /// correctly rounded value we store).</summary>
    [Test]
    public void MatchesTransformers_RopeTablesFixture()
    {
        using var fixture = Fixture.Open("rope_tables");
        long[] positions = fixture.Longs("positions");
        foreach (string name in fixture.Meta("tables").Split(','))
        {
            int rotaryDim = fixture.MetaInt($"{name}.rotary_dim");
            double theta = fixture.MetaDouble($"{name}.theta");
            RopeScaling? scaling = ScalingFromMetadata(fixture, name + ".");
            // transformers' module ran at these positions: dynamic and longrope take their frequencies from max + 1.
            float[] inv = RopeTable.InverseFrequencies(rotaryDim, theta, scaling, sequenceLength: (int)(positions.Max() + 1));
            float[] theirs = fixture.Floats($"{name}.inv_freq");
            inv.Length.Should().Be(theirs.Length, $"{name}: rotary_dim / 2 frequencies");
            int off = 0;
            // dynamic's stretched θ is itself a float32 pow (PyTorch's ≤ 1 ulp against our correctly rounded one): 2 ulp there.
            int maxUlps = scaling?.RopeType == "dynamic" ? 2 : 1;
            for (int i = 0; i < inv.Length; i++)
            {
                UlpDistance(inv[i], theirs[i]).Should().BeLessThanOrEqualTo(maxUlps, $"{name}: inv_freq[{i}] {inv[i]:R} vs transformers' {theirs[i]:R}");
                if (inv[i] != theirs[i]) off++;
            }
            TestContext.Out.WriteLine($"{name}: inv_freq {inv.Length - off}/{inv.Length} bit-identical to transformers, the rest 1 ulp");
            // yarn's cos/sin factor: transformers' attention_scaling is a Python float (the fixtures from before yarn have none: 1).
            double attention = RopeTable.AttentionFactor(scaling);
            if (fixture.Metadata.ContainsKey($"{name}.attention_scaling"))
                attention.Should().Be(fixture.MetaDouble($"{name}.attention_scaling"), $"{name}: attention_scaling");
            // The rows from transformers' own frequencies: a 1-ulp frequency moves sin of a small angle by many ulps
            // (qwen3: 61 at position 72, an absolute 6e-9), which says nothing about how the rows are computed.
            // yarn's factor adds a rounding on each side after PyTorch's ≤ 1-ulp cos/sin: within 2 ulp there (24 of the
            // qwen3-sized yarn table's 18 688 values were 2 ulp apart, 12-08).
            CompareRows(fixture, name, positions, theirs, RotaryForm.RotateHalf, $"{name}.cos", $"{name}.sin", maxUlps: attention == 1 ? 1 : 2, attention);
        }
    }

    /// <summary>The cos/sin each module fixture recorded (transformers' rotary module, or GPT-J's sinusoid table, at
    /// scattered positions, on the fixture machine's GPU: CUDA's cosf/sinf are within 2 ulp).</summary>
    [TestCase("olmo2_f32")]
    [TestCase("qwen3_f32")]
    [TestCase("neox_partial_f32")]
    [TestCase("gptj_f32")]
    [TestCase("llama_f32")]            // llama3 scaling, positions up to 131 071
    public void MatchesTransformers_ModuleFixtureCosSin(string name)
    {
        using var fixture = Fixture.Open(name);
        RotaryForm form = fixture.Meta("form") == "interleaved" ? RotaryForm.Interleaved : RotaryForm.RotateHalf;
        long[] positions = fixture.Longs("positions");
        CompareRows(fixture, name, positions, fixture.MetaInt("rotary_dim"), fixture.MetaDouble("theta"), form,
            ScalingFromMetadata(fixture, ""), "cos", "sin", maxUlps: 2);
    }

    private static void CompareRows(Fixture fixture, string name, long[] positions, int rotaryDim, double theta, RotaryForm form,
        RopeScaling? scaling, string cosName, string sinName, int maxUlps) =>
        CompareRows(fixture, name, positions, RopeTable.InverseFrequencies(rotaryDim, theta, scaling), form, cosName, sinName, maxUlps,
            RopeTable.AttentionFactor(scaling));

    private static void CompareRows(Fixture fixture, string name, long[] positions, float[] invFreq, RotaryForm form,
        string cosName, string sinName, int maxUlps, double attentionFactor = 1.0)
    {
        int rotaryDim = 2 * invFreq.Length;
        // Only the rows asked for (positions reach 131 071); RopeTable's rows depend on their position alone, as the
        // layout tests check through Create.
        var (c, s) = RopeTable.Compute(positions.Length, k => positions[k], invFreq, form, attentionFactor);
        {
            float[] expectedCos = fixture.Floats(cosName), expectedSin = fixture.Floats(sinName);
            expectedCos.Length.Should().Be(positions.Length * rotaryDim, $"{name}: {cosName} holds one row of rotary_dim per position");
            int worst = 0, bad = 0;
            string first = "";
            for (int k = 0; k < positions.Length; k++)
                for (int j = 0; j < rotaryDim; j++)
                    foreach (var (ours, theirs, what) in new[] { (c[k * rotaryDim + j], expectedCos[k * rotaryDim + j], "cos"), (s[k * rotaryDim + j], expectedSin[k * rotaryDim + j], "sin") })
                    {
                        int ulps = UlpDistance(ours, theirs);
                        worst = Math.Max(worst, ulps);
                        if (ulps > maxUlps && bad++ < 8)
                            first += $"  {what}[position {positions[k]}, dim {j}]: ours {ours:R}, transformers {theirs:R} ({ulps} ulp)\n";
                    }
            TestContext.Out.WriteLine($"{name}: worst {worst} ulp from transformers over {positions.Length} positions × {rotaryDim} dims");
            if (bad > 0)
                Assert.Fail($"{name}: {bad} values more than {maxUlps} ulp from transformers; first:\n{first}");
        }
    }

    private static int UlpDistance(float a, float b)
    {
        if (a == b)
            return 0;
        if (Math.Sign(a) != Math.Sign(b))
            return Math.Abs(a - b) <= float.Epsilon * 4 ? 1 : int.MaxValue;
        long d = Math.Abs((long)BitConverter.SingleToInt32Bits(a) - BitConverter.SingleToInt32Bits(b));
        return (int)Math.Min(d, int.MaxValue);
    }

    /// <summary>The scaling recorded under <paramref name="prefix"/> ("llama3." or "" for a module fixture); null for default.</summary>
    private static RopeScaling? ScalingFromMetadata(Fixture fixture, string prefix)
    {
        string type = fixture.Meta($"{prefix}rope_type");
        if (type == "default")
            return null;
        double? Optional(string key) => fixture.Metadata.ContainsKey(prefix + key) ? fixture.MetaDouble(prefix + key) : null;
        int? original = fixture.Metadata.ContainsKey($"{prefix}original_max_position_embeddings") ? fixture.MetaInt($"{prefix}original_max_position_embeddings") : null;
        return new RopeScaling(type, Optional("factor"), Optional("low_freq_factor"), Optional("high_freq_factor"), original)
        {
            AttentionFactor = Optional("attention_factor"),
            BetaFast = Optional("beta_fast"),
            BetaSlow = Optional("beta_slow"),
            Mscale = Optional("mscale"),
            MscaleAllDim = Optional("mscale_all_dim"),
            Truncate = fixture.Metadata.TryGetValue(prefix + "truncate", out string? truncate) ? bool.Parse(truncate) : null,
            ShortFactor = List("short_factor"),
            LongFactor = List("long_factor"),
            MaxPositionEmbeddings = fixture.Metadata.ContainsKey($"{prefix}max_position_embeddings") ? fixture.MetaInt($"{prefix}max_position_embeddings") : null,
        };
        // A Python list as str() writes it: "[1.0, 1.01, …]".
        double[]? List(string key) => fixture.Metadata.TryGetValue(prefix + key, out string? text)
            ? text.Trim('[', ']').Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()
            : null;
    }

    /// <summary>Llama 3.1's frequency scaling in float64, written from its description: wavelengths shorter than
    /// original/high_freq_factor are kept (band 0), longer than original/low_freq_factor divided by factor (band 1),
    /// between them interpolated by s = (original/wavelength − low)/(high − low) (band 2).</summary>
    private static double[] Llama3Float64(int dim, double theta, double factor, double low, double high, int old, out int[] band)
    {
        double[] result = new double[dim / 2];
        band = new int[dim / 2];
        for (int i = 0; i < result.Length; i++)
        {
            double inv = Math.Pow(theta, -2.0 * i / dim);
            double wavelength = 2 * Math.PI / inv;
            double lowWavelength = old / low, highWavelength = old / high;
            // Keep clear of the band edges, where float32 and float64 may disagree on the band.
            Math.Abs(wavelength / lowWavelength - 1).Should().BeGreaterThan(1e-4);
            Math.Abs(wavelength / highWavelength - 1).Should().BeGreaterThan(1e-4);
            if (wavelength < highWavelength)
                (result[i], band[i]) = (inv, 0);
            else if (wavelength > lowWavelength)
                (result[i], band[i]) = (inv / factor, 1);
            else
            {
                double s = (old / wavelength - low) / (high - low);
                (result[i], band[i]) = ((1 - s) * inv / factor + s * inv, 2);
            }
        }
        return result;
    }

    /// <summary>cos/sin [positions, dim] in float64 for position(p) and frequency(i), with each element's slack.</summary>
    private static (double[] Cos, double[] Sin, double[] Slack) Float64Table(int positions, int dim, Func<int, double> position,
        Func<int, double> frequency, RotaryForm form, double slackScale = 1)
    {
        double[] cos = new double[positions * dim], sin = new double[cos.Length], slack = new double[cos.Length];
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < dim; j++)
            {
                int i = form == RotaryForm.RotateHalf ? j % (dim / 2) : j / 2;
                double angle = position(p) * frequency(i);
                cos[p * dim + j] = Math.Cos(angle);
                sin[p * dim + j] = Math.Sin(angle);
                slack[p * dim + j] = slackScale * AngleSlack(angle);
            }
        return (cos, sin, slack);
    }
}
