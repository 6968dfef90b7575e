using System.Text;

namespace TritonOps.Tests.Infrastructure;

public static class Compare
{
    /// <summary>Fails with the count of out-of-tolerance elements and the first few (index,
    /// expected, actual). NaN or ±Inf where the reference is finite always fails.</summary>
    public static void AllClose(float[] actual, double[] expected, Tolerance tolerance, string what = "output") =>
        AllClose(actual, expected, tolerance, null, what);

    /// <summary>As above, with <paramref name="slack"/>[i] added to element i's absolute tolerance (an
    /// error bound that depends on the element, such as a dot product's Σ|aₖ·bₖ|).</summary>
    public static void AllClose(float[] actual, double[] expected, Tolerance tolerance, double[]? slack, string what = "output")
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: element count");
        int bad = 0;
        double worst = 0;
        var first = new StringBuilder();
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            bool ok = double.IsFinite(actual[i]) == double.IsFinite(expected[i])
                && (!double.IsFinite(expected[i]) ? actual[i].Equals((float)expected[i]) : error <= tolerance.Absolute + (slack?[i] ?? 0) + tolerance.Relative * Math.Abs(expected[i]));
            if (ok)
                continue;
            if (bad < 8)
                first.AppendLine($"  [{i}] expected {expected[i]:R}, got {actual[i]:R} (|Δ| {error:E2})");
            bad++;
            if (double.IsFinite(error))
                worst = Math.Max(worst, error);
        }
        if (bad > 0)
            Assert.Fail($"{what}: {bad} of {actual.Length} elements outside {tolerance}; worst |Δ| {worst:E2}; first:\n{first}");
    }
}
