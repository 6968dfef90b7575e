namespace TritonOps.Tests;

/// <summary>Ops.GatedActivationQuantizeFp8: act(gate) ⊙ up quantized to FP8 per token (and group) in one pass.</summary>
public class GatedActivationQuantizeFp8Tests(DeviceKind kind) : OnEveryDevice(kind)
{
    /// <summary>(dtype, codes' shape, merged [.., 2d] or two tensors, activation, rounding, granularity, G, one kernel?):
    /// groups with a partial last one (200 = 128 + 72), float32's two packs a run, rows of more than one block's 1024
    /// runs (8200 = 1025 runs), G = 32; and the two-op forms: d not a multiple of 8, G = 48 (six lanes), per token.</summary>
    [TestCase(DType.BFloat16, new[] { 3, 256 }, true, Activation.Silu, ActivationRounding.PerOp, ScaleGranularity.PerTokenGroup, 128, true)]
    [TestCase(DType.BFloat16, new[] { 2, 3, 200 }, false, Activation.GeluTanh, ActivationRounding.Once, ScaleGranularity.PerTokenGroup, 128, true)]
    [TestCase(DType.Float16, new[] { 5, 96 }, true, Activation.Gelu, ActivationRounding.PerOp, ScaleGranularity.PerTokenGroup, 32, true)]
    [TestCase(DType.Float32, new[] { 4, 136 }, false, Activation.Silu, ActivationRounding.Once, ScaleGranularity.PerTokenGroup, 64, true)]
    [TestCase(DType.BFloat16, new[] { 2, 8200 }, false, Activation.Silu, ActivationRounding.PerOp, ScaleGranularity.PerTokenGroup, 128, true)]
    [TestCase(DType.BFloat16, new[] { 3, 44 }, true, Activation.Silu, ActivationRounding.PerOp, ScaleGranularity.PerTokenGroup, 128, false)]
    [TestCase(DType.Float16, new[] { 2, 192 }, false, Activation.Silu, ActivationRounding.Once, ScaleGranularity.PerTokenGroup, 48, false)]
    [TestCase(DType.BFloat16, new[] { 2, 3, 64 }, true, Activation.Silu, ActivationRounding.PerOp, ScaleGranularity.PerRow, 128, false)]
    public void EqualsGatedActivationThenQuantize_AndTheFloat64Product(DType dtype, int[] shape, bool merged, Activation activation,
        ActivationRounding rounding, ScaleGranularity granularity, int groupSize, bool oneKernel)
    {
        if (Kind == DeviceKind.Cpu && dtype == DType.Float16)
            Assert.Ignore("CUDA only (CI time): the float16 element's conversions are the gated activation's and the quantize's, tested on the CPU there.");
        int d = shape[^1], rows = shape.Aggregate(1, (a, b) => a * b) / d;
        int seed = Inputs.Seed("gated-quantize", dtype, string.Join(",", shape), merged, activation, rounding, groupSize);
        int[] inputShape = shape.ToArray();
        if (merged)
            inputShape[^1] *= 2;
        using var gate = Tensor.FromArray(Inputs.Normal(rows * inputShape[^1], seed, 3.0), inputShape, dtype, Device);
        using var up = Tensor.FromArray(Inputs.Normal(rows * d, seed + 1, 2.0), shape, dtype, Device);
        GatedActivationQuantizePlan.For(rows, d, DTypes.SizeOf(dtype), true, granularity, groupSize).Fused.Should().Be(oneKernel);

        var (data, scale) = merged
            ? Ops.GatedActivationQuantizeFp8(gate, activation, rounding, granularity, groupSize)
            : Ops.GatedActivationQuantizeFp8(gate, up, activation, rounding, granularity, groupSize);
        using var _ = data; using var __ = scale;

        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : (d + groupSize - 1) / groupSize;
        data.Shape.Should().Equal(shape);
        data.DType.Should().Be(DType.Float8E4M3);
        scale.Shape.Should().Equal(rows, scaleCols);

        // Bit for bit what the two ops give on this device.
        using var product = merged ? Ops.GatedActivation(gate, activation, rounding: rounding) : Ops.GatedActivation(gate, up, activation, rounding: rounding);
        using var flat = product.Reshape(rows, d);
        var (twoOps, twoOpsScale) = Ops.QuantizeFp8(flat, granularity: granularity, groupSize: groupSize);
        using var ___ = twoOps; using var ____ = twoOpsScale;
        data.ToBytes().Should().Equal(twoOps.ToBytes());
        scale.ToFloatArray().Should().Equal(twoOpsScale.ToFloatArray());

        // And q · scale against the float64 product: the 16-bit rounding(s) of the product, then half an E4M3 step
        // (2⁻⁴ relative; 2⁻¹⁰ · scale among the subnormals).
        double[] expected = merged ? Reference.GatedActivation(gate, activation) : Reference.GatedActivation(gate, up, activation);
        using var codes = data.Reshape(rows, d);
        using var dequantized = Ops.DequantizeFp8(codes, scale, DType.Float32, groupSize);
        float[] s = scale.ToFloatArray();
        double[] slack = Enumerable.Range(0, rows * d).Select(i => s[i / d * scaleCols + i % d / (granularity == ScaleGranularity.PerRow ? d : groupSize)] * Math.Pow(2, -10)).ToArray();
        Compare.AllClose(dequantized.ToFloatArray(), expected, new Tolerance(1e-6, Math.Pow(2, -4) + Math.Pow(2, -6)), slack, "q · scale");
    }

