namespace TritonOps.Tests;

/// <summary>
/// The norm and RoPE ops against Hugging Face transformers' own modules (fixtures made on the GPU machine by
/// <c>scripts/fixtures/make_fixtures.py</c>: tiny seeded OLMo2, Qwen3, Llama, GPT-NeoX and GPT-J configs, run in
/// float32 and in bfloat16). Each token's cos/sin row comes from the fixture (what the model's rotary module produced
/// at its position): as the module returns it, [batch, seq, rotary_dim] (the q/k norm tests), or as a [tokens,
/// rotary_dim] table with positions 0…tokens−1 (the rest), so these tests check the ops, not the table (RopeTableTests
/// does that).
/// Tolerances per dtype: float32 fixtures are computed in float32 by transformers too (other order): 2·10⁻⁵ relative
/// and absolute. bfloat16 fixtures round to bfloat16 between steps (the norm's output, the weight product, q·cos,
/// rotate(q)·sin and their sum, with cos/sin themselves rounded to bfloat16) while we round once from float32: up to
/// about five bfloat16 roundings (2⁻⁹ each) of terms of size |q|, so 2⁻⁵ absolute (values are O(1)) and 2⁻⁶ relative.
/// </summary>
public class TransformersFixtureTests
{
    private static Device Device => TestDevices.Cpu;

    private static Tolerance For(string tag) => tag == "f32" ? new(2e-5, 2e-5) : new(Math.Pow(2, -5), Math.Pow(2, -6));

    /// <summary>The fixture's per-token cos/sin [b, s, d] as a [b·s, d] table, and positions 0…b·s−1 as [b, s].</summary>
    private static (Tensor Cos, Tensor Sin, Tensor Positions) PerTokenTable(Fixture f)
    {
        int[] shape = f.Shape("cos");
        int batch = shape[0], seq = shape[1], dim = shape[^1];
        var cos = Tensor.FromArray(f.Floats("cos"), [batch * seq, dim], DType.Float32, Device);
        var sin = Tensor.FromArray(f.Floats("sin"), [batch * seq, dim], DType.Float32, Device);
        var positions = Tensor.FromArray(Enumerable.Range(0, batch * seq).Select(i => (float)i).ToArray(), [batch, seq], DType.Int64, Device);
        return (cos, sin, positions);
    }

    [TestCase("olmo2", "f32", NormScope.Hidden)]
    [TestCase("olmo2", "bf16", NormScope.Hidden)]
    [TestCase("qwen3", "f32", NormScope.PerHead)]
    [TestCase("qwen3", "bf16", NormScope.PerHead)]
    public void QkNormThenRope_MatchesTheModelsAttention(string model, string tag, NormScope scope)
    {
        using var f = Fixture.Open($"{model}_{tag}");
        int headDim = f.MetaInt("head_dim");
        double eps = f.MetaDouble("eps");
        using var q = f.Tensor("q_in", Device);
        using var k = f.Tensor("k_in", Device);
        using var qw = f.Tensor("q_norm_weight", Device);
        using var kw = f.Tensor("k_norm_weight", Device);
        // transformers' cos/sin as its rotary module returns them, [batch, seq, rotary_dim]: each token's own row.
        using var cos = Tensor.FromArray(f.Floats("cos"), f.Shape("cos"), DType.Float32, Device);
        using var sin = Tensor.FromArray(f.Floats("sin"), f.Shape("sin"), DType.Float32, Device);

        var (qo, ko) = Ops.FusedQkNormRope(q, k, qw, kw, cos, sin, null, headDim, eps, scope);
        using var _qo = qo; using var _ko = ko;

        Compare.AllClose(qo.ToFloatArray(), f.Floats("q_out").Select(v => (double)v).ToArray(), For(tag), $"{model} {tag} q");
        Compare.AllClose(ko.ToFloatArray(), f.Floats("k_out").Select(v => (double)v).ToArray(), For(tag), $"{model} {tag} k");
    }

    [TestCase("f32")]
    [TestCase("bf16")]
    public void Llama_ResidualAddThenInputNorm_AndPlainNorm_MatchLlamaRmsNorm(string tag)
    {
        using var f = Fixture.Open($"llama_{tag}");
        double eps = f.MetaDouble("eps");
        using var x = f.Tensor("x", Device);
        using var residual = f.Tensor("residual", Device);
        using var weight = f.Tensor("weight", Device);

        using var plain = Ops.RmsNorm(x, weight, eps);
        using var normed = Ops.FusedAddRmsNorm(x, residual, weight, eps);

        residual.ToFloatArray().Should().Equal(f.Floats("residual_out"), "residual + x rounds once into the dtype in both");
        Compare.AllClose(normed.ToFloatArray(), f.Floats("norm_out").Select(v => (double)v).ToArray(), For(tag), $"llama {tag} input norm");
        Compare.AllClose(plain.ToFloatArray(), f.Floats("plain_norm_out").Select(v => (double)v).ToArray(), For(tag), $"llama {tag} plain norm");
    }

    [TestCase("llama", "f32", RotaryForm.RotateHalf)]
    [TestCase("llama", "bf16", RotaryForm.RotateHalf)]
    [TestCase("neox_partial", "f32", RotaryForm.RotateHalf)]
    [TestCase("neox_partial", "bf16", RotaryForm.RotateHalf)]
    [TestCase("gptj", "f32", RotaryForm.Interleaved)]
    [TestCase("gptj", "bf16", RotaryForm.Interleaved)]
    public void RopeAlone_MatchesTheModelsRotary(string model, string tag, RotaryForm form)
    {
        using var f = Fixture.Open($"{model}_{tag}");
        int headDim = f.MetaInt("head_dim"), rotaryDim = f.MetaInt("rotary_dim");
        using var q = f.Tensor("q_in", Device);
        using var k = f.Tensor("k_in", Device);
        var (cos, sin, positions) = PerTokenTable(f);
        using var _c = cos; using var _s = sin; using var _p = positions;

        var (qo, ko) = Ops.Rope(q, k, cos, sin, positions, headDim, form, rotaryDim);
        using var _qo = qo; using var _ko = ko;

        Compare.AllClose(qo.ToFloatArray(), f.Floats("q_out").Select(v => (double)v).ToArray(), For(tag), $"{model} {tag} q");
        Compare.AllClose(ko.ToFloatArray(), f.Floats("k_out").Select(v => (double)v).ToArray(), For(tag), $"{model} {tag} k");
    }
}
