namespace TritonOps.Tests;

/// <summary>The device's buffer cache and kernel cache.</summary>
public class DeviceTests
{
    [Test]
    public void FreedBuffers_AreReused_PoisonedAgain_AndReleasable()
    {
        using var device = Device.Cpu(poisonAllocations: true);
        var first = Tensor.FromArray(new float[300], [300], DType.Float32, device); // zeros
        first.Dispose();
        device.CachedBytes.Should().Be(1536, "300 floats round up to 512-byte steps");

        using var second = Tensor.Empty([290], DType.Float32, device);
        device.CachedBytes.Should().Be(0, "a buffer of the same rounded size is reused");
        second.ToFloatArray().Should().OnlyContain(v => float.IsNaN(v), "a reused buffer is poisoned again, not left with old values");

        Tensor.Empty([1000], DType.Float32, device).Dispose();
        device.CachedBytes.Should().BeGreaterThan(0);
        device.ReleaseCachedMemory();
        device.CachedBytes.Should().Be(0);
    }

    /// <summary>Tensor maps live here: one upload per key, the same buffer on later calls, another buffer for another key.</summary>
    [Test]
    public void ConstantBytes_AreMadeOncePerKey()
    {
        using var device = Device.Cpu();
        int made = 0;
        byte[] Make(int key) { made++; return Enumerable.Range(0, 64).Select(i => (byte)(i * key)).ToArray(); }
        ulong first = 0, again = 0, other = 0;

        device.WithConstantBytes(3, Make, address => first = address);
        device.WithConstantBytes(3, Make, address => again = address);
        device.WithConstantBytes(5, Make, address => other = address);

        made.Should().Be(2);
        again.Should().Be(first);
        other.Should().NotBe(first);
    }

    [Test]
    public void ViewsKeepTheBufferAlive_UntilTheLastOneIsDisposed()
    {
        using var device = Device.Cpu();
        var tensor = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [2, 3], DType.Float32, device);
        using var view = tensor.Transpose(0, 1);
        tensor.Dispose();
        device.CachedBytes.Should().Be(0, "the view still holds the buffer");
        using var dense = view.Transpose(0, 1);
        dense.ToFloatArray().Should().Equal(1f, 2f, 3f, 4f, 5f, 6f);
    }
}
