using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Benchmark;

/// <summary>
/// What this harness measures for work with no arithmetic: a device-to-device copy of the bytes an op
/// reads (so it moves what the op moves), or an empty kernel (<paramref name="copyBytes"/> = 0: the
/// per-run cost of a launch between two events). The floor under an op's row of the same size.
/// With <paramref name="kernelCopy"/> the copy is an ILGPU kernel launched like the library's (16 bytes a thread,
/// or <paramref name="perThread"/> 16-byte runs a thread over a grid-stride loop): the floor for a kernel of ours.
/// </summary>
public sealed class FloorCase(long copyBytes, bool kernelCopy = false, int perThread = 1) : IBenchmarkCase
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
        Stats stats;
        string how;
        if (kernelCopy)
        {
            var copy = device.Accelerator.LoadKernel<ArrayView<Vec4U>, ArrayView<Vec4U>, int>(CopyRuns);
            long runs = copyBytes / 16;
            int threads = (int)((runs + perThread - 1) / perThread);
            var config = new KernelConfig((threads + 255) / 256, 256);
            stats = timer.Time(i => copy(stream, config, sources[i % sets].View.BaseView.Cast<Vec4U>(),
                destinations[i % sets].View.BaseView.Cast<Vec4U>(), perThread));
            how = $"ILGPU copy kernel, {perThread} × 16 B a thread,";
        }
        else
        {
            stats = timer.Time(i => sources[i % sets].View.CopyTo(stream, destinations[i % sets].View));
            how = "copy";
        }
        foreach (var buffer in sources.Concat(destinations))
            buffer.Dispose();
        double gbs = 2.0 * copyBytes / (stats.MedianUs * 1e-6) / 1e9;
        return new Result(Op, $"{how} {copyBytes / 1e6:F0} MB → {copyBytes / 1e6:F0} MB", "bytes", stats,
            $"{gbs / 1000:F2} TB/s", $"{100 * gbs / copyGbs:F0} %", "ok");
    }

    /// <summary>Copies 16-byte run i (one a thread), or runs i, i + T, … (T = all threads) four loads at a time, then their stores.</summary>
    private static void CopyRuns(ArrayView<Vec4U> source, ArrayView<Vec4U> destination, int perThread)
    {
        long total = Grid.DimX * (long)Group.DimX, i = Grid.GlobalIndex.X;
        if (perThread == 1)
        {
            if (i < source.Length)
                destination[i] = source[i];
            return;
        }
        // Four loads in flight, then their stores.
        for (long first = i; first < source.Length; first += 4 * total)
        {
            var a = source[first];
            bool hasB = first + total < source.Length, hasC = first + 2 * total < source.Length, hasD = first + 3 * total < source.Length;
            var b = hasB ? source[first + total] : default;
            var c = hasC ? source[first + 2 * total] : default;
            var d = hasD ? source[first + 3 * total] : default;
            destination[first] = a;
            if (hasB) destination[first + total] = b;
            if (hasC) destination[first + 2 * total] = c;
            if (hasD) destination[first + 3 * total] = d;
        }
    }

    private static void Empty(Index1D index, ArrayView<int> sink)
    {
        if (index == 1_000_000)
            sink[0] = 1;
    }
}
