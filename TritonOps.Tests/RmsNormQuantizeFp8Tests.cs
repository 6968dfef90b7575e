namespace TritonOps.Tests;

/// <summary>Ops.RmsNormQuantizeFp8: RMSNorm and dynamic per-token (or per-group) FP8 quantization in one pass.</summary>
public class RmsNormQuantizeFp8Tests(DeviceKind kind) : OnEveryDevice(kind)
{
    /// <summary>(dtype, shape, granularity, G): per token packed and scalar (hidden not a whole number of 16-byte runs);
    /// per group with a partial last group (bf16, float32's four-element runs); groups the kernel cannot span (hidden
    /// not a whole number of runs, G = 48: the two-op path); many short rows (32-thread blocks) and many four-warp rows, CUDA only.</summary>
    [TestCase(DType.BFloat16, new[] { 2, 3, 1024 }, ScaleGranularity.PerRow, 128)]
    [TestCase(DType.Float16, new[] { 3, 37 }, ScaleGranularity.PerRow, 128)]
    [TestCase(DType.BFloat16, new[] { 5, 1000 }, ScaleGranularity.PerTokenGroup, 128)]
    [TestCase(DType.Float32, new[] { 3, 520 }, ScaleGranularity.PerTokenGroup, 128)]
    [TestCase(DType.Float16, new[] { 4, 100 }, ScaleGranularity.PerTokenGroup, 128)]
    [TestCase(DType.BFloat16, new[] { 2, 192 }, ScaleGranularity.PerTokenGroup, 48)]
    [TestCase(DType.BFloat16, new[] { 9001, 64 }, ScaleGranularity.PerRow, 128)]
    [TestCase(DType.Float16, new[] { 3, 3001, 64 }, ScaleGranularity.PerTokenGroup, 32)]
    // Thousands of four-warp rows (CUDA only): a reduction whose order differs from RmsNorm's by one rounding shows as
    // codes that differ in a few rows, never in the handful above (the H200 benchmark caught one such change, 2026-12-03).
    [TestCase(DType.BFloat16, new[] { 4096, 1024 }, ScaleGranularity.PerRow, 128)]
    [TestCase(DType.BFloat16, new[] { 2048, 1024 }, ScaleGranularity.PerTokenGroup, 128)]
    public void Fused_EqualsRmsNormThenQuantize_AndTheFloat64Reference(DType dtype, int[] shape, ScaleGranularity granularity, int groupSize)
    {
        int hidden = shape[^1], rows = shape.Aggregate(1, (a, b) => a * b) / hidden;
        if (Kind == DeviceKind.Cpu && rows > 1000)
            Assert.Ignore("CUDA only: thousands of 32-thread blocks are slow to emulate (CI time).");
        using var x = Tensor.FromArray(Inputs.Normal(rows * hidden, Inputs.Seed(dtype, rows, hidden), 2.0), shape, dtype, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, hidden, 0.5, 1.5), [hidden], dtype, Device);

        var (data, scale) = Ops.RmsNormQuantizeFp8(x, weight, 1e-6, granularity, groupSize);
        using var _ = data; using var __ = scale;

        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : (hidden + groupSize - 1) / groupSize;
        data.Shape.Should().Equal(shape);
        data.DType.Should().Be(DType.Float8E4M3);
        scale.Shape.Should().Equal(rows, scaleCols);

        // Bit for bit what the two ops give on this device (the same row kernel's sum, rsqrt and rounding).
        using var y = Ops.RmsNorm(x, weight, 1e-6);
        using var y2 = y.Reshape(rows, hidden);
        var (twoOps, twoOpsScale) = Ops.QuantizeFp8(y2, granularity: granularity, groupSize: groupSize);
        using var ___ = twoOps; using var ____ = twoOpsScale;
        data.ToBytes().Should().Equal(twoOps.ToBytes());
        scale.ToFloatArray().Should().Equal(twoOpsScale.ToFloatArray());

