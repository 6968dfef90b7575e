namespace TritonOps;

/// <summary>
/// RMSNorm + RoPE as a module (<c>FusedRMSNormRoPE</c>): owns the RMSNorm weight (initialized to
/// ones); its forward still takes cos and sin, so it is not a drop-in RMSNorm.
/// </summary>
public sealed class FusedRmsNormRope : IDisposable
{
    /// <param name="hidden">Row width; a multiple of <paramref name="headDim"/>.</param>
    /// <param name="headDim">Even head size.</param>
    /// <param name="eps">Added to the mean square.</param>
    /// <param name="dtype">Weight dtype; inputs must match it.</param>
    /// <param name="device">Defaults to <see cref="Device.Default"/>.</param>
    public FusedRmsNormRope(int hidden, int headDim, double eps = 1e-6, DType dtype = DType.Float32, Device? device = null)
    {
        Check.Positive(hidden, nameof(hidden));
        Check.Positive(headDim, nameof(headDim));
        Check.Shape(headDim % 2 == 0, nameof(headDim), "an even head_dim", headDim.ToString());
        Check.Shape(hidden % headDim == 0, nameof(hidden), $"a multiple of head_dim = {headDim}", hidden.ToString());
        Check.Eps(eps);
        Hidden = hidden;
        HeadDim = headDim;
        Eps = eps;
        Weight = Tensor.Full([hidden], 1f, dtype, device);
    }

    /// <summary>Row width.</summary>
    public int Hidden { get; }

    /// <summary>Head size (even).</summary>
    public int HeadDim { get; }

    /// <summary>hidden / head_dim.</summary>
    public int NumHeads => Hidden / HeadDim;

    /// <summary>Added to the mean square.</summary>
    public double Eps { get; }

    /// <summary>The RMSNorm weight, <c>[hidden]</c>.</summary>
    public Tensor Weight { get; private set; }

    /// <summary>Replaces the weight's values (rounded to its dtype).</summary>
    public void LoadWeight(ReadOnlySpan<float> values)
    {
        var loaded = Tensor.FromArray(values, [Hidden], Weight.DType, Weight.Device);
        Weight.Dispose();
        Weight = loaded;
    }

    /// <summary><see cref="Ops.FusedRmsNormRope(Tensor, Tensor, Tensor, Tensor, double, int?, Tensor?)"/> with this module's weight, eps and head count.</summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin) =>
        Ops.FusedRmsNormRope(x, Weight, cos, sin, Eps, NumHeads);

    /// <summary>Releases the weight.</summary>
    public void Dispose() => Weight.Dispose();
}
