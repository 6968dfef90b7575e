using System.Reflection;

namespace TritonOps.Tests;

/// <summary>
/// The error contract, checked for every public op at once: each op is described once by a valid call built
/// from named tensor arguments; the tests then break one argument at a time (disposed, on another device, of
/// an integer dtype) and assert the typed exception and that no device allocated anything. A reflection test
/// fails when an op is added to <see cref="Ops"/> without a description here. Empty dimensions must give the
/// defined result (an empty output, or zeros for a sum over nothing), not an error.
/// </summary>
public class ErrorContractTests
{
    /// <summary>One public op: a valid set of named tensors and the call that takes them.</summary>
    public sealed record OpCase(string Op, string Variant, Func<Device, Dictionary<string, Tensor>> Make, Func<Dictionary<string, Tensor>, object> Call)
    {
        public override string ToString() => $"{Op}{(Variant.Length > 0 ? " " + Variant : "")}";
    }

    private static Tensor F(Device d, DType dtype, params int[] shape) =>
        Tensor.FromArray(Inputs.Uniform(shape.Aggregate(1, (a, b) => a * b), Inputs.Seed(shape.Length, dtype), -1, 1), shape, dtype, d);

    /// <summary>The transposed view of <paramref name="stored"/>, which is released (the view keeps the buffer).</summary>
    private static Tensor TransposedView(Tensor stored)
    {
        using (stored)
            return stored.Transpose(0, 1);
    }

    private static Tensor Ones(Device d, params int[] shape) => Tensor.Full(shape, 1f, DType.Float32, d);

