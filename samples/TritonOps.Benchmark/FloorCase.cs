using ILGPU;
using ILGPU.Runtime;

namespace TritonOps.Benchmark;

/// <summary>
/// What this harness measures for work with no arithmetic: a device-to-device copy of the bytes an op
/// reads (so it moves what the op moves), or an empty kernel (<paramref name="copyBytes"/> = 0: the
/// per-run cost of a launch between two events). The floor under an op's row of the same size.
/// </summary>
public sealed class FloorCase(long copyBytes) : IBenchmarkCase
{
    public string Op => "floor";

    public Result Run(Device device, GpuTimer timer, double copyGbs)
    {
        var stream = device.Accelerator.DefaultStream;
        if (copyBytes == 0)
        {
            using var sink = device.Accelerator.Allocate1D<int>(1);
            var empty = device.Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<int>>(Empty);
            var emptyStats = timer.Time(_ => empty(stream, 32, sink.View));
            return new Result(Op, "empty kernel (1 block)", "—", emptyStats, "—", "—", "ok");
        }
        int sets = BenchmarkCases.SetsToDefeatL2(2 * copyBytes);
        var sources = new MemoryBuffer1D<byte, Stride1D.Dense>[sets];
        var destinations = new MemoryBuffer1D<byte, Stride1D.Dense>[sets];
        for (int i = 0; i < sets; i++)
        {
            sources[i] = device.Accelerator.Allocate1D<byte>(copyBytes);
            destinations[i] = device.Accelerator.Allocate1D<byte>(copyBytes);
            sources[i].MemSet(1);
        }
        var stats = timer.Time(i => sources[i % sets].View.CopyTo(stream, destinations[i % sets].View));
        foreach (var buffer in sources.Concat(destinations))
            buffer.Dispose();
        double gbs = 2.0 * copyBytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"copy {copyBytes / 1e6:F0} MB → {copyBytes / 1e6:F0} MB", "bytes", stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", "ok");
    }

    private static void Empty(Index1D index, ArrayView<int> sink)
    {
        if (index == 1_000_000)
            sink[0] = 1;
    }
}