        // And the float64 norm rounded into the dtype, then quantized: scales within one rounding of y (2⁻⁸ for
        // bf16), codes equal or one step apart where y itself rounded the other way (a handful at most).
        var (codes, scales) = Reference.RmsNormQuantizeFp8(x, weight, 1e-6, granularity, groupSize);
        Compare.AllClose(scale.ToFloatArray(), scales.Select(v => (double)v).ToArray(), new Tolerance(0, Math.Pow(2, -7)), "scales");
        byte[] actual = data.ToBytes();
        int differ = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            if (actual[i] == codes[i])
                continue;
            differ++;
            Math.Abs((actual[i] & 0x7F) - (codes[i] & 0x7F)).Should().BeLessThanOrEqualTo(1, $"code {i}: 0x{actual[i]:X2} against 0x{codes[i]:X2}");
        }
        differ.Should().BeLessThanOrEqualTo(Math.Max(2, codes.Length / 500));
    }

    [Test]
    public void Errors_AreTypedAndComeBeforeAllocation()
    {
        var device = TestDevices.Cpu;
        using var x = Tensor.Full([2, 64], 1f, DType.BFloat16, device);
        using var weight = Tensor.Full([64], 1f, DType.BFloat16, device);
        using var wrongWeight = Tensor.Full([32], 1f, DType.BFloat16, device);
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.RmsNormQuantizeFp8(x, weight, granularity: ScaleGranularity.Block))
            .Which.ParamName.Should().Be("granularity");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.RmsNormQuantizeFp8(x, weight, granularity: ScaleGranularity.PerTokenGroup, groupSize: -1))
            .Which.ParamName.Should().Be("groupSize");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(device, () => Ops.RmsNormQuantizeFp8(x, wrongWeight)).WithMessage("*'weight'*hidden*64*32*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.RmsNormQuantizeFp8(x, weight, eps: -1)).WithMessage("*'eps'*");
    }
}

/// <summary><see cref="RmsNormQuantizePlan.For"/> without a GPU: the one-kernel form where a row fits a block and the
/// groups span whole warps' lanes, the two ops otherwise.</summary>
public class RmsNormQuantizePlanTests
{
    [Test]
    public void Llama4096_PerTokenAndPerGroup_RunFused()
    {
        var perToken = RmsNormQuantizePlan.For(4096, 2, true, ScaleGranularity.PerRow, 128);
        (perToken.Fused, perToken.Packed, perToken.RowRuns, perToken.GroupLanes, perToken.ScaleCols).Should().Be((true, true, 512, 0, 1));
        perToken.Threads.Should().Be(512 / perToken.RunsPerThread);
        var perGroup = RmsNormQuantizePlan.For(4096, 2, true, ScaleGranularity.PerTokenGroup, 128);
        (perGroup.Fused, perGroup.GroupLanes, perGroup.ScaleCols).Should().Be((true, 16, 32), "a 128-group is 16 runs of eight");
        (perToken.WholeRows, perGroup.WholeRows).Should().Be((true, true), "512 runs fill 128 threads of four: the kernel without padding tests");
        RmsNormQuantizePlan.For(4104, 2, true, ScaleGranularity.PerRow, 128).WholeRows.Should().BeFalse("513 runs leave padding in the last warp");
        RmsNormQuantizePlan.For(1024, 2, true, ScaleGranularity.PerRow, 128).WholeRows.Should().BeTrue("the fixtures' 1024-wide rows: 128 threads of one run");
        RmsNormQuantizePlan.For(64, 2, true, ScaleGranularity.PerRow, 128).WholeRows.Should().BeFalse("and their 64-wide ones: 8 runs in a warp of 32");
    }

    [TestCase(4096, 2, true, 96, false, "12 lanes a group: not a power of two")]
    [TestCase(4096, 2, true, 512, false, "64 lanes: more than a warp")]
    [TestCase(4100, 2, true, 128, false, "hidden not whole runs: scalar runs, 128 lanes a group")]
    [TestCase(4096, 4, true, 128, true, "float32: 32 lanes of four")]
    [TestCase(4096, 2, false, 128, false, "misaligned: scalar runs")]
    public void PerGroup_FusedOnlyWhereTheGroupsSpanALanePowerOfTwo(int hidden, int elementBytes, bool aligned, int groupSize, bool fused, string why) =>
        RmsNormQuantizePlan.For(hidden, elementBytes, aligned, ScaleGranularity.PerTokenGroup, groupSize).Fused.Should().Be(fused, why);

    [Test]
    public void RowsWiderThanABlock_TakeTheTwoOps() =>
        RmsNormQuantizePlan.For(8 * 8 * 1024 * 2, 2, true, ScaleGranularity.PerRow, 128).Fused.Should().BeFalse("16 384 runs: more than 1024 threads of eight");
}
