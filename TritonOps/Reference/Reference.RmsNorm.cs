namespace TritonOps;

public static partial class Reference
{
    /// <summary>float64 <see cref="Ops.RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/>, same contract and validation;
    /// returns the unrounded result in row-major order.</summary>
    /// <remarks>With <see cref="NormRounding.Llama"/> and 16-bit x, x · rstd is rounded into x's dtype (from float32, as
    /// PyTorch computes it: float64 here, rounded to float32 and then to the dtype) before the weight scales it; the
    /// result stays unrounded.</remarks>
    public static double[] RmsNorm(Tensor x, Tensor weight, double eps = 1e-6, float weightOffset = 0, NormRounding rounding = NormRounding.Once)
    {
        var (rows, hidden) = Ops.ValidateRmsNorm(x, null, addResidual: false, weight, eps, weightOffset, rounding);
        return RmsNorm(ToDoubles(x), ToDoubles(weight), rows, hidden, eps, weightOffset, RoundingDType(x.DType, rounding));
    }

    private static DType? RoundingDType(DType dtype, NormRounding rounding) =>
        rounding == NormRounding.Llama && dtype != DType.Float32 ? dtype : null;

    /// <summary>The same on host arrays: x <c>[rows·hidden]</c>, weight <c>[hidden]</c>:
    /// <c>x · (mean(x²) + eps)^−½ · (weight + weightOffset)</c>.</summary>
    internal static double[] RmsNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, int rows, int hidden, double eps, double weightOffset = 0,
        DType? roundBeforeWeight = null)
    {
        var output = new double[(long)rows * hidden];
        for (long row = 0; row < rows; row++)
        {
            var input = x.Slice((int)(row * hidden), hidden);
            double sumOfSquares = 0;
            foreach (double v in input)
                sumOfSquares += v * v;
            double rstd = 1.0 / Math.Sqrt(sumOfSquares / hidden + eps);
            for (int column = 0; column < hidden; column++)
                output[row * hidden + column] = roundBeforeWeight is { } dtype
                    ? DTypes.Round((float)(input[column] * rstd), dtype) * (weight[column] + weightOffset)
                    : input[column] * rstd * (weight[column] + weightOffset);
        }
        return output;
    }

    /// <summary>
    /// <see cref="Ops.FusedAddRmsNorm(Tensor, Tensor, Tensor, double, float, Tensor?, NormRounding)"/> without touching its tensors:
    /// <c>Residual</c> is residual + x as the op stores it (the float32 sum rounded once into the dtype, as PyTorch adds
    /// two bf16 tensors: the op must match it bit for bit), <c>Output</c> the float64 RMSNorm of that rounded sum.
    /// </summary>
    public static (float[] Residual, double[] Output) FusedAddRmsNorm(Tensor x, Tensor residual, Tensor weight, double eps = 1e-6, float weightOffset = 0,
        NormRounding rounding = NormRounding.Once)
    {
        var (rows, hidden) = Ops.ValidateRmsNorm(x, residual, addResidual: true, weight, eps, weightOffset, rounding);
        float[] xs = x.ToFloatArray(), sum = residual.ToFloatArray();
        for (int i = 0; i < sum.Length; i++)
            sum[i] = DTypes.Round(sum[i] + xs[i], x.DType);
        return (sum, RmsNorm(Array.ConvertAll(sum, v => (double)v), ToDoubles(weight), rows, hidden, eps, weightOffset, RoundingDType(x.DType, rounding)));
    }
}
