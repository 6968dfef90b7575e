namespace TritonOps.Tests.Infrastructure;

/// <summary>One shared device of each kind for the whole run, so each kernel compiles once per
/// device. Both poison new buffers, so an element a kernel forgets to write reads back as NaN.</summary>
public static class TestDevices
{
    private static readonly Lazy<Device> s_cpu = new(() => Device.Cpu(poisonAllocations: true));
    private static readonly Lazy<Device?> s_cuda = new(() => Device.IsCudaAvailable ? Device.Cuda(0, poisonAllocations: true) : null);

    public static Device Cpu => s_cpu.Value;

    /// <summary>The device of <paramref name="kind"/>; a missing GPU marks the test skipped, never passed.</summary>
    public static Device Get(DeviceKind kind)
    {
        if (kind == DeviceKind.Cpu)
            return Cpu;
        return s_cuda.Value ?? throw new IgnoreException("No CUDA GPU on this machine: CUDA tests skipped.");
    }
}

/// <summary>Base of fixtures that run once per accelerator: CPU always, CUDA when present.</summary>
[TestFixture(DeviceKind.Cpu)]
[TestFixture(DeviceKind.Cuda)]
public abstract class OnEveryDevice(DeviceKind kind)
{
    protected DeviceKind Kind { get; } = kind;

    protected Device Device { get; private set; } = null!;

    [OneTimeSetUp]
    public void PickDevice() => Device = TestDevices.Get(Kind);
}
