using ILGPU.Runtime.Cuda;

namespace TritonOps.Tests;

/// <summary>What the library does on GPUs other than the H200, on CPU devices standing in for them
/// (<see cref="Device.CpuStandingInFor"/>: the capability queries answer as that architecture, the kernels run on the CPU
/// accelerator): the FP8 ops' typed refusal before sm_89, and Linear's tensor-core choice on a GPU whose blocks cannot hold
/// the wide ring.</summary>
public class DeviceCapabilityTests
{
    [Test]
    public void Fp8Ops_BeforeSm89_ThrowDevice_BeforeAllocating_AndDequantizeStillRuns()
    {
        using var device = Device.CpuStandingInFor(CudaArchitecture.SM_80);
        using var x = Tensor.FromArray(Inputs.Normal(64, 1), [4, 16], DType.BFloat16, device);
        using var weight = Tensor.FromArray(Inputs.Normal(16, 2), [16], DType.BFloat16, device);
        using var b = Tensor.FromArray(Inputs.Normal(128, 3), [16, 8], DType.BFloat16, device);
        Validation.ThrowsBeforeAllocating<DeviceException>(device, () => Ops.QuantizeFp8(x))
            .WithMessage("*'x'*quantize_fp8*sm_89 or later*sm_80*");
        Validation.ThrowsBeforeAllocating<DeviceException>(device, () => Ops.Fp8Gemm(x, b))
            .WithMessage("*'a'*fp8_gemm*sm_89 or later*sm_80*");
        Validation.ThrowsBeforeAllocating<DeviceException>(device, () => Ops.RmsNormQuantizeFp8(x, weight))
            .WithMessage("*'x'*rms_norm_quantize_fp8*sm_89 or later*");
        Validation.ThrowsBeforeAllocating<DeviceException>(device, () => Ops.GatedActivationQuantizeFp8(x))
            .WithMessage("*'gateUp'*gated_activation_quantize_fp8*sm_89 or later*sm_80*");

        // A checkpoint's E4M3 codes become 16-bit weights on any GPU.
        float[] values = [0.5f, -1.25f, 448f, 0f, 3f, -0.015625f, 2f, 1f];
        using var codes = Tensor.FromArray(values, [1, 8], DType.Float8E4M3, device);
        using var scale = Tensor.FromArray([2f], [1], DType.Float32, device);
        using var dequantized = Ops.DequantizeFp8(codes, scale, DType.BFloat16);
        dequantized.ToFloatArray().Should().Equal(values.Select(v => v * 2).ToArray());
    }

    [Test]
    public void Fp8Ops_OnSm89_Run()
    {
        using var device = Device.CpuStandingInFor(CudaArchitecture.SM_89);
        using var x = Tensor.FromArray(Inputs.Normal(64, 4), [4, 16], DType.BFloat16, device);
        var (data, scale) = Ops.QuantizeFp8(x);
        using var _d = data; using var _s = scale;
        data.DType.Should().Be(DType.Float8E4M3);
    }

