namespace TritonOps;

/// <summary>
/// The gated expansion as a module (<c>FusedGatedMLP</c>): owns gate and up weights
/// <c>[intermediate, hidden]</c>, initialized like <c>nn.Linear</c> (uniform in ±1/√hidden) from a seed.
/// </summary>
public sealed class FusedGatedMlp : IDisposable
{
    /// <summary>A module with weights drawn from <paramref name="seed"/>.</summary>
    /// <param name="hidden">Input width.</param>
    /// <param name="intermediate">Output width.</param>
    /// <param name="activation">Applied to the gate product.</param>
    /// <param name="dtype">Weight dtype; inputs must match it.</param>
    /// <param name="device">Defaults to <see cref="Device.Default"/>.</param>
    /// <param name="seed">Seed of the uniform initialization.</param>
    public FusedGatedMlp(int hidden, int intermediate, Activation activation = Activation.Silu,
        DType dtype = DType.Float32, Device? device = null, int seed = 0)
    {
        Check.Positive(hidden, nameof(hidden));
        Check.Positive(intermediate, nameof(intermediate));
        Check.Defined(activation, nameof(activation));
        Hidden = hidden;
        Intermediate = intermediate;
        Activation = activation;
        var random = new Random(seed);
        GateWeight = Tensor.FromArray(Init.Linear(random, (long)intermediate * hidden, hidden), [intermediate, hidden], dtype, device);
        UpWeight = Tensor.FromArray(Init.Linear(random, (long)intermediate * hidden, hidden), [intermediate, hidden], dtype, device);
    }

    /// <summary>With the activation by its original name ("silu", "gelu", "gelu_tanh").</summary>
    public FusedGatedMlp(int hidden, int intermediate, string activation, DType dtype = DType.Float32, Device? device = null, int seed = 0)
        : this(hidden, intermediate, Ops.ParseActivation(activation), dtype, device, seed) { }

    /// <summary>Input width.</summary>
    public int Hidden { get; }

    /// <summary>Output width.</summary>
    public int Intermediate { get; }

    /// <summary>Applied to the gate product.</summary>
    public Activation Activation { get; }

    /// <summary><c>[intermediate, hidden]</c></summary>
    public Tensor GateWeight { get; private set; }

    /// <summary><c>[intermediate, hidden]</c></summary>
    public Tensor UpWeight { get; private set; }

    /// <summary>Replaces both weights (row-major <c>[intermediate, hidden]</c>, rounded to the module's dtype).</summary>
    public void LoadWeights(ReadOnlySpan<float> gate, ReadOnlySpan<float> up)
    {
        var newGate = Tensor.FromArray(gate, [Intermediate, Hidden], GateWeight.DType, GateWeight.Device);
        var newUp = Tensor.FromArray(up, [Intermediate, Hidden], UpWeight.DType, UpWeight.Device);
        GateWeight.Dispose();
        UpWeight.Dispose();
        (GateWeight, UpWeight) = (newGate, newUp);
    }

    /// <summary><see cref="Ops.FusedGatedMlp(Tensor, Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/> with this module's weights.</summary>
    public Tensor Forward(Tensor x, ActivationRounding rounding = ActivationRounding.Once) =>
        Ops.FusedGatedMlp(x, GateWeight, UpWeight, Activation, rounding: rounding);

    /// <summary>Releases both weights.</summary>
    public void Dispose()
    {
        GateWeight.Dispose();
        UpWeight.Dispose();
    }
}
