namespace TritonOps.Tests.Infrastructure;

/// <summary>Seeded random inputs.</summary>
public static class Inputs
{
    /// <summary>A seed fixed by a test case's parameters (FNV-1a of their text). Not HashCode.Combine:
    /// that is salted per process, so every run would draw other inputs.</summary>
    public static int Seed(params object[] parts)
    {
        uint hash = 2166136261;
        foreach (char c in string.Join("|", parts))
            hash = (hash ^ c) * 16777619;
        return (int)(hash & 0x7FFFFFFF);
    }

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
