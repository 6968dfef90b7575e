using ILGPU.Runtime;

namespace TritonOps.Benchmark;

/// <summary>Median and spread of one case's per-launch GPU times, in microseconds.</summary>
public readonly record struct Stats(double MedianUs, double P10Us, double P90Us, int Runs);

/// <summary>
/// Times work on the device's stream with CUDA events (ILGPU profiling markers): warm-up first,
/// then each run between its own pair of events, all runs queued before one synchronize, so the
/// host's launch cost overlaps the GPU's work instead of being counted.
/// </summary>
public sealed class GpuTimer(Device device)
{
    public Stats Time(Action<int> run, int warmup = 10, int runs = 100)
    {
        AcceleratorStream stream = device.Accelerator.DefaultStream;
        for (int i = 0; i < warmup; i++)
            run(i);
        stream.Synchronize();
        var markers = new (ProfilingMarker Start, ProfilingMarker End)[runs];
        for (int i = 0; i < runs; i++)
        {
            var start = stream.AddProfilingMarker();
            run(warmup + i);
            markers[i] = (start, stream.AddProfilingMarker());
        }
        stream.Synchronize();
        double[] us = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            us[i] = (markers[i].End - markers[i].Start).TotalMicroseconds;
            markers[i].Start.Dispose();
            markers[i].End.Dispose();
        }
        Array.Sort(us);
        return new Stats(us[runs / 2], us[runs / 10], us[runs * 9 / 10], runs);
    }
}
