namespace TritonOps;

/// <summary>
/// nn.Linear: a weight <c>[out, in]</c> (and a bias <c>[out]</c>) drawn like PyTorch's default from
/// <c>seed</c>; <see cref="Forward"/> runs <see cref="Ops.Linear(Tensor, Tensor, Tensor?, Tensor?, Tensor?, ResidualRounding)"/>, with an
/// optional residual added in the same kernel.
/// </summary>
public sealed class Linear : IDisposable
{
    /// <summary>A layer with weight (and bias) uniform in ±1/√in, like nn.Linear's default.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Device? device = null, int seed = 0)
    {
        Check.Positive(inFeatures, nameof(inFeatures));
        Check.Positive(outFeatures, nameof(outFeatures));
        Check.FloatDType(dtype, nameof(dtype));
        device ??= Device.Default;
        var random = new Random(seed);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = Tensor.FromArray(Init.Linear(random, (long)outFeatures * inFeatures, inFeatures), [outFeatures, inFeatures], dtype, device);
        Bias = bias ? Tensor.FromArray(Init.Linear(random, outFeatures, inFeatures), [outFeatures], dtype, device) : null;
    }

    /// <summary>Input size.</summary>
    public int InFeatures { get; }

    /// <summary>Output size.</summary>
    public int OutFeatures { get; }

    /// <summary><c>[out, in]</c>.</summary>
    public Tensor Weight { get; private set; }

    /// <summary><c>[out]</c>, or null for a layer made with bias: false.</summary>
    public Tensor? Bias { get; private set; }

    /// <summary>Replaces the weight with <paramref name="values"/> (<c>[out, in]</c> row-major), rounded to its dtype.</summary>
    public void LoadWeight(ReadOnlySpan<float> values)
    {
        var next = Tensor.FromArray(values, [OutFeatures, InFeatures], Weight.DType, Weight.Device);
        Weight.Dispose();
        Weight = next;
    }

    /// <summary>Replaces the bias (<c>[out]</c>).</summary>
    public void LoadBias(ReadOnlySpan<float> values)
    {
        if (Bias is null)
            throw new TritonOpsException("LoadBias: this Linear was created with bias: false.");
        var next = Tensor.FromArray(values, [OutFeatures], Bias.DType, Bias.Device);
        Bias.Dispose();
        Bias = next;
    }

    /// <summary>x <c>[…, in]</c> → <c>[…, out]</c> in x's dtype, plus <paramref name="residual"/> (<c>[…, out]</c>) when given,
    /// rounded once or, with <see cref="ResidualRounding.PerOp"/>, as PyTorch eager's <c>residual + linear(x)</c>.</summary>
    public Tensor Forward(Tensor x, Tensor? residual = null, ResidualRounding rounding = ResidualRounding.Once) =>
        Ops.Linear(x, Weight, Bias, residual, rounding: rounding);

    /// <summary>Releases the weight and bias.</summary>
    public void Dispose()
    {
        Weight.Dispose();
        Bias?.Dispose();
    }
}
