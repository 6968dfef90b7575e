namespace TritonOps.Tests;

/// <summary><see cref="Tensor.To"/>: every conversion between float32, float16 and bfloat16 on every device, bit for bit
/// as the host's conversion (widen exactly, round to nearest even), special values and strided sources included.</summary>
public class TensorCastTests(DeviceKind kind) : OnEveryDevice(kind)
{
    /// <summary>Random values across many binades, then the values where conversions go wrong: signed zeros, infinities,
    /// NaN, float16's overflow (65520 rounds to Inf, 65504 is its largest), subnormals of both 16-bit types, and exact
    /// ties at bfloat16's and float16's last bit (1 + 2⁻⁸, 1 + 3·2⁻⁸; 1 + 2⁻¹¹, 1 + 3·2⁻¹¹).</summary>
    private static float[] Values(int seed)
    {
        var random = new Random(seed);
        var values = Enumerable.Range(0, 997).Select(_ => (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-30, 30)))).ToList();
        values.AddRange([0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 65520f, -65504f, 1e-7f, -3e-8f, 6e-5f,
            1e-39f, -1e-40f, 1f + 1f / 256, 1f + 3f / 256, 1f + 1f / 2048, 1f + 3f / 2048, float.MaxValue, -float.Epsilon]);
        return [.. values];
    }

    [TestCase(DType.Float32, DType.BFloat16)]
    [TestCase(DType.Float32, DType.Float16)]
    [TestCase(DType.BFloat16, DType.Float32)]
    [TestCase(DType.Float16, DType.Float32)]
    [TestCase(DType.BFloat16, DType.Float16)]
    [TestCase(DType.Float16, DType.BFloat16)]
    public void To_IsTheHostConversion_BitForBit(DType from, DType to)
    {
        float[] values = Values(7);
        using var source = Tensor.FromArray(values, [values.Length], from, Device);
        float[] held = source.ToFloatArray(); // the source's own values (exactly widened)
        byte[] expected = Tensor.FromArray(held, [held.Length], to, Device).ToBytes();

        using var result = source.To(to);

        result.DType.Should().Be(to);
        result.Shape.Should().Equal(values.Length);
        float[] got = result.ToFloatArray();
        byte[] bytes = result.ToBytes();
        int size = DTypes.SizeOf(to);
        for (int i = 0; i < held.Length; i++)
        {
            if (float.IsNaN(held[i]))
                float.IsNaN(got[i]).Should().BeTrue($"element {i}: NaN stays NaN");
            else
                bytes.AsSpan(i * size, size).ToArray().Should().Equal(expected.AsSpan(i * size, size).ToArray(), $"element {i} ({held[i]:R})");
        }
    }

    /// <summary>One block walking every element (the threads' loop past the grid) gives the bytes of the full grid; an
    /// empty tensor converts to an empty one.</summary>
    [Test]
    public void To_WithFewerBlocksThanElements_WalksThemAll_AndEmptyIsEmpty()
    {
        float[] values = Values(8);
        using var source = Tensor.FromArray(values, [values.Length], DType.Float32, Device);
        using var full = source.To(DType.BFloat16);
        using var walked = source.To(DType.BFloat16, maxBlocks: 1);
        walked.ToBytes().Should().Equal(full.ToBytes());
        using var empty = Tensor.Empty([3, 0], DType.BFloat16, Device);
        using var converted = empty.To(DType.Float32);
        (converted.DType, converted.Shape.ToArray()).Should().BeEquivalentTo((DType.Float32, new[] { 3, 0 }));
    }

    /// <summary>A strided source (a transposed view) converts in row-major order of the view; the same dtype gives a dense
    /// view of the same values; FP8 and integer dtypes are refused before anything is allocated.</summary>
    [Test]
    public void To_OfAStridedView_ConvertsInItsOrder_AndRefusesOtherDtypes()
    {
        float[] values = Inputs.Normal(6 * 5, 11);
        using var dense = Tensor.FromArray(values, [6, 5], DType.BFloat16, Device);
        using var transposed = dense.Transpose(0, 1);
        using var result = transposed.To(DType.Float32);
        result.Shape.Should().Equal(5, 6);
        float[] held = dense.ToFloatArray(), got = result.ToFloatArray();
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 6; c++)
                got[r * 6 + c].Should().Be(held[c * 5 + r]);
        using var same = transposed.To(DType.BFloat16);
        same.IsContiguous.Should().BeTrue();
        same.ToFloatArray().Should().Equal(got);

        using var codes = Tensor.Empty([4], DType.Float8E4M3, Device);
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => codes.To(DType.Float32)).WithMessage("*float8_e4m3fn*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => dense.To(DType.Int32)).WithMessage("*'dtype'*int32*");
    }
}

/// <summary><see cref="Tensor.To(DType)"/>'s lifetime errors: a disposed tensor, and a tensor whose device is disposed.</summary>
public class TensorCastErrorTests
{
    [Test]
    public void To_OfADisposedTensor_OrOnADisposedDevice_RaisesTypedErrors()
    {
        var device = Device.Cpu();
        var disposed = Tensor.FromArray([1f, 2f], [2], DType.Float32, device);
        disposed.Dispose();
        FluentActions.Invoking(() => disposed.To(DType.BFloat16)).Should().Throw<TensorDisposedException>().WithMessage("*disposed*");
        var orphan = Tensor.FromArray([1f, 2f], [2], DType.Float32, device);
        device.Dispose();
        FluentActions.Invoking(() => orphan.To(DType.BFloat16)).Should().Throw<DeviceException>().WithMessage("*disposed*");
    }
}
