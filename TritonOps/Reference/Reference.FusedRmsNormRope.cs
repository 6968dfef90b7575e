namespace TritonOps;

/// <summary>
/// Plain C# versions of every op, computed in float64 from the tensors' exact values. Users check
/// results against them; the tests do. Slow by design.
/// </summary>
public static partial class Reference
{
    /// <summary>float64 <see cref="Ops.FusedRmsNormRope(Tensor, Tensor, Tensor, Tensor, double, int?, Tensor?)"/>, same contract and validation; returns the
    /// unrounded result in row-major order.</summary>
    public static double[] FusedRmsNormRope(Tensor x, Tensor weight, Tensor cos, Tensor sin, double eps = 1e-6, int? numHeads = null)
    {
        var s = Ops.ValidateRmsNormRope(x, weight, cos, sin, eps, numHeads);
        return FusedRmsNormRope(ToDoubles(x), ToDoubles(weight), ToDoubles(cos), ToDoubles(sin), s.Batch, s.Seq, s.Hidden, s.HeadDim, eps);
    }

    /// <summary>The same on host arrays: x <c>[batch·seq·hidden]</c>, weight <c>[hidden]</c>, cos/sin <c>[seq·headDim]</c>.</summary>
    internal static double[] FusedRmsNormRope(
        ReadOnlySpan<double> x, ReadOnlySpan<double> weight, ReadOnlySpan<double> cos, ReadOnlySpan<double> sin,
        int batch, int seq, int hidden, int headDim, double eps)
    {
        var output = new double[(long)batch * seq * hidden];
        int half = headDim / 2;
        for (long row = 0; row < (long)batch * seq; row++)
        {
            var input = x.Slice((int)(row * hidden), hidden);
            double sumOfSquares = 0;
            foreach (double v in input)
                sumOfSquares += v * v;
            double rstd = 1.0 / Math.Sqrt(sumOfSquares / hidden + eps);
            int position = (int)(row % seq);
            for (int column = 0; column < hidden; column++)
            {
                int d = column % headDim;
                int partner = d < half ? column + half : column - half;
                double y = input[column] * rstd * weight[column];
                double rotated = input[partner] * rstd * weight[partner] * (d < half ? -1 : 1);
                output[row * hidden + column] = y * cos[position * headDim + d] + rotated * sin[position * headDim + d];
            }
        }
        return output;
    }

    private static double[] ToDoubles(Tensor tensor) => Array.ConvertAll(tensor.ToFloatArray(), v => (double)v);
}
