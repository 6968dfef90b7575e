// One decoder layer of a Hugging Face checkpoint on TritonOps, every part but attention, each stage against
// transformers' own output (fixtures made by scripts/fixtures/make_decoder_fixtures.py).
//
// Usage: TritonOps.DecoderLayer [FOLDER …] [--cpu] [--fp8 [block|channel]] [--runs N]
//   FOLDER: a fixture folder (config.json, model.safetensors, stages.safetensors), or a folder of them;
//           default TritonOps.Tests/Fixtures/decoder (every family and dtype there).
//   --cpu:  the CPU accelerator even when a GPU is present (what CI runs).
//   --fp8:  quantize a 16-bit checkpoint's seven projections to FP8 on load (E4M3, 128 × 128 block scales by default,
//           or per output channel), and compare against the 16-bit model's stages under the FP8 bar (StageTolerance.Fp8).
//           An FP8 checkpoint (E4M3 weights with weight_scale_inv / weight_scale, e.g. transformers' FineGrainedFP8) runs
//           its FP8 projections without this flag, against stages its own FP8 model made.
//   --runs: timed runs of the layer (default 20 on CUDA, 3 on the CPU accelerator).
// Attention itself is NOT run by TritonOps: the library has no attention op yet. The layer takes transformers'
// attention output (before o_proj) from the fixture, so the stages after it see exactly what the model's did.
// Exit code 0 when every stage of every fixture is within its dtype's bar (StageTolerance), 1 otherwise, 2 when no
// fixture was found.
using System.Diagnostics;
using TritonOps;
using TritonOps.Samples.Decoder;

var folders = new List<string>();
bool cpu = false;
Fp8WeightScheme? quantize = null;
int? runs = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--cpu": cpu = true; break;
        case "--fp8":
            quantize = Fp8WeightScheme.Block;
            if (i + 1 < args.Length && args[i + 1] is "block" or "channel")
                quantize = args[++i] == "block" ? Fp8WeightScheme.Block : Fp8WeightScheme.PerChannel;
            break;
        case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0: runs = n; i++; break;
        default:
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                Console.Error.WriteLine($"Unknown argument '{args[i]}': see the usage comment in samples/TritonOps.DecoderLayer/Program.cs.");
                return 2;
            }
            folders.Add(args[i]);
            break;
    }
}
if (folders.Count == 0)
    folders.Add(DefaultFixtures());
var fixtures = folders.SelectMany(f => DecoderFixture.Exists(f) ? [f] : DecoderFixture.FoldersUnder(f)).ToList();
if (fixtures.Count == 0)
{
    Console.Error.WriteLine($"No decoder fixture under {string.Join(", ", folders.Select(Path.GetFullPath))}: make them on a machine with "
        + "PyTorch and transformers by `python3 scripts/fixtures/make_decoder_fixtures.py --out TritonOps.Tests/Fixtures/decoder`.");
    return 2;
}

using var device = cpu || !Device.IsCudaAvailable ? Device.Cpu() : Device.Cuda();
int timedRuns = runs ?? (device.Kind == DeviceKind.Cuda ? 20 : 3);
Console.WriteLine($"# decoder layer on {device.Name} ({device.Kind}); attention output from the fixture (no attention op in TritonOps yet)");
bool allPassed = true;
foreach (string folder in fixtures)
{
    using var fixture = DecoderFixture.Open(folder);
    DecoderLayer loaded;
    try
    {
        loaded = DecoderLayer.Load(folder, 0, device, quantize: quantize);
    }
    catch (InvalidArgumentException e) when (quantize is not null && e.ParamName == "quantize")
    {
        // A family without an FP8 path here (Phi-3, the Gemmas): --fp8 skips it rather than stopping the run.
        Console.WriteLine($"\n## {Path.GetFileName(folder)}: skipped under --fp8 ({e.Message})");
        continue;
    }
    using var layer = loaded;
    // Quantized here, against a 16-bit model's stages: the FP8 bar; an FP8 checkpoint against its own FP8 model: the
    // FP8 checkpoint bar; 16-bit layers: the dtype's.
    var tolerance = StageTolerance.For(layer);
    var errors = fixture.Check(layer, tolerance);
    bool passed = errors.All(e => e.Passed);
    allPassed &= passed;

    // The layer's time: Forward on the fixture's input (restored before each run: the stream is updated in place).
    using var input = fixture.Load("input", device);
    using var positions = fixture.Load("positions", device);
    using var attn = fixture.Load("attn_output", device);
    using var hidden = input.Clone();
    var times = new double[timedRuns];
    layer.Forward(hidden, positions, (_, _, _) => attn);   // warm-up: kernels compile and load
    device.Synchronize();
    for (int r = 0; r < timedRuns; r++)
    {
        using var fresh = input.Clone();
        device.Synchronize();
        var clock = Stopwatch.StartNew();
        layer.Forward(fresh, positions, (_, _, _) => attn);
        device.Synchronize();
        times[r] = clock.Elapsed.TotalMicroseconds;
    }
    Array.Sort(times);

    Console.WriteLine();
    string projections = layer.Fp8Scheme is { } scheme ? $", FP8 projections ({scheme}{(layer.QuantizedOnLoad ? ", quantized on load" : ", from the checkpoint")})" : "";
    Console.WriteLine($"## {Path.GetFileName(folder)}: {layer.Config.ModelType} ({layer.Family}), {DTypes.Name(layer.DType)}{projections}, input [{string.Join(", ", input.Shape)}], "
        + $"transformers {fixture.Meta("transformers") ?? "?"}, torch {fixture.Meta("torch") ?? "?"}");
    Console.WriteLine($"bar: {tolerance}");
    Console.WriteLine("| stage | elements | rms (transformers) | max |Δ| | max |Δ| / rms | ‖Δ‖₂ / ‖ref‖₂ | outside the bar |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
    foreach (var e in errors)
        Console.WriteLine($"| {e.Stage} | {e.Elements} | {e.Rms:G4} | {e.MaxAbsError:E2} | {e.MaxOverRms:E2} | {e.RelativeRmsError:E2} | {(e.Passed ? "0" : $"**{e.Outside}**: {e.Worst}")} |");
    Console.WriteLine($"layer time (host wall clock, all but attention, {timedRuns} runs): median {times[timedRuns / 2]:F1} µs, "
        + $"min {times[0]:F1} µs — {(passed ? "every stage within the bar" : "FAILED")}");
}
Console.WriteLine();
Console.WriteLine(allPassed ? $"# all {fixtures.Count} fixtures within their bars" : "# FAILED: some stage is outside its bar");
return allPassed ? 0 : 1;

// TritonOps.Tests/Fixtures/decoder from the repository root, found by walking up from the working directory
// or from the program's own folder (dotnet run from anywhere in the repository).
static string DefaultFixtures()
{
    foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "TritonOps.Tests", "Fixtures", "decoder");
            if (Directory.Exists(candidate))
                return candidate;
        }
    return Path.Combine("TritonOps.Tests", "Fixtures", "decoder");
}
