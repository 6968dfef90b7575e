namespace TritonOps;

public static partial class Reference
{
    /// <summary>float64 <see cref="Ops.Linear(Tensor, Tensor, Tensor?, Tensor?, Tensor?, ResidualRounding)"/>: Σₖ x[…, k]·w[n, k] (+ bias[n])
    /// (+ residual[…, n]) from the tensors' exact values, row-major.</summary>
    public static double[] Linear(Tensor x, Tensor weight, Tensor? bias = null, Tensor? residual = null)
    {
        int k = x.Shape[^1], n = weight.Shape[0];
        double[] xs = ToDoubles(x), w = ToDoubles(weight);
        double[]? b = bias is null ? null : ToDoubles(bias), r = residual is null ? null : ToDoubles(residual);
        long rows = k == 0 ? (residual?.ElementCount ?? 0) / Math.Max(1, n) : x.ElementCount / k;
        if (k == 0 && residual is null)
            rows = x.Shape.Take(x.Rank - 1).Aggregate(1L, (a, d) => a * d);
        var output = new double[rows * n];
        for (long m = 0; m < rows; m++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++)
                    sum += xs[m * k + i] * w[(long)j * k + i];
                output[m * n + j] = sum + (b?[j] ?? 0) + (r?[m * n + j] ?? 0);
            }
        return output;
    }
}