    /// <summary>A view that does not start on 16 bytes takes the two ops (the kernel's 16-byte loads would read the wrong
    /// bytes), with the same result as an aligned copy.</summary>
    [Test]
    public void MisalignedInput_TakesTheTwoOps_WithTheSameCodes()
    {
        const int rows = 3, d = 128;
        using var storage = Tensor.FromArray(Inputs.Normal(1 + rows * 2 * d, 71, 3.0), [1 + rows * 2 * d], DType.BFloat16, Device);
        using var gateUp = storage.Narrow(0, 1, rows * 2 * d).Reshape(rows, 2 * d);
        using var aligned = Tensor.FromArray(gateUp.ToFloatArray(), [rows, 2 * d], DType.BFloat16, Device);
        var (data, scale) = Ops.GatedActivationQuantizeFp8(gateUp, rounding: ActivationRounding.PerOp);
        var (alignedData, alignedScale) = Ops.GatedActivationQuantizeFp8(aligned, rounding: ActivationRounding.PerOp);
        using var _ = data; using var __ = scale; using var ___ = alignedData; using var ____ = alignedScale;
        data.ToBytes().Should().Equal(alignedData.ToBytes());
        scale.ToFloatArray().Should().Equal(alignedScale.ToFloatArray());
    }

    [Test]
    public void EmptyInputs_GiveEmptyCodes_AndUnitScales()
    {
        using var gateUp = Tensor.Empty([0, 64], DType.BFloat16, Device);
        var (data, scale) = Ops.GatedActivationQuantizeFp8(gateUp);
        using var _ = data; using var __ = scale;
        data.Shape.Should().Equal(0, 32);
        scale.Shape.Should().Equal(0, 1);
    }

    [Test]
    public void Errors_AreTypedAndComeBeforeAllocation()
    {
        var device = TestDevices.Cpu;
        using var gateUp = Tensor.Full([2, 64], 1f, DType.BFloat16, device);
        using var odd = Tensor.Full([2, 63], 1f, DType.BFloat16, device);
        using var up = Tensor.Full([2, 32], 1f, DType.BFloat16, device);
        using var halfUp = Tensor.Full([2, 32], 1f, DType.Float16, device);
        using var ints = Tensor.Full([2, 64], 1f, DType.Int32, device);
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.GatedActivationQuantizeFp8(gateUp, granularity: ScaleGranularity.Block))
            .Which.ParamName.Should().Be("granularity");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.GatedActivationQuantizeFp8(gateUp, groupSize: 0))
            .Which.ParamName.Should().Be("groupSize");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.GatedActivationQuantizeFp8(gateUp, (Activation)7))
            .Which.ParamName.Should().Be("activation");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(device, () => Ops.GatedActivationQuantizeFp8(gateUp, rounding: (ActivationRounding)5))
            .Which.ParamName.Should().Be("rounding");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(device, () => Ops.GatedActivationQuantizeFp8(odd)).WithMessage("*'gateUp'*even*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(device, () => Ops.GatedActivationQuantizeFp8(gateUp, up)).WithMessage("*'up'*[2, 64]*[2, 32]*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(device, () => Ops.GatedActivationQuantizeFp8(up, halfUp)).WithMessage("*'up'*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(device, () => Ops.GatedActivationQuantizeFp8(ints)).WithMessage("*'gateUp'*");
    }
}

/// <summary><see cref="GatedActivationQuantizePlan.For"/> without a GPU: one kernel exactly where the vectorized group
/// quantize would take the product.</summary>
public class GatedActivationQuantizePlanTests
{
    [Test]
    public void Llama8B_DownProjectionInput_RunsFused()
    {
        var plan = GatedActivationQuantizePlan.For(4096, 14336, 2, true, ScaleGranularity.PerTokenGroup, 128);
        (plan.Fused, plan.ScaleCols, plan.Quantize.GroupLanes, plan.Quantize.GridX, plan.Quantize.GridY).Should().Be((true, 112, 16, 4096, 2),
            "1792 runs of eight a row: two blocks of 1024");
    }

    [TestCase(14336, 2, true, ScaleGranularity.PerRow, 128, false, "per token: the two ops")]
    [TestCase(14340, 2, true, ScaleGranularity.PerTokenGroup, 128, false, "d not whole runs of eight")]
    [TestCase(14336, 2, false, ScaleGranularity.PerTokenGroup, 128, false, "misaligned")]
    [TestCase(14336, 2, true, ScaleGranularity.PerTokenGroup, 512, false, "64 lanes: more than a warp")]
    [TestCase(14336, 4, true, ScaleGranularity.PerTokenGroup, 256, true, "float32: 32 lanes of eight")]
    public void OneKernel_OnlyWhereTheGroupKernelTakesIt(int d, int elementBytes, bool aligned, ScaleGranularity granularity, int groupSize, bool fused, string why) =>
        GatedActivationQuantizePlan.For(8, d, elementBytes, aligned, granularity, groupSize).Fused.Should().Be(fused, why);
}
