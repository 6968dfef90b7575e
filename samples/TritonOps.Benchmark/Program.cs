using ILGPU.Runtime;
using Device = TritonOps.Device;
using TritonOps;
using TritonOps.Benchmark;

// Usage: TritonOps.Benchmark [--json PATH] [--op NAME [--nth I[,J…]]] [--sweep] [--report DIR [--anchors PATH]]
//        TritonOps.Benchmark --from-json PATH --report DIR [--anchors PATH]
// --sweep: the experiment rows (BenchmarkCases.Sweep) instead of the standing table.
// --report DIR: after the run, DIR/benchmark.md (each row beside its PyTorch anchors: µs, rate, speedup) and
//   DIR/benchmark.png (bar chart, ours vs the anchors per case). --anchors PATH: the JSON written by
//   `python3 scripts/anchors.py --json PATH` on the same GPU (rows are joined on op, shape and dtype).
// --from-json PATH: no run (no GPU needed): the report from a saved --json file, e.g. to render it on a dev machine:
//   dotnet run --project samples/TritonOps.Benchmark -c Release -- --from-json bench.json --anchors anchors.json --report docs
// Needs a CUDA GPU (except --from-json): timings on the CPU accelerator mean nothing.
HashSet<int>? nth = null;
string? jsonPath = null, only = null, reportDir = null, anchorsPath = null, fromJson = null;
bool sweep = false;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--json") jsonPath = args[++i];
    else if (args[i] == "--op") only = args[++i];
    // Only the I-th (from 0) of the cases --op selects (one kernel for ncu), or several: one process, one compile of a
    // kernel they share, one device start (a device call's rows cost ~4 s more each as separate processes).
    else if (args[i] == "--nth") nth = args[++i].Split(',').Select(int.Parse).ToHashSet();
    else if (args[i] == "--sweep") sweep = true;
    else if (args[i] == "--report") reportDir = args[++i];
    else if (args[i] == "--anchors") anchorsPath = args[++i];
    else if (args[i] == "--from-json") fromJson = args[++i];
    else
    {
        Console.Error.WriteLine($"Unknown argument '{args[i]}': see the usage comment in samples/TritonOps.Benchmark/Program.cs.");
        return 2;
    }
}
// Read the anchors first, so a bad path fails before a long run rather than after it.
var anchors = anchorsPath is null ? null : AnchorFile.Load(anchorsPath);
if (fromJson is not null)
{
    if (reportDir is null)
    {
        Console.Error.WriteLine("--from-json needs --report DIR.");
        return 2;
    }
    Report.Write(reportDir, BenchmarkRun.Load(fromJson), anchors);
    Console.WriteLine($"# report: {Path.Combine(reportDir, "benchmark.md")}, {Path.Combine(reportDir, "benchmark.png")}");
    return 0;
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
int selected = 0;
foreach (var c in sweep ? BenchmarkCases.Sweep() : BenchmarkCases.All())
{
    if (only is not null && !c.Op.Contains(only, StringComparison.OrdinalIgnoreCase))
        continue;
    if (nth is not null && !nth.Contains(selected++))
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

var run = new BenchmarkRun(device.Name, DateTime.UtcNow.ToString("O"), copyGbs, results);
if (jsonPath is not null)
    run.Save(jsonPath);
if (reportDir is not null)
{
    Report.Write(reportDir, run, anchors);
    Console.WriteLine($"# report: {Path.Combine(reportDir, "benchmark.md")}, {Path.Combine(reportDir, "benchmark.png")}");
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