    /// <summary>Every public op, with every optional tensor argument given so that each is checked too.</summary>
    public static IEnumerable<OpCase> Cases()
    {
        yield return new("FusedRmsNormRope", "", d => new()
        {
            ["x"] = F(d, DType.BFloat16, 2, 3, 16), ["weight"] = F(d, DType.BFloat16, 16),
            ["cos"] = F(d, DType.BFloat16, 3, 8), ["sin"] = F(d, DType.BFloat16, 3, 8), ["output"] = F(d, DType.BFloat16, 2, 3, 16),
        }, t => Ops.FusedRmsNormRope(t["x"], t["weight"], t["cos"], t["sin"], output: t["output"]));
        yield return new("FusedRmsNormRope", "positions", d => new()
        {
            ["x"] = F(d, DType.BFloat16, 2, 3, 16), ["weight"] = F(d, DType.BFloat16, 8),
            ["cos"] = F(d, DType.Float32, 9, 4), ["sin"] = F(d, DType.Float32, 9, 4),
            ["positions"] = Tensor.FromArray(new[] { 0f, 8f, 3f, 1f, 2f, 7f }, [2, 3], DType.Int64, d), ["output"] = F(d, DType.BFloat16, 2, 3, 16),
        }, t => Ops.FusedRmsNormRope(t["x"], t["weight"], t["cos"], t["sin"], t["positions"], 8, scope: NormScope.PerHead, rotaryDim: 4, output: t["output"]));
        yield return new("FusedQkNormRope", "", d => new()
        {
            ["q"] = F(d, DType.Float16, 2, 3, 16), ["k"] = F(d, DType.Float16, 2, 3, 8), ["qWeight"] = F(d, DType.Float16, 8), ["kWeight"] = F(d, DType.Float16, 8),
            ["cos"] = F(d, DType.Float32, 9, 8), ["sin"] = F(d, DType.Float32, 9, 8),
            ["positions"] = Tensor.FromArray(new[] { 4f, 8f, 3f }, [3], DType.Int32, d),
            ["qOutput"] = F(d, DType.Float16, 2, 3, 16), ["kOutput"] = F(d, DType.Float16, 2, 3, 8),
        }, t => Ops.FusedQkNormRope(t["q"], t["k"], t["qWeight"], t["kWeight"], t["cos"], t["sin"], t["positions"], 8, qOutput: t["qOutput"], kOutput: t["kOutput"]));
        yield return new("Rope", "", d => new()
        {
            ["q"] = F(d, DType.Float32, 1, 3, 16), ["k"] = F(d, DType.Float32, 1, 3, 8),
            ["cos"] = F(d, DType.Float32, 9, 8), ["sin"] = F(d, DType.Float32, 9, 8),
            ["positions"] = Tensor.FromArray(new[] { 4f, 8f, 3f }, [1, 3], DType.Int64, d),
        }, t => Ops.Rope(t["q"], t["k"], t["cos"], t["sin"], t["positions"], 8));
        yield return new("Linear", "", d => new()
        {
            ["x"] = F(d, DType.BFloat16, 2, 3, 16), ["weight"] = F(d, DType.BFloat16, 24, 16), ["bias"] = F(d, DType.BFloat16, 24),
            ["residual"] = F(d, DType.BFloat16, 2, 3, 24), ["output"] = F(d, DType.BFloat16, 2, 3, 24),
        }, t => Ops.Linear(t["x"], t["weight"], t["bias"], t["residual"], t["output"]));
        yield return new("RmsNorm", "", d => new()
        {
            ["x"] = F(d, DType.BFloat16, 2, 3, 16), ["weight"] = F(d, DType.BFloat16, 16), ["output"] = F(d, DType.BFloat16, 2, 3, 16),
        }, t => Ops.RmsNorm(t["x"], t["weight"], output: t["output"]));
        yield return new("FusedAddRmsNorm", "", d => new()
        {
            ["x"] = F(d, DType.Float16, 3, 24), ["residual"] = F(d, DType.Float16, 3, 24), ["weight"] = F(d, DType.Float16, 24),
            ["output"] = F(d, DType.Float16, 3, 24),
        }, t => Ops.FusedAddRmsNorm(t["x"], t["residual"], t["weight"], weightOffset: 1, output: t["output"]));
        yield return new("FusedGatedMlp", "enum", d => new()
        {
            ["x"] = F(d, DType.Float16, 1, 3, 16), ["gateWeight"] = F(d, DType.Float16, 8, 16), ["upWeight"] = F(d, DType.Float16, 8, 16),
            ["output"] = F(d, DType.Float16, 1, 3, 8),
        }, t => Ops.FusedGatedMlp(t["x"], t["gateWeight"], t["upWeight"], Activation.Gelu, t["output"]));
        yield return new("FusedGatedMlp", "name", d => new()
        {
            ["x"] = F(d, DType.Float32, 1, 3, 16), ["gateWeight"] = F(d, DType.Float32, 8, 16), ["upWeight"] = F(d, DType.Float32, 8, 16),
        }, t => Ops.FusedGatedMlp(t["x"], t["gateWeight"], t["upWeight"], "silu"));
        yield return new("GatedActivation", "", d => new()
        {
            ["gate"] = F(d, DType.BFloat16, 2, 3, 16), ["up"] = F(d, DType.BFloat16, 2, 3, 16), ["output"] = F(d, DType.BFloat16, 2, 3, 16),
        }, t => Ops.GatedActivation(t["gate"], t["up"], Activation.Silu, t["output"]));
        yield return new("GatedActivation", "merged", d => new() { ["gateUp"] = F(d, DType.Float16, 3, 24), ["output"] = F(d, DType.Float16, 3, 12) },
            t => Ops.GatedActivation(t["gateUp"], Activation.GeluTanh, t["output"]));
        yield return new("GatedActivationQuantizeFp8", "", d => new() { ["gate"] = F(d, DType.BFloat16, 2, 3, 16), ["up"] = F(d, DType.BFloat16, 2, 3, 16) },
            t => Ops.GatedActivationQuantizeFp8(t["gate"], t["up"], Activation.Silu, ActivationRounding.PerOp, ScaleGranularity.PerTokenGroup, 16));
        yield return new("RmsNormQuantizeFp8", "", d => new() { ["x"] = F(d, DType.BFloat16, 2, 3, 256), ["weight"] = F(d, DType.BFloat16, 256) },
            t => Ops.RmsNormQuantizeFp8(t["x"], t["weight"], granularity: ScaleGranularity.PerTokenGroup));
        yield return new("Fp8Gemm", "block scales", d => new()
        {
            // b: the transposed view of an [N, K] weight's codes (block scales need b K-contiguous).
            ["a"] = F(d, DType.Float8E4M3, 5, 200), ["b"] = TransposedView(F(d, DType.Float8E4M3, 24, 200)), ["aScale"] = Ones(d, 5, 2), ["bScale"] = Ones(d, 2, 1),
        }, t => Ops.Fp8Gemm(t["a"], t["b"], t["aScale"], t["bScale"], DType.BFloat16));
        yield return new("QuantizeFp8", "", d => new() { ["x"] = F(d, DType.BFloat16, 4, 16), ["scale"] = Ones(d, 4, 1) },
            t => Ops.QuantizeFp8(t["x"], t["scale"], granularity: ScaleGranularity.PerRow));
        yield return new("DequantizeFp8", "", d => new() { ["q"] = F(d, DType.Float8E4M3, 4, 16), ["scale"] = Ones(d, 1, 16) },
            t => Ops.DequantizeFp8(t["q"], t["scale"], DType.BFloat16));
        yield return new("Fp8Gemm", "", d => new()
        {
            ["a"] = F(d, DType.BFloat16, 5, 32), ["b"] = F(d, DType.BFloat16, 32, 24), ["aScale"] = Ones(d, 1), ["bScale"] = Ones(d, 1),
            ["bias"] = F(d, DType.Float32, 24),
        }, t => Ops.Fp8Gemm(t["a"], t["b"], t["aScale"], t["bScale"], DType.BFloat16, t["bias"]));
    }

