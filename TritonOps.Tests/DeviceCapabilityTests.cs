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

    /// <summary>sm_86 and sm_89 lend a block 99 KB, too little for the wide ring (162 KB): a 16-bit Linear past the decode
    /// rows takes the register-staged kernel there (the plan's choice, LinearPlanTests), and its result is the product's.</summary>
    [Test]
    public void Linear_OnASm86Device_RunsOnTensorCores_AndMatchesFloat64Reference()
    {
        using var device = Device.CpuStandingInFor(CudaArchitecture.SM_86);
        using var x = Tensor.FromArray(Inputs.Normal(70 * 64, 5), [70, 64], DType.BFloat16, device);
        using var weight = Tensor.FromArray(Inputs.Normal(24 * 64, 6, 0.125), [24, 64], DType.BFloat16, device);
        device.MaxSharedBytesPerBlock.Should().BeLessThan(LinearPlan.WideSharedBytes);
        using var y = Ops.Linear(x, weight);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, null, null), new Tolerance(1e-4, Math.Pow(2, -8) + 2e-5));
    }
}
