namespace TritonOps;

/// <summary>
/// RMSNorm as a module (<c>nn.RMSNorm</c>, Liger <c>LigerRMSNorm</c>): owns the weight <c>[hidden]</c> and
/// scales by <c>weight + weightOffset</c>. The weight starts at <c>1 − weightOffset</c>, so a new module scales
/// by one: ones as <c>nn.RMSNorm</c> starts, zeros with Gemma's offset of 1 as <c>GemmaRMSNorm</c> starts.
/// </summary>
public sealed class RmsNorm : IDisposable
{
    /// <param name="hidden">Row width (the last dimension of the inputs).</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="dtype">Weight dtype (float32, float16 or bfloat16); inputs must match it.</param>
    /// <param name="device">Defaults to <see cref="Device.Default"/>.</param>
    /// <param name="weightOffset">Added to the weight in float32 before it scales (1: Gemma's <c>(1 + w)</c>).</param>
    /// <param name="rounding">Where a 16-bit norm rounds: <see cref="NormRounding.Llama"/> for a Llama, Mistral or Qwen
    /// checkpoint's norms bit for bit (<see cref="NormRounding"/>).</param>
    public RmsNorm(int hidden, double eps = 1e-6, DType dtype = DType.Float32, Device? device = null, float weightOffset = 0,
        NormRounding rounding = NormRounding.Once)
    {
        Check.Defined(rounding, nameof(rounding));
        Check.Positive(hidden, nameof(hidden));
        Check.Eps(eps);
        Check.FloatDType(dtype, nameof(dtype));
        Check.Finite(weightOffset, nameof(weightOffset));
        Hidden = hidden;
        Eps = eps;
        WeightOffset = weightOffset;
        Rounding = rounding;
        Weight = Tensor.Full([hidden], 1f - weightOffset, dtype, device);
    }

    /// <summary>Row width.</summary>
    public int Hidden { get; }

    /// <summary>Added to the mean square.</summary>
    public double Eps { get; }

    /// <summary>Added to the weight before it scales.</summary>
    public float WeightOffset { get; }

    /// <summary>Where a 16-bit norm rounds.</summary>
    public NormRounding Rounding { get; }

    /// <summary>The weight, <c>[hidden]</c>, in the module's dtype.</summary>
    public Tensor Weight { get; private set; }

    /// <summary>Replaces the weight's values (rounded to its dtype), as stored in a checkpoint (Gemma's without the offset).</summary>
    public void LoadWeight(ReadOnlySpan<float> values)
    {
        var loaded = Tensor.FromArray(values, [Hidden], Weight.DType, Weight.Device);
        Weight.Dispose();
        Weight = loaded;
    }

    /// <summary><see cref="Ops.RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/> of x <c>[..., hidden]</c> with this module's weight.</summary>
    public Tensor Forward(Tensor x) => Ops.RmsNorm(x, Weight, Eps, WeightOffset, rounding: Rounding);

    /// <summary><see cref="Ops.FusedAddRmsNorm(Tensor, Tensor, Tensor, double, float, Tensor?, NormRounding)"/>: <paramref name="residual"/> ← residual + x
    /// in place, and the norm of the new residual returned.</summary>
    public Tensor Forward(Tensor x, Tensor residual) => Ops.FusedAddRmsNorm(x, residual, Weight, Eps, WeightOffset, rounding: Rounding);

    /// <summary>Releases the weight.</summary>
    public void Dispose() => Weight.Dispose();
}