    /// <summary>An FP8 checkpoint's layers on a GPU without FP8 arithmetic (an A100 stand-in): <see cref="Fp8Linear.FromQuantized"/>
    /// runs weight-only, the codes times their scales rounded once into x's dtype, then a 16-bit Linear (per-channel scales,
    /// a bias; 128 × 128 block scales with K and N tails); the product is x · dequantized(W)ᵀ + b. A float-weight layer,
    /// which would quantize on the device, raises DeviceException.</summary>
    [TestCase("channel", 5, 72, 40)]
    [TestCase("block", 3, 200, 136)]
    public void Fp8Linear_FromQuantized_OnSm80_RunsWeightOnly_AndMatchesTheDequantizedProduct(string scheme, int m, int inFeatures, int outFeatures)
    {
        using var device = Device.CpuStandingInFor(CudaArchitecture.SM_80);
        int seed = Inputs.Seed(scheme, m, inFeatures, outFeatures);
        using var x = Tensor.FromArray(Inputs.Normal(m * inFeatures, seed), [m, inFeatures], DType.BFloat16, device);
        using var codes = Tensor.FromArray(Inputs.Normal(outFeatures * inFeatures, seed + 1, 64), [outFeatures, inFeatures], DType.Float8E4M3, device);
        int[] scaleShape = scheme == "channel" ? [outFeatures] : [(outFeatures + 127) / 128, (inFeatures + 127) / 128];
        float[] scales = Enumerable.Range(0, scaleShape.Aggregate(1, (a, b) => a * b)).Select(i => 1f / (256 + 37 * i)).ToArray();
        using var scale = Tensor.FromArray(scales, scaleShape, DType.Float32, device);
        using var bias = Tensor.FromArray(Inputs.Normal(outFeatures, seed + 2), [outFeatures], DType.Float32, device);
        using var layer = Fp8Linear.FromQuantized(codes, scale, bias);

        using var y = layer.Forward(x);

        using var dequantized = Ops.DequantizeFp8(codes, scheme == "channel" ? scale.Reshape(outFeatures, 1) : scale, DType.BFloat16);
        using var bias16 = Tensor.FromArray(bias.ToFloatArray(), [outFeatures], DType.BFloat16, device);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, dequantized, bias16, null), new Tolerance(1e-4, Math.Pow(2, -8) + 2e-5));
        using var floatWeight = new Fp8Linear(inFeatures, outFeatures, dtype: DType.BFloat16, device: device);
        FluentActions.Invoking(() => floatWeight.Forward(x)).Should().Throw<DeviceException>()
            .WithMessage("*'x'*Fp8Linear (a float weight, quantized on the device)*sm_89 or later*sm_80*");

        // A new bias reaches the weight-only product (its 16-bit copy is rebuilt).
        float[] newBias = Enumerable.Range(0, outFeatures).Select(i => 0.25f * i).ToArray();
        layer.LoadBias(newBias);
        using var again = layer.Forward(x);
        using var newBias16 = Tensor.FromArray(newBias, [outFeatures], DType.BFloat16, device);
        Compare.AllClose(again.ToFloatArray(), Reference.Linear(x, dequantized, newBias16, null), new Tolerance(1e-4, Math.Pow(2, -8) + 2e-5));
    }

    /// <summary>sm_86 and sm_89 lend a block 99 KB, too little for the wide ring (162 KB): a 16-bit Linear past the decode
    /// rows takes the register-staged kernel there (the plan's choice, LinearPlanTests), and its result is the product's.</summary>
    [Test]
    public void Linear_OnASm86Device_TakesTheRegisterStagedKernel_AndMatchesFloat64Reference()
    {
        using var device = Device.CpuStandingInFor(CudaArchitecture.SM_86);
        using var x = Tensor.FromArray(Inputs.Normal(70 * 64, 5), [70, 64], DType.BFloat16, device);
        using var weight = Tensor.FromArray(Inputs.Normal(24 * 64, 6, 0.125), [24, 64], DType.BFloat16, device);
        LinearPlan.For(70, 24, 64, 2, device.HasWarpgroupMma, device.HasMmaSync, aligned16: true, device.MaxSharedBytesPerBlock, 0, 0).Kernel
            .Should().Be(LinearKernelChoice.RegisterStaged, "the device's answers (no wgmma, mma.sync, 99 KB a block) leave no room for the wide ring");
        using var a100 = Device.CpuStandingInFor(CudaArchitecture.SM_80);
        LinearPlan.For(70, 24, 64, 2, a100.HasWarpgroupMma, a100.HasMmaSync, aligned16: true, a100.MaxSharedBytesPerBlock, 0, 1).Kernel
            .Should().Be(LinearKernelChoice.Wide, "an A100 lends 163 KB a block");
        using var y = Ops.Linear(x, weight);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, null, null), new Tolerance(1e-4, Math.Pow(2, -8) + 2e-5));
    }
}
