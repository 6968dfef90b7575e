namespace TritonOps;

public static partial class Reference
{
    /// <summary>float64 <see cref="Ops.FusedGatedMlp(Tensor, Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/>: row-major
    /// <c>[batch·seq, intermediate]</c>, unrounded.</summary>
    public static double[] FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation = Activation.Silu)
    {
        var (batch, seq, hidden, intermediate) = Ops.ValidateGatedMlp(x, gateWeight, upWeight, activation);
        return FusedGatedMlp(ToDoubles(x), ToDoubles(gateWeight), ToDoubles(upWeight), batch * seq, hidden, intermediate, activation);
    }

    /// <summary>The same on host arrays: x <c>[m·hidden]</c>, weights <c>[intermediate·hidden]</c>.</summary>
    internal static double[] FusedGatedMlp(ReadOnlySpan<double> x, ReadOnlySpan<double> gate, ReadOnlySpan<double> up,
        int m, int hidden, int intermediate, Activation activation)
    {
        var output = new double[(long)m * intermediate];
        for (int row = 0; row < m; row++)
        {
            var xr = x.Slice(row * hidden, hidden);
            for (int n = 0; n < intermediate; n++)
            {
                double g = 0, u = 0;
                var gr = gate.Slice(n * hidden, hidden);
                var ur = up.Slice(n * hidden, hidden);
                for (int k = 0; k < hidden; k++)
                {
                    g += xr[k] * gr[k];
                    u += xr[k] * ur[k];
                }
                output[(long)row * intermediate + n] = Activate(g, activation) * u;
            }
        }
        return output;
    }

    /// <summary>float64 <see cref="Ops.GatedActivation(Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/>: act(gate) · up, row-major, unrounded.</summary>
    public static double[] GatedActivation(Tensor gate, Tensor up, Activation activation = Activation.Silu)
    {
        Ops.ValidateGatedActivation(gate, up, activation);
        double[] g = ToDoubles(gate), u = ToDoubles(up);
        var output = new double[g.Length];
        for (int i = 0; i < g.Length; i++)
            output[i] = Activate(g[i], activation) * u[i];
        return output;
    }

    /// <summary>float64 <see cref="Ops.GatedActivation(Tensor, Activation, Tensor?, ActivationRounding)"/>: act(x[…, :d]) · x[…, d:], row-major <c>[…, d]</c>, unrounded.</summary>
    public static double[] GatedActivation(Tensor gateUp, Activation activation = Activation.Silu)
    {
        var (rows, cols) = Ops.ValidateGatedActivation(gateUp, null, activation);
        Check.Shape(cols % 2 == 0, nameof(gateUp), "[…, 2d] (an even last dimension)", gateUp);
        double[] x = ToDoubles(gateUp);
        int d = cols / 2;
        var output = new double[(long)rows * d];
        for (long r = 0; r < rows; r++)
            for (int c = 0; c < d; c++)
                output[r * d + c] = Activate(x[r * cols + c], activation) * x[r * cols + d + c];
        return output;
    }

    /// <summary>The activations in float64.</summary>
    internal static double Activate(double x, Activation activation) => activation switch
    {
        Activation.Silu => x / (1 + Math.Exp(-x)),
        Activation.Gelu => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
        Activation.GeluTanh => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(activation)),
    };

    /// <summary>erf to ~1e-15: erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), all terms
    /// positive (no cancellation); ±1 beyond |x| = 6, where erfc &lt; 3e-17.</summary>
    internal static double Erf(double x)
    {
        double z = Math.Abs(x);
        if (z > 6)
            return Math.Sign(x);
        double term = z, sum = z;
        for (int n = 1; n < 200 && term > 1e-17 * sum; n++)
        {
            term *= 2 * z * z / (2 * n + 1);
            sum += term;
        }
        return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * Math.Exp(-z * z) * sum;
    }
}
