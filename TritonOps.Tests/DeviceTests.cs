using ILGPU;
using ILGPU.Runtime;

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

    /// <summary>The launch layer checks a launch's argument types against the kernel's parameters before it makes the
    /// launcher: an int where the kernel takes a long would otherwise reach the kernel as other bytes.</summary>
    [Test]
    public void Launch_WithAnArgumentOfAnotherType_Throws_AndTheRightTypesRun()
    {
        using var device = Device.Cpu();
        using var output = Tensor.Empty([2, 3], DType.Float32, device);
        using var bias = Tensor.FromArray(new float[] { 1.5f, -2f, 0.25f }, [3], DType.Float32, device);
        var kernel = Kernels.Common.FillRowsKernel.Variant(typeof(Kernels.Elements.Float32Element));
        var config = new KernelConfig(1, 32);
        FluentActions.Invoking(() => device.Launch(kernel, config, output.Bytes, bias.Bytes.Cast<float>(), 3, 6, 1)) // count: int, not long
            .Should().Throw<InvalidOperationException>().WithMessage("*FillRowsKernel.Run*Int32, Int32, Int32*it takes*Int32, Int64, Int32*");
        device.Launch(kernel, config, output.Bytes, bias.Bytes.Cast<float>(), 3, 6L, 1);
        output.ToFloatArray().Should().Equal(1.5f, -2f, 0.25f, 1.5f, -2f, 0.25f);
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