    private static IEnumerable<TestCaseData> Arguments() =>
        Cases().SelectMany(c => c.Make(Cpu).Keys.Select(name => new TestCaseData(c, name).SetArgDisplayNames(c.ToString(), name)));

    // A CPU device of its own, kept small (OnEveryDevice explains why a device that ran wide groups is slow).
    private static readonly Lazy<Device> s_cpu = new(() => Device.Cpu(poisonAllocations: true));
    private static Device Cpu => s_cpu.Value;

    /// <summary>A second CPU device for the wrong-device cases (made once: a device costs about half a second).</summary>
    private static readonly Lazy<Device> s_other = new(() => Device.Cpu());

    [Test]
    public void EveryPublicOp_HasACase()
    {
        string[] described = Cases().Select(c => c.Op).Distinct().ToArray();
        var ops = typeof(Ops).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetParameters().Any(p => p.ParameterType == typeof(Tensor)))
            .Select(m => m.Name).Distinct();
        ops.Should().BeSubsetOf(described, "each public op taking tensors needs its valid call in ErrorContractTests.Cases()");
    }

    [TestCaseSource(nameof(Arguments))]
    public void DisposedTensor_ThrowsTensorDisposed_BeforeAllocating(OpCase op, string argument)
    {
        var tensors = op.Make(Cpu);
        try
        {
            tensors[argument].Dispose();
            long before = Cpu.AllocationCount;
            FluentActions.Invoking(() => op.Call(tensors)).Should().Throw<TensorDisposedException>().WithMessage($"*'{argument}'*disposed*");
            Cpu.AllocationCount.Should().Be(before, "validation happens before allocation");
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [TestCaseSource(nameof(Arguments))]
    public void TensorOnAnotherDevice_ThrowsDevice_BeforeAllocating(OpCase op, string argument)
    {
        var other = s_other.Value;
        var tensors = op.Make(Cpu);
        try
        {
            var moved = tensors[argument];
            tensors[argument] = Tensor.FromBytes(moved.ToBytes(), moved.Shape.ToArray(), moved.DType, other);
            moved.Dispose();
            long before = Cpu.AllocationCount, beforeOther = other.AllocationCount;
            FluentActions.Invoking(() => op.Call(tensors)).Should().Throw<DeviceException>().WithMessage("*expected a tensor on*got one on*")
                .Which.Message.Should().Contain(Cpu.ToString()).And.Contain(other.ToString());
            Cpu.AllocationCount.Should().Be(before);
            other.AllocationCount.Should().Be(beforeOther);
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [TestCaseSource(nameof(Arguments))]
    public void WrongKindOfDtype_ThrowsUnsupportedDtype_BeforeAllocating(OpCase op, string argument)
    {
        var tensors = op.Make(Cpu);
        try
        {
            var original = tensors[argument];
            // Integer tensors where floats belong; a float where integers (positions) belong.
            tensors[argument] = Tensor.Empty(original.Shape.ToArray(), DTypes.IsInteger(original.DType) ? DType.Float32 : DType.Int32, Cpu);
            original.Dispose();
            long before = Cpu.AllocationCount;
            FluentActions.Invoking(() => op.Call(tensors)).Should().Throw<UnsupportedDtypeException>().WithMessage("*int32*");
            Cpu.AllocationCount.Should().Be(before);
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [Test]
    public void DisposedDevice_ThrowsDevice_ForEveryOp()
    {
        // One device for every case: creating a CPU accelerator costs about half a second on CI.
        var other = Device.Cpu();
        var made = Cases().Select(op => (op, tensors: op.Make(other))).ToList();
        other.Dispose();
        foreach (var (op, tensors) in made)
        {
            FluentActions.Invoking(() => op.Call(tensors)).Should().Throw<DeviceException>($"{op}").WithMessage("*disposed*");
            DisposeAll(tensors);
        }
    }

    [Test]
    public void TwoCpuDevices_HaveDistinctNames()
    {
        using var a = Device.Cpu();
        using var b = Device.Cpu();
        a.ToString().Should().NotBe(b.ToString());
        a.Id.Should().NotBe(b.Id);
    }

    [Test]
    public void DisposedTensorsInOpCalls_LeakNothing()
    {
        using var device = Device.Cpu();
        using var x = Tensor.Full([1, 2, 8], 1f, DType.Float32, device);
        using var w = Tensor.Full([8], 1f, DType.Float32, device);
        var c = Tensor.Full([2, 4], 1f, DType.Float32, device);
        c.Dispose();
        long before = device.AllocationCount;
        for (int i = 0; i < 100; i++)
            FluentActions.Invoking(() => Ops.FusedRmsNormRope(x, w, c, c)).Should().Throw<TensorDisposedException>();
        device.AllocationCount.Should().Be(before, "no call allocated an output it then dropped");
    }

    // ---- empty dimensions: the defined result ----

    [TestCase(0, 3, 16)]
    [TestCase(2, 0, 16)]
    [TestCase(2, 3, 0)]
    public void FusedRmsNormRope_EmptyDimension_ReturnsEmptyOutput(int batch, int seq, int hidden)
    {
        using var x = F(Cpu, DType.Float32, batch, seq, hidden);
        using var w = F(Cpu, DType.Float32, hidden);
        using var c = F(Cpu, DType.Float32, seq, 8);
        using var y = Ops.FusedRmsNormRope(x, w, c, c);
        y.Shape.Should().Equal(batch, seq, hidden);
    }

    [TestCase(0, 16, 8, DType.BFloat16)]
    [TestCase(3, 16, 0, DType.BFloat16)]
    [TestCase(3, 0, 8, DType.BFloat16)]
    [TestCase(3, 0, 8, DType.Float32)]
    public void FusedGatedMlp_EmptyDimension_ReturnsTheDefinedResult(int m, int hidden, int intermediate, DType dtype)
    {
        using var x = F(Cpu, dtype, 1, m, hidden);
        using var w = F(Cpu, dtype, intermediate, hidden);
        using var y = Ops.FusedGatedMlp(x, w, w, Activation.Silu);
        y.Shape.Should().Equal(1, m, intermediate);
        y.ToFloatArray().Should().Equal(new float[m * intermediate], "act(0) · 0 = 0 for a sum over nothing");
    }

    [TestCase(0, 16, 8, false)]
    [TestCase(5, 16, 0, false)]
    [TestCase(5, 0, 8, false)]
    [TestCase(5, 0, 8, true)]
    public void Fp8Gemm_EmptyDimension_ReturnsTheDefinedResult(int m, int k, int n, bool withBias)
    {
        using var a = F(Cpu, DType.BFloat16, m, k);
        using var b = F(Cpu, DType.BFloat16, k, n);
        using var bias = withBias ? F(Cpu, DType.Float32, n) : null;
        using var y = Ops.Fp8Gemm(a, b, outputDtype: DType.BFloat16, bias: bias);
        y.Shape.Should().Equal(m, n);
        float[] expected = new float[m * n];
        if (bias is not null)
        {
            float[] row = bias.ToFloatArray();
            for (int i = 0; i < expected.Length; i++)
                expected[i] = DTypes.Round(row[i % n], DType.BFloat16);
        }
        y.ToFloatArray().Should().Equal(expected);
    }

    [Test]
    public void QuantizeAndDequantize_EmptyTensor_ReturnEmpty()
    {
        using var x = F(Cpu, DType.BFloat16, 0, 16);
        var (q, scale) = Ops.QuantizeFp8(x);
        using var _q = q; using var _s = scale;
        q.Shape.Should().Equal(0, 16);
        scale.ToFloatArray().Should().Equal(1f);
        using var back = Ops.DequantizeFp8(q, scale);
        back.Shape.Should().Equal(0, 16);
    }

    /// <summary>Every public op called with no tokens (and, where it has one, an empty inner size): the defined result,
    /// never an error. <see cref="EveryPublicOp_HasAnEmptyCase"/> keeps this list complete.</summary>
    private static IEnumerable<(string Op, Func<Device, Tensor[]> Call)> EmptyCalls()
    {
        Tensor Table(Device d) => F(d, DType.Float32, 9, 8);
        Tensor NoPositions(Device d, int rank) => Tensor.Empty(rank == 2 ? [2, 0] : [0], DType.Int64, d);
        yield return ("FusedRmsNormRope", d => [Ops.FusedRmsNormRope(F(d, DType.BFloat16, 2, 0, 16), F(d, DType.BFloat16, 8), Table(d), Table(d),
            NoPositions(d, 2), 8, scope: NormScope.PerHead)]);
        yield return ("FusedQkNormRope", d =>
        {
            var (q, k) = Ops.FusedQkNormRope(F(d, DType.Float16, 0, 1, 16), F(d, DType.Float16, 0, 1, 8), F(d, DType.Float16, 8), F(d, DType.Float16, 8),
                Table(d), Table(d), Tensor.FromArray(new[] { 3f }, [1], DType.Int32, d), 8);
            return [q, k];
        });
        yield return ("Rope", d =>
        {
            var (q, k) = Ops.Rope(F(d, DType.Float32, 2, 0, 16), F(d, DType.Float32, 2, 0, 8), Table(d), Table(d), NoPositions(d, 2), 8);
            return [q, k];
        });
        yield return ("Linear", d => [Ops.Linear(F(d, DType.BFloat16, 0, 16), F(d, DType.BFloat16, 24, 16))]);
        yield return ("RmsNorm", d => [Ops.RmsNorm(F(d, DType.BFloat16, 0, 16), F(d, DType.BFloat16, 16))]);
        yield return ("FusedAddRmsNorm", d => [Ops.FusedAddRmsNorm(F(d, DType.Float16, 0, 24), F(d, DType.Float16, 0, 24), F(d, DType.Float16, 24))]);
        yield return ("FusedGatedMlp", d => [Ops.FusedGatedMlp(F(d, DType.Float16, 1, 0, 16), F(d, DType.Float16, 8, 16), F(d, DType.Float16, 8, 16), Activation.Silu)]);
        yield return ("GatedActivation", d => [Ops.GatedActivation(F(d, DType.BFloat16, 0, 16), F(d, DType.BFloat16, 0, 16)),
            Ops.GatedActivation(F(d, DType.Float32, 2, 0, 16))]);
        yield return ("QuantizeFp8", d =>
        {
            var (q, scale) = Ops.QuantizeFp8(F(d, DType.BFloat16, 0, 16), granularity: ScaleGranularity.PerRow);
            return [q, scale];
        });
        yield return ("GatedActivationQuantizeFp8", d =>
        {
            var (q, scale) = Ops.GatedActivationQuantizeFp8(F(d, DType.BFloat16, 0, 32));
            return [q, scale];
        });
        yield return ("RmsNormQuantizeFp8", d =>
        {
            var (q, scale) = Ops.RmsNormQuantizeFp8(F(d, DType.BFloat16, 0, 256), F(d, DType.BFloat16, 256), granularity: ScaleGranularity.PerTokenGroup);
            return [q, scale];
        });
        yield return ("DequantizeFp8", d => [Ops.DequantizeFp8(Tensor.Empty([0, 16], DType.Float8E4M3, d), Ones(d, 1))]);
        yield return ("Fp8Gemm", d => [Ops.Fp8Gemm(F(d, DType.BFloat16, 0, 32), F(d, DType.BFloat16, 32, 24), outputDtype: DType.BFloat16)]);
    }

    [Test]
    public void EveryPublicOp_HasAnEmptyCase() =>
        EmptyCalls().Select(c => c.Op).Should().BeEquivalentTo(Cases().Select(c => c.Op).Distinct());

    private static IEnumerable<TestCaseData> EmptyCallCases() =>
        EmptyCalls().Select(c => new TestCaseData(c.Call).SetArgDisplayNames(c.Op));

    [TestCaseSource(nameof(EmptyCallCases))]
    public void NoTokens_GiveEmptyOutputs_NotAnError(Func<Device, Tensor[]> call)
    {
        Tensor[] outputs = call(Cpu);
        try
        {
            // Quantize's per-row scales are [0, 1]; every output has no elements except a per-tensor scale.
            outputs.Should().OnlyContain(t => t.ElementCount == 0 || t.ElementCount == 1);
            outputs[0].ElementCount.Should().Be(0);
        }
        finally
        {
            foreach (var t in outputs)
                t.Dispose();
        }
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values)
            t.Dispose();
    }
}
