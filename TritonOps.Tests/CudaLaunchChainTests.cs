namespace TritonOps.Tests;

/// <summary>
/// Decode-sized ops issued back to back on one stream, as a decoder layer issues them. On Hopper each kernel may start
/// before the one whose output it reads has ended (programmatic dependent launch: every such kernel waits at entry),
/// and the q/k/v-sized product's K splits meet in a thread-block cluster. Many rounds with no synchronization between
/// the ops must give the bytes of one round whose ops ran one at a time on an idle device: an early read, a late write
/// or a meeting that runs ahead shows up as different bits (every op here is deterministic). Each op is checked
/// against float64 in its own fixture; this checks their ordering. CUDA only (the CPU accelerator runs a launch at a time).
/// </summary>
public class CudaLaunchChainTests
{
    private const int Rows = 64, Hidden = 4096, Qkv = 6144, Rounds = 40;

    [Test]
    public void DecodeChain_IssuedBackToBack_GivesTheBitsOfOneOpAtATime()
    {
        var device = TestDevices.Get(DeviceKind.Cuda);
        if (!device.HasWarpgroupMma)
            Assert.Ignore("Programmatic dependent launch and clusters run on Hopper only.");
        var random = new Random(29);
        float[] Values(int count, double center, double spread)
        {
            var values = new float[count];
            for (int i = 0; i < count; i++)
                values[i] = (float)(center + (random.NextDouble() * 2 - 1) * spread);
            return values;
        }
        using var x = Tensor.FromArray(Values(Rows * Hidden, 0, 1), [Rows, Hidden], DType.BFloat16, device);
        using var normWeight = Tensor.FromArray(Values(Hidden, 1, 0.5), [Hidden], DType.BFloat16, device);
        using var qkvWeight = Tensor.FromArray(Values(Qkv * Hidden, 0, 1 / Math.Sqrt(Hidden)), [Qkv, Hidden], DType.BFloat16, device);
        using var outWeight = Tensor.FromArray(Values(Hidden * Qkv, 0, 1 / Math.Sqrt(Qkv)), [Hidden, Qkv], DType.BFloat16, device);
        using var normed = Tensor.Empty([Rows, Hidden], DType.BFloat16, device);
        using var projected = Tensor.Empty([Rows, Qkv], DType.BFloat16, device);
        using var summed = Tensor.Empty([Rows, Hidden], DType.BFloat16, device);

        // norm → q/k/v-sized product (48 one-box tiles × 2 splits: a cluster meeting) → back to hidden with the residual
        // (32 tiles × 4 splits: the workspace meeting where 32 clusters of 4 do not fit at once, as on the H100) → norm: each op reads what the one before it wrote, and
        // the next round's first op overwrites what this round's second op read.
        void Round(Tensor final, bool oneAtATime)
        {
            Ops.RmsNorm(x, normWeight, output: normed);
            if (oneAtATime) device.Synchronize();
            Ops.Linear(normed, qkvWeight, output: projected);
            if (oneAtATime) device.Synchronize();
            Ops.Linear(projected, outWeight, residual: x, output: summed);
            if (oneAtATime) device.Synchronize();
            Ops.RmsNorm(summed, normWeight, output: final);
            if (oneAtATime) device.Synchronize();
        }

        using var expected = Tensor.Full([Rows, Hidden], float.NaN, DType.BFloat16, device);
        long meetings = Interlocked.Read(ref device.ClusterMeetings);
        Round(expected, oneAtATime: true);
        (Interlocked.Read(ref device.ClusterMeetings) - meetings).Should().BeGreaterThanOrEqualTo(1,
            "the q/k/v-sized product's splits meet in clusters (the other product's too where 32 clusters of 4 fit)");
        byte[] want = expected.ToBytes();
        expected.ToFloatArray().Should().OnlyContain(v => float.IsFinite(v) && Math.Abs(v) < 64, "normed rows of O(1) values");

        var finals = Enumerable.Range(0, Rounds).Select(_ => Tensor.Full([Rows, Hidden], float.NaN, DType.BFloat16, device)).ToArray();
        try
        {
            foreach (var final in finals)
                Round(final, oneAtATime: false);
            for (int round = 0; round < Rounds; round++)
                finals[round].ToBytes().Should().Equal(want, $"round {round} of {Rounds} issued back to back");
        }
        finally
        {
            foreach (var final in finals)
                final.Dispose();
        }
    }
}
