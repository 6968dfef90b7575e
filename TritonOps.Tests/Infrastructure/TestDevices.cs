namespace TritonOps.Tests.Infrastructure;

/// <summary>One shared device of each kind for the whole run: the CUDA one serves every fixture (each kernel compiles
/// once); the CPU one only the fixtures that ask for it directly (<see cref="OnEveryDevice"/> fixtures make their own).
/// Both poison new buffers, so an element a kernel forgets to write reads back as NaN.</summary>
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

/// <summary>
/// Base of fixtures that run once per accelerator: CPU always, CUDA when present. Each fixture gets a CPU device of
/// its own: ILGPU's CPU accelerator keeps an OS thread for every thread of the largest group it has launched and
/// wakes all of them on every launch, so one 1024-thread launch (the wide RMSNorm rows) made every later 32-thread
/// launch on a shared device ~15× slower (0.8 ms → 13–19 ms, measured with an ILGPU-only probe). The CUDA device
/// stays shared (kernels compile once per run there).
/// </summary>
[TestFixture(DeviceKind.Cpu)]
[TestFixture(DeviceKind.Cuda)]
public abstract class OnEveryDevice(DeviceKind kind)
{
    protected DeviceKind Kind { get; } = kind;

    protected Device Device { get; private set; } = null!;

    private Device? _own;

    /// <summary>A fixture that measures the whole device (buffers in use) takes a CUDA device of its own too.</summary>
    protected virtual bool OwnsCudaDevice => false;

    [OneTimeSetUp]
    public void PickDevice()
    {
        if (Kind == DeviceKind.Cpu)
            Device = _own = Device.Cpu(poisonAllocations: true);
        else if (OwnsCudaDevice)
        {
            TestDevices.Get(Kind); // skipped without a GPU
            Device = _own = Device.Cuda(0, poisonAllocations: true);
        }
        else
            Device = TestDevices.Get(Kind);
    }

    private Device? _wideGroups;

    /// <summary>For tests that launch thread groups wider than ~128: on the CPU accelerator a second device of the
    /// fixture's own, since ILGPU's CPU runtime wakes every thread of the widest group it has launched on each later
    /// launch (RmsNormTests: 224 tests in 48 s with its wide rows on the fixture's device; the other 172 alone take 11 s,
    /// the 52 wide ones 29 s). On a GPU, <see cref="Device"/> itself.</summary>
    protected Device WideGroupDevice => Kind == DeviceKind.Cpu ? _wideGroups ??= Device.Cpu(poisonAllocations: true) : Device;

    [OneTimeTearDown]
    public void ReleaseDevice()
    {
        _own?.Dispose();
        _own = null;
        _wideGroups?.Dispose();
        _wideGroups = null;
    }
}
