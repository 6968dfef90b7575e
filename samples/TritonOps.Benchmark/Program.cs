using System.Text.Json;
using ILGPU.Runtime;
using Device = TritonOps.Device;
using TritonOps;
using TritonOps.Benchmark;

// Usage: TritonOps.Benchmark [--json PATH] [--op NAME] [--sweep]
// --sweep: the experiment rows (BenchmarkCases.Sweep) instead of the standing table.
// Needs a CUDA GPU: timings on the CPU accelerator mean nothing.
string? jsonPath = null, only = null;
bool sweep = false;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--json") jsonPath = args[++i];
    else if (args[i] == "--op") only = args[++i];
    else if (args[i] == "--sweep") sweep = true;
}
if (!Device.IsCudaAvailable)
{
    Console.Error.WriteLine("No CUDA GPU found: the benchmark only runs on CUDA.");
    return 2;
}

var device = Device.Default;
var timer = new GpuTimer(device);
double copyGbs = MeasureCopy(device, timer);
Console.WriteLine($"# TritonOps benchmark — {device.Name}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"# device-to-device copy: {copyGbs:F0} GB/s (1 GiB, read + write counted)");

var results = new List<Result>();
foreach (var c in sweep ? BenchmarkCases.Sweep() : BenchmarkCases.All())
{
    if (only is not null && !c.Op.Contains(only, StringComparison.OrdinalIgnoreCase))
        continue;
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var r = c.Run(device, timer, copyGbs);
    results.Add(r);
    // Each row as it lands, so a crash later in the run keeps the rows before it.
    Console.WriteLine($"# {r.Op} {r.Shape} {r.DType}: {r.Stats.MedianUs:F1} µs, {r.Rate}, {r.Check} ({clock.Elapsed.TotalSeconds:F1} s; host-issued {r.Stats.HostBoundUs:F1} µs/call, worst batch {r.Stats.HostBoundWorstBatchUs:F1}, {r.Stats.HostBoundCollections} GCs)");
}

Console.WriteLine();
Console.WriteLine("| op | shape | dtype | GPU µs (median) | p10–p90 µs | rate | % of copy | host-issued µs/call | check |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
foreach (var r in results)
    Console.WriteLine($"| {r.Op} | {r.Shape} | {r.DType} | {r.Stats.MedianUs:F1} | {r.Stats.P10Us:F1}–{r.Stats.P90Us:F1} | {r.Rate} | {r.PercentOfCopy} | {r.Stats.HostBoundUs:F1} | {r.Check}{(r.Stats.QueueHeld ? "" : " (queuing outlasted the spin: GPU time includes host gaps)")} |");

if (jsonPath is not null)
{
    var report = new { gpu = device.Name, date = DateTime.UtcNow.ToString("O"), copyGBs = copyGbs, results };
    File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
}
return results.Any(r => r.Check.StartsWith("FAIL")) ? 1 : 0;

static double MeasureCopy(Device device, GpuTimer timer)
{
    const long bytes = 1L << 30;
    using var source = device.Accelerator.Allocate1D<byte>(bytes);
    using var destination = device.Accelerator.Allocate1D<byte>(bytes);
    source.MemSet(1);
    var stats = timer.Time(_ => source.View.CopyTo(device.Accelerator.DefaultStream, destination.View), warmup: 3, runs: 20);
    return 2.0 * bytes / (stats.MedianUs * 1e-6) / 1e9;
}

/// <summary>One row of the table.</summary>
public sealed record Result(string Op, string Shape, string DType, Stats Stats, string Rate, string PercentOfCopy, string Check);
