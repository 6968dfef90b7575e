namespace TritonOps.Tests;

/// <summary>gated_activation (act(gate) ⊙ up, and the merged [..., 2d] form) against the float64 reference, its plan,
/// and its error contract, on every device.</summary>
public class GatedActivationTests(DeviceKind kind) : OnEveryDevice(kind)
{
    private static readonly DType[] FloatTypes = [DType.Float32, DType.Float16, DType.BFloat16];

    /// <summary>gate's shape, each picked for what it exercises (runs: 8 elements of 16-bit, 4 of float32, when packed).</summary>
    private static readonly (int[] Shape, string Why)[] Shapes =
    [
        ([7], "rank 1, odd: scalar path"),
        ([3, 16], "packed, one block a row"),
        ([2, 3, 44], "rank 3; float32 packed (11 runs), 16-bit scalar"),
        ([2, 2056], "packed rows of 257 (16-bit) or 514 (float32) runs: blocks past the first in x"),
        ([3, 301], "scalar rows of 301 runs: two blocks in x"),
        ([0, 8], "no rows"),
        ([3, 0], "d = 0"),
    ];

    private static IEnumerable<TestCaseData> Cases() =>
        from dtype in FloatTypes
        from s in Shapes
        // Every activation on the packed and scalar multi-block rows; silu (the common one) everywhere.
        from activation in s.Shape.Length == 2 && s.Shape[1] > 300 ? Enum.GetValues<Activation>() : [Activation.Silu]
        select new TestCaseData(dtype, s.Shape, activation)
            .SetArgDisplayNames(DTypes.Name(dtype), $"[{string.Join(",", s.Shape)}]", activation.ToString());

    private static int Count(int[] shape) => shape.Aggregate(1, (a, b) => a * b);

    private Tensor Input(int[] shape, DType dtype, int seed, double scale = 3.0) =>
        Tensor.FromArray(Inputs.Normal(Count(shape), seed, scale), shape, dtype, Device);

    [TestCaseSource(nameof(Cases))]
    public void GatedActivation_MatchesFloat64Reference(DType dtype, int[] shape, Activation activation)
    {
        int seed = Inputs.Seed("gated-activation", dtype, string.Join(",", shape), activation);
        using var gate = Input(shape, dtype, seed);
        using var up = Input(shape, dtype, seed + 1, 2.0);
        byte[] gateBefore = gate.ToBytes(), upBefore = up.ToBytes();

        using var output = Ops.GatedActivation(gate, up, activation);

        output.Shape.Should().Equal(shape);
        output.DType.Should().Be(dtype);
        Compare.AllClose(output.ToFloatArray(), Reference.GatedActivation(gate, up, activation), Tolerance.OneRoundingInto(dtype));
        gate.ToBytes().Should().Equal(gateBefore, "gate is only read");
        up.ToBytes().Should().Equal(upBefore, "up is only read");
    }

    [TestCaseSource(nameof(Cases))]
    public void MergedGateUp_MatchesFloat64Reference(DType dtype, int[] shape, Activation activation)
    {
        int[] merged = shape.ToArray();
        merged[^1] *= 2;
        int seed = Inputs.Seed("gated-activation-merged", dtype, string.Join(",", shape), activation);
        using var gateUp = Input(merged, dtype, seed);

        using var output = Ops.GatedActivation(gateUp, activation);

        output.Shape.Should().Equal(shape);
        Compare.AllClose(output.ToFloatArray(), Reference.GatedActivation(gateUp, activation), Tolerance.OneRoundingInto(dtype));
    }

