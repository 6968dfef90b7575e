using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Tests;

/// <summary>
/// Dynamic shared memory past the 48 KB static limit (what deeper GEMM pipelines and bigger staged
/// tiles need): the loader's opt-in (<c>cuFuncSetAttribute</c>), the PTX alignment rewrite and
/// <c>cp.async</c> into <c>__dyn_shared_alloca</c>, pinned by a block that stages 96 KB and writes it back reversed.
/// </summary>
public class DynamicSharedMemoryTests(DeviceKind kind) : OnEveryDevice(kind)
{

    private const int Bytes = 96 * 1024;

    /// <summary>Copies <paramref name="runs"/> 16-byte runs of <paramref name="input"/> into dynamic shared
    /// memory by <c>cp.async</c>, then writes run i of the output from run runs − 1 − i of shared memory
    /// (each thread reads runs another thread copied: the barrier is needed).</summary>
    public static void StageAndReverse(ArrayView<byte> input, ArrayView<byte> output, ulong inputAddress, int runs)
    {
        var shared = SharedMemory.GetDynamic<byte>();
        for (int i = Group.IdxX; i < runs; i += Group.DimX)
            PtxAsyncCopy.Copy16ToDynamic(shared, i * 16, input, inputAddress, (long)i * 16, 16);
        PtxAsyncCopy.Commit();
        PtxAsyncCopy.Wait(0);
        Group.Barrier();
        var staged = shared.Cast<Vec4U>();
        for (int i = Group.IdxX; i < runs; i += Group.DimX)
            output.Cast<Vec4U>()[i] = staged[runs - 1 - i];
    }

    [Test]
    public void CpAsyncIntoDynamicSharedMemory_Past48KB_RoundTrips()
    {
        var bytes = new byte[Bytes];
        new Random(81).NextBytes(bytes);
        using var input = Tensor.FromBytes(bytes, [Bytes], DType.Float8E4M3, Device);
        using var output = Tensor.Empty([Bytes], DType.Float8E4M3, Device);
        var kernel = typeof(DynamicSharedMemoryTests).GetMethod(nameof(StageAndReverse))!;

        Device.Launch(kernel, new KernelConfig(new Index1D(1), new Index1D(256), SharedMemoryConfig.RequestDynamic<byte>(Bytes)),
            input.Bytes, output.Bytes, input.DeviceAddress, Bytes / 16);

        byte[] actual = output.ToBytes();
        var expected = new byte[Bytes];
        for (int run = 0; run < Bytes / 16; run++)
            Array.Copy(bytes, (Bytes / 16 - 1 - run) * 16, expected, run * 16, 16);
        actual.Should().Equal(expected);
    }
}
