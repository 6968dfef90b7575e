using System.Reflection;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using TritonOps.Cuda;

namespace TritonOps.Tests;

/// <summary>
/// <see cref="ExLauncher"/>'s launcher packs a kernel's arguments as ILGPU's PTX launcher does (views as a pointer and an
/// element count, scalars at their alignment, structs with views mapped field by field): the bytes a
/// <c>cuLaunchKernelEx</c> call would hand the driver, recorded on the CPU from the sm_90 backend's entry point.
/// </summary>
public class ExLauncherTests : PtxBackendFixture
{
    internal struct ArgsWithView
    {
        public ArrayView<float> Values;
        public int Count;
    }

    internal static void Probe(ArrayView<byte> bytes, int n, ulong address, ArgsWithView args)
    {
        if (Group.IdxX < n)
            bytes[Group.IdxX] = (byte)(address + (ulong)args.Count);
    }

    /// <summary>Records what the launcher packed.</summary>
    internal sealed class Recorder
    {
        public byte[] Packed = [];
        public KernelConfig Config;
    }

    internal static unsafe void Record<TArgs>(Recorder target, AcceleratorStream stream, KernelConfig config, ref TArgs arguments, int size)
        where TArgs : struct
    {
        target.Packed = new ReadOnlySpan<byte>(Unsafe.AsPointer(ref arguments), size).ToArray();
        target.Config = config;
    }

    [Test]
    public void Launcher_PacksArguments_AsIlgpusPtxLauncher()
    {
        var kernel = typeof(ExLauncherTests).GetMethod(nameof(Probe), BindingFlags.Static | BindingFlags.NonPublic)!;
        var compiled = _backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(kernel), KernelSpecialization.Empty);
        var recorder = new Recorder();
        var launch = (Action<AcceleratorStream, KernelConfig, ArrayView<byte>, int, ulong, ArgsWithView>)ExLauncher.Create(
            typeof(Action<AcceleratorStream, KernelConfig, ArrayView<byte>, int, ulong, ArgsWithView>), _context, _backend.ArgumentMapper,
            ExLauncher.EntryPointOf(compiled), recorder, typeof(ExLauncherTests).GetMethod(nameof(Record), BindingFlags.Static | BindingFlags.NonPublic)!);

        using var cpu = _context.CreateCPUAccelerator(0);
        using var bytes = cpu.Allocate1D<byte>(40);
        using var values = cpu.Allocate1D<float>(24);
        var config = new KernelConfig(new Index3D(5, 2, 1), new Index3D(128, 1, 1), SharedMemoryConfig.RequestDynamic<byte>(4096));
        launch(null!, config, bytes.View.SubView(3, 30), 7, 0x1234_5678_9ABC_DEF0ul, new ArgsWithView { Values = values.View.SubView(4, 16), Count = -3 });

        byte[] p = recorder.Packed;
        long Int64(int at) => BitConverter.ToInt64(p, at);
        p.Length.Should().Be(56, "view 16 + int 4 (+4 padding) + ulong 8 + the struct (view 16 + int 4 + 4 of its own padding)");
        Int64(0).Should().Be(bytes.NativePtr.ToInt64() + 3, "the view's first element");
        Int64(8).Should().Be(30, "the view's length in elements");
        BitConverter.ToInt32(p, 16).Should().Be(7);
        BitConverter.ToUInt64(p, 24).Should().Be(0x1234_5678_9ABC_DEF0ul);
        Int64(32).Should().Be(values.NativePtr.ToInt64() + 4 * 4);
        Int64(40).Should().Be(16);
        BitConverter.ToInt32(p, 48).Should().Be(-3);
        (recorder.Config.GridDim.X, recorder.Config.SharedMemoryConfig.ArraySize).Should().Be((5, 4096));
    }
}
