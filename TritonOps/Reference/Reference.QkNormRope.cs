namespace TritonOps;

public static partial class Reference
{
    /// <summary>float64 norm + RoPE of one tensor, as
    /// <see cref="Ops.FusedRmsNormRope(Tensor, Tensor?, Tensor, Tensor, Tensor?, int, double, NormScope, RotaryForm, int, float, Tensor?, NormRounding, RopeRounding)"/>
    /// defines it (x <c>[batch, seq, heads · headDim]</c>; a position outside the table gives a NaN row).</summary>
    public static double[] QkNormRope(Tensor x, Tensor? weight, Tensor cos, Tensor sin, Tensor? positions, int headDim,
        double eps = 1e-6, NormScope scope = NormScope.Hidden, RotaryForm form = RotaryForm.RotateHalf, int rotaryDim = 0, float weightOffset = 0)
    {
        int batch = x.Shape[0], seq = x.Shape[1], hidden = x.Rank == 4 ? x.Shape[2] * x.Shape[3] : x.Shape[2]; // [b, s, h, d] too
        rotaryDim = rotaryDim == 0 ? headDim : rotaryDim;
        double[] xs = ToDoubles(x), c = ToDoubles(cos), s = ToDoubles(sin);
        double[]? w = weight is null ? null : ToDoubles(weight);
        double[]? p = positions is null ? null : ToDoubles(positions);
        var table = RopeTableShape.Of(cos, batch, seq, perTokenAllowed: positions is null)
            ?? throw Check.ShapeMismatch(nameof(cos), $"expected a table or per-token rows, got {cos.ShapeText}.");
        int tableRows = table.Rows;
        var output = new double[xs.Length];
        int heads = hidden / headDim, half = rotaryDim / 2;
        for (int row = 0; row < batch * seq; row++)
        {
            long position = p is null ? (table.PerToken ? row : row % seq) : (long)(positions!.Rank == 2 && positions.Shape[0] == batch ? p[row] : p[row % seq]);
            int first = row * hidden;
            if (position < 0 || position >= tableRows)
            {
                Array.Fill(output, double.NaN, first, hidden);
                continue;
            }
            double rowScale = 1;
            if (scope == NormScope.Hidden)
            {
                double sum = 0;
                for (int i = 0; i < hidden; i++)
                    sum += xs[first + i] * xs[first + i];
                rowScale = 1 / Math.Sqrt(sum / hidden + eps);
            }
            for (int h = 0; h < heads; h++)
            {
                int headFirst = first + h * headDim;
                double scale = rowScale;
                if (scope == NormScope.PerHead)
                {
                    double sum = 0;
                    for (int d = 0; d < headDim; d++)
                        sum += xs[headFirst + d] * xs[headFirst + d];
                    scale = 1 / Math.Sqrt(sum / headDim + eps);
                }
                double Y(int d) => scope == NormScope.None ? xs[headFirst + d]
                    : xs[headFirst + d] * scale * (w![scope == NormScope.Hidden ? h * headDim + d : d] + weightOffset);
                for (int d = 0; d < headDim; d++)
                {
                    if (d >= rotaryDim)
                    {
                        output[headFirst + d] = Y(d);
                        continue;
                    }
                    // The rotation's partner of d and its sign: out_d = y_d·cos_d + sign·y_partner·sin_d.
                    int partner = form == RotaryForm.Interleaved ? d ^ 1 : d < half ? d + half : d - half;
                    double sign = form == RotaryForm.Interleaved ? (d % 2 == 0 ? -1 : 1) : (d < half ? -1 : 1);
                    long t = position * rotaryDim + d;
                    output[headFirst + d] = Y(d) * c[t] + sign * Y(partner) * s[t];
                }
            }
        }
        return output;
    }
}
