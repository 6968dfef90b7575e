namespace TritonOps;

/// <summary>Parameter initialization shared by the modules.</summary>
internal static class Init
{
    /// <summary>nn.Linear's default for weights and biases: uniform in [−1/√fan_in, 1/√fan_in).</summary>
    public static float[] Linear(Random random, long count, int fanIn)
    {
        double bound = 1.0 / Math.Sqrt(fanIn);
        var values = new float[count];
        for (long i = 0; i < count; i++)
            values[i] = (float)((random.NextDouble() * 2 - 1) * bound);
        return values;
    }
}
