using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;

namespace TritonOps.Benchmark;

/// <summary>
/// One case's timings in microseconds. Median/P10/P90: the GPU's time per run, measured between
/// CUDA events while the stream is kept ahead of the GPU (see <see cref="GpuTimer"/>). HostBoundUs:
/// wall time per call when the host issues the calls back to back with nothing queued ahead, i.e.
/// what a caller sees when the op is too small to hide its launch; for large ops the two agree.
/// </summary>
public readonly record struct Stats(double MedianUs, double P10Us, double P90Us, int Runs, double HostBoundUs, bool QueueHeld, int HostBoundCollections = 0, double HostBoundWorstBatchUs = 0);

/// <summary>
/// Times work on the device's stream with CUDA events (ILGPU profiling markers): warm-up first,
/// then each run between its own pair of events, all runs queued before one synchronize. A
/// single-thread spin kernel runs first and holds the GPU until the host has queued every run, so
/// the events measure the GPU, not the host's launch rate (without it a 3 µs kernel is timed at
/// the host's ~6–11 µs per call). The spin lasts twice the host's warm-up time per call times the
/// runs; QueueHeld is false when queuing the timed runs took longer than that.
/// </summary>
public sealed class GpuTimer
{
    private readonly Device _device;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, int> _spin;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _sink;
    private readonly double _nsPerSpin;

    public GpuTimer(Device device)
    {
        _device = device;
        _sink = device.Accelerator.Allocate1D<float>(1);
        _spin = device.Accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int>(Spin);
        var stream = device.Accelerator.DefaultStream;
        _spin(stream, 1, _sink.View, 1000);
        stream.Synchronize();
        var start = stream.AddProfilingMarker();
        _spin(stream, 1, _sink.View, 1_000_000);
        var end = stream.AddProfilingMarker();
        stream.Synchronize();
        _nsPerSpin = Math.Max(0.1, (end - start).TotalMicroseconds * 1000 / 1_000_000);
        start.Dispose();
        end.Dispose();
    }

    /// <summary>A dependent chain of float multiply-adds, one thread: a GPU-side wait of known length.</summary>
    private static void Spin(Index1D index, ArrayView<float> sink, int iterations)
    {
        float v = index;
        for (int i = 0; i < iterations; i++)
            v = v * 0.999f + 0.5f;
        sink[index] = v;
    }

    public Stats Time(Action<int> run, int warmup = 10, int runs = 100)
    {
        AcceleratorStream stream = _device.Accelerator.DefaultStream;
        run(0); // first call: compiles and loads
        stream.Synchronize();
        var clock = Stopwatch.StartNew();
        for (int i = 1; i < warmup; i++)
            run(i);
        double hostUsPerCall = clock.Elapsed.TotalMicroseconds / Math.Max(1, warmup - 1);
        stream.Synchronize();

        // Host-bound: nothing queued ahead; wall time from the first start to the last end event, in five
        // batches: the median batch is reported, the worst one and the garbage collections during them beside
        // it (a collection pauses the host while the GPU idles: a one-off 2 ms/call row was such a pause).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int collectionsBefore = GC.CollectionCount(0);
        const int batches = 5;
        int perBatch = Math.Max(1, runs / batches);
        var batchUs = new double[batches];
        for (int b = 0; b < batches; b++)
        {
            var first = stream.AddProfilingMarker();
            for (int i = 0; i < perBatch; i++)
                run(warmup + b * perBatch + i);
            var last = stream.AddProfilingMarker();
            stream.Synchronize();
            batchUs[b] = (last - first).TotalMicroseconds / perBatch;
            first.Dispose();
            last.Dispose();
        }
        int collections = GC.CollectionCount(0) - collectionsBefore;
        double worstBatch = batchUs.Max();
        Array.Sort(batchUs);
        double hostBound = batchUs[batches / 2];

        // GPU time: hold the GPU while the host queues every run (twice the host's rate, + 1 ms).
        double spinUs = 2 * runs * hostUsPerCall + 1000;
        _spin(stream, 1, _sink.View, (int)Math.Min(int.MaxValue, spinUs * 1000 / _nsPerSpin));
        var markers = new (ProfilingMarker Start, ProfilingMarker End)[runs];
        clock.Restart();
        for (int i = 0; i < runs; i++)
        {
            var start = stream.AddProfilingMarker();
            run(warmup + runs + i);
            markers[i] = (start, stream.AddProfilingMarker());
        }
        bool queueHeld = clock.Elapsed.TotalMicroseconds < spinUs;
        stream.Synchronize();
        double[] us = new double[runs];
        for (int i = 0; i < runs; i++)
            us[i] = (markers[i].End - markers[i].Start).TotalMicroseconds;
        foreach (var (start, end) in markers)
        {
            start.Dispose();
            end.Dispose();
        }
        Array.Sort(us);
        return new Stats(us[runs / 2], us[runs / 10], us[runs * 9 / 10], runs, hostBound, queueHeld, collections, worstBatch);
    }

    /// <summary>
    /// Two variants timed alternately (A, B, A, B, …, each between its own events, all queued behind one spin):
    /// a ratio between them that clocks, power and temperature drifting over a run cannot bias (the FP8 8192³ rows
    /// run near the power limit: measured one after another, the later row read up to 10 % slower). Host-bound
    /// time is <see cref="Time"/>'s for B alone.
    /// </summary>
    public (Stats A, Stats B) TimeInterleaved(Action<int> runA, Action<int> runB, int warmup = 10, int runs = 100)
    {
        Stats hostB = Time(runB, warmup, Math.Max(10, runs / 4));
        AcceleratorStream stream = _device.Accelerator.DefaultStream;
        for (int i = 0; i < warmup; i++)
            runA(i);
        stream.Synchronize();
        double spinUs = 2 * 2 * runs * Math.Max(hostB.HostBoundUs, 1) + 1000;
        _spin(stream, 1, _sink.View, (int)Math.Min(int.MaxValue, spinUs * 1000 / _nsPerSpin));
        var markers = new (ProfilingMarker Start, ProfilingMarker End)[2 * runs];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 2 * runs; i++)
        {
            var start = stream.AddProfilingMarker();
            (i % 2 == 0 ? runA : runB)(warmup + i / 2);
            markers[i] = (start, stream.AddProfilingMarker());
        }
        bool queueHeld = clock.Elapsed.TotalMicroseconds < spinUs;
        stream.Synchronize();
        double[] a = new double[runs], b = new double[runs];
        for (int i = 0; i < 2 * runs; i++)
            (i % 2 == 0 ? a : b)[i / 2] = (markers[i].End - markers[i].Start).TotalMicroseconds;
        foreach (var (start, end) in markers)
        {
            start.Dispose();
            end.Dispose();
        }
        Array.Sort(a);
        Array.Sort(b);
        return (new Stats(a[runs / 2], a[runs / 10], a[runs * 9 / 10], runs, double.NaN, queueHeld),
            new Stats(b[runs / 2], b[runs / 10], b[runs * 9 / 10], runs, hostB.HostBoundUs, queueHeld, hostB.HostBoundCollections, hostB.HostBoundWorstBatchUs));
    }
}