    /// <summary><see cref="ActivationRounding.PerOp"/> is PyTorch eager's <c>act(gate) * up</c> in the dtype: the
    /// activation as the one-rounding form gives it with up = 1 (the same kernel's act, rounded once), times up, rounded
    /// (two 16-bit values multiply exactly in float32): bit for bit, packed and scalar, two tensors and merged.</summary>
    [TestCase(DType.BFloat16, new[] { 3, 64 }, Activation.Silu)]
    [TestCase(DType.Float16, new[] { 5, 13 }, Activation.GeluTanh)]
    [TestCase(DType.BFloat16, new[] { 2, 2, 40 }, Activation.Gelu)]
    [TestCase(DType.Float32, new[] { 3, 64 }, Activation.Silu)]
    public void PerOpRounding_IsTheRoundedActivationTimesUp_BitForBit(DType dtype, int[] shape, Activation activation)
    {
        using var gate = Input(shape, dtype, 31);
        using var up = Input(shape, dtype, 32, 2.0);
        using var ones = Tensor.Full(shape, 1f, dtype, Device);
        using var activated = Ops.GatedActivation(gate, ones, activation);
        float[] u = up.ToFloatArray();
        float[] expected = activated.ToFloatArray().Select((a, i) => DTypes.Round(a * u[i], dtype)).ToArray();

        using var y = Ops.GatedActivation(gate, up, activation, rounding: ActivationRounding.PerOp);
        y.ToFloatArray().Should().Equal(expected, "round(round(act(gate)) · up)");
        // By a config's hidden_act name, the rounding passed through.
        string name = activation switch { Activation.Silu => "silu", Activation.Gelu => "gelu", _ => "gelu_pytorch_tanh" };
        using var byName = Ops.GatedActivation(gate, up, name, rounding: ActivationRounding.PerOp);
        byName.ToFloatArray().Should().Equal(expected, name);
        if (dtype != DType.Float32)
        {
            using var once = Ops.GatedActivation(gate, up, activation);
            once.ToFloatArray().Should().NotEqual(expected, "one rounding differs from two somewhere in a hundred values");
        }

        int d = shape[^1], rows = Count(shape) / d;
        float[] g = gate.ToFloatArray(), merged = new float[2 * g.Length];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(g, r * d, merged, 2 * r * d, d);
            Array.Copy(u, r * d, merged, (2 * r + 1) * d, d);
        }
        int[] mergedShape = shape.ToArray();
        mergedShape[^1] = 2 * d;
        using var gateUp = Tensor.FromArray(merged, mergedShape, dtype, Device);
        using var z = Ops.GatedActivation(gateUp, activation, rounding: ActivationRounding.PerOp);
        z.ToFloatArray().Should().Equal(expected, "the merged [..., 2d] form rounds the same way");
        FluentActions.Invoking(() => Ops.GatedActivation(gate, up, activation, rounding: (ActivationRounding)5))
            .Should().Throw<InvalidArgumentException>().WithMessage("*rounding*");
    }

    [Test]
    public void MergedGateUp_IsTheTwoTensorFormBitForBit()
    {
        const int rows = 3, d = 40;
        float[] gate = Inputs.Normal(rows * d, 5, 3.0), up = Inputs.Normal(rows * d, 6, 2.0);
        var merged = new float[rows * 2 * d];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(gate, r * d, merged, r * 2 * d, d);
            Array.Copy(up, r * d, merged, r * 2 * d + d, d);
        }
        foreach (var dtype in FloatTypes)
        {
            using var g = Tensor.FromArray(gate, [rows, d], dtype, Device);
            using var u = Tensor.FromArray(up, [rows, d], dtype, Device);
            using var m = Tensor.FromArray(merged, [rows, 2 * d], dtype, Device);
            using var apart = Ops.GatedActivation(g, u, Activation.GeluTanh);
            using var together = Ops.GatedActivation(m, Activation.GeluTanh);
            together.ToBytes().Should().Equal(apart.ToBytes(), DTypes.Name(dtype));
        }
    }

    [Test]
    public void InPlaceIntoGate_AndOffTheSixteenByteGrid_MatchReference()
    {
        const int rows = 4, d = 64;
        using var gate = Input([rows, d], DType.BFloat16, 11);
        using var up = Input([rows, d], DType.BFloat16, 12);
        double[] expected = Reference.GatedActivation(gate, up);
        Ops.GatedActivation(gate, up, output: gate).Should().BeSameAs(gate);
        Compare.AllClose(gate.ToFloatArray(), expected, Tolerance.OneRoundingInto(DType.BFloat16), "in place into gate");

        // An output that starts one element past a 16-byte boundary takes the scalar path.
        using var outputBuffer = Tensor.Empty([rows * d + 1], DType.BFloat16, Device);
        using var flat = outputBuffer.Narrow(0, 1, rows * d);
        using var output = flat.Reshape(rows, d);
        (output.DeviceAddress % 16).Should().NotBe(0);
        using var gate2 = Input([rows, d], DType.BFloat16, 13);
        Ops.GatedActivation(gate2, up, Activation.Gelu, output).Should().BeSameAs(output);
        Compare.AllClose(output.ToFloatArray(), Reference.GatedActivation(gate2, up, Activation.Gelu), Tolerance.OneRoundingInto(DType.BFloat16), "scalar path");
    }

    [Test]
    public void MoreRowsThanGridY_WalkedByTheStride()
    {
        if (Kind == DeviceKind.Cpu)
            Assert.Ignore("70 001 rows are 65 535 blocks of 256 simulated threads on the CPU accelerator; the plan test covers the grid there.");
        const int rows = 70_001, d = 8;
        using var gate = Input([rows, d], DType.BFloat16, 21);
        using var up = Input([rows, d], DType.BFloat16, 22);
        using var output = Ops.GatedActivation(gate, up);
        Compare.AllClose(output.ToFloatArray(), Reference.GatedActivation(gate, up), Tolerance.OneRoundingInto(DType.BFloat16));
    }

    [Test]
    public void Plan_PacksOnlyWholeAlignedRuns_AndCapsGridY()
    {
        var plan = GatedActivationPlan.For(rows: 70_001, cols: 2056, elementBytes: 2, aligned16: true, fused: false);
        plan.Packed.Should().BeTrue();
        plan.Shape.RowRuns.Should().Be(257);
        plan.BlocksX.Should().Be(2);
        plan.BlocksY.Should().Be(65_535);
        GatedActivationPlan.For(3, 2056, 2, aligned16: false, fused: false).Packed.Should().BeFalse();
        GatedActivationPlan.For(3, 12, 2, aligned16: true, fused: false).Packed.Should().BeFalse("12 is not whole 8-element packs");
        var merged = GatedActivationPlan.For(3, 16, 4, aligned16: true, fused: true);
        merged.Shape.Should().Be(new Kernels.GatedActivation.GatedActivationShape { Rows = 3, RowRuns = 4, GateRowRuns = 8, UpRowRuns = 8, UpColumnRun = 4 });
    }

    [Test]
    public void BadArguments_ThrowBeforeAllocating()
    {
        using var gate = Input([2, 8], DType.BFloat16, 1);
        using var up16 = Input([2, 8], DType.Float16, 2);
        using var upShort = Input([2, 7], DType.BFloat16, 3);
        using var odd = Input([2, 7], DType.BFloat16, 4);
        using var ints = Tensor.FromArray(new int[16], [2, 8], Device);
        using var transposed = Input([8, 2], DType.BFloat16, 5).Transpose(0, 1);
        using var wrongOut = Tensor.Empty([2, 4], DType.BFloat16, Device);

        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => Ops.GatedActivation(gate, up16))
            .WithMessage("*'up'*bfloat16*float16*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.GatedActivation(gate, upShort))
            .WithMessage("*'up'*[2, 8]*[2, 7]*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => Ops.GatedActivation(ints))
            .WithMessage("*'gateUp'*int32*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.GatedActivation(odd))
            .WithMessage("*'gateUp'*even*[2, 7]*");
        Validation.ThrowsBeforeAllocating<NonContiguousTensorException>(Device, () => Ops.GatedActivation(transposed, transposed))
            .WithMessage("*'gate'*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.GatedActivation(gate, gate, output: wrongOut))
            .WithMessage("*'output'*[2, 8]*[2, 4]*");
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => Ops.GatedActivation(gate, gate, (Activation)7))
            .WithMessage("*'activation'*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.GatedActivation(gate, output: gate))
            .WithMessage("*'output'*[2, 4]*[2, 8]*");
    }
}
