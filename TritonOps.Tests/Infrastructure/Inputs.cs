namespace TritonOps.Tests.Infrastructure;

/// <summary>Seeded random inputs.</summary>
public static class Inputs
{
    /// <summary>Standard-normal values times <paramref name="scale"/>.</summary>
    public static float[] Normal(int count, int seed, double scale = 1.0)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>Uniform in [lo, hi).</summary>
    public static float[] Uniform(int count, int seed, double lo, double hi)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = (float)(lo + (hi - lo) * random.NextDouble());
        return values;
    }
}
