using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ScottPlot;

namespace TritonOps.Benchmark;

/// <summary>A whole run as <c>--json</c> writes it (and <c>--from-json</c> reads it back).</summary>
public sealed record BenchmarkRun(
    [property: JsonPropertyName("gpu")] string Gpu,
    [property: JsonPropertyName("date")] string Date,
    [property: JsonPropertyName("copyGBs")] double CopyGBs,
    [property: JsonPropertyName("results")] IReadOnlyList<Result> Results)
{
    private static readonly JsonSerializerOptions s_options = new() { WriteIndented = true, PropertyNameCaseInsensitive = true };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, s_options));

    public static BenchmarkRun Load(string path) =>
        JsonSerializer.Deserialize<BenchmarkRun>(File.ReadAllText(path), s_options)
        ?? throw new InvalidDataException($"{path}: not a benchmark run's JSON");
}

/// <summary>One PyTorch measurement from <c>scripts/anchors.py</c>, keyed like a benchmark row (op, shape, dtype).
/// Role "anchor": the same op done PyTorch's way (the speedup is against the fastest of these); "context": a
/// related measure shown beside it (e.g. the bf16 GEMM of the FP8 GEMM's shape).</summary>
public sealed record Anchor(string Op, string Shape, string DType, string Name, string Role, double Us, double P10, double P90, int Runs, string Rate, bool QueueHeld);

/// <summary><c>scripts/anchors.py --json</c>'s file.</summary>
public sealed record AnchorFile(string Gpu, string Date, string Torch, string? Triton, double CopyGBs, IReadOnlyList<Anchor> Anchors)
{
    public static AnchorFile Load(string path) =>
        JsonSerializer.Deserialize<AnchorFile>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
        ?? throw new InvalidDataException($"{path}: not an anchors JSON");
}

/// <summary>
/// <c>--report DIR</c>: <c>DIR/benchmark.md</c> (our rows beside the PyTorch anchors of the same op, shape and dtype)
/// and <c>DIR/benchmark.png</c> (per case with an anchor, the speed of ours and of each anchor relative to the
/// fastest anchor). Rows without an anchor (A/B variants, floors) are in the table with "—" and not in the chart.
/// </summary>
public static class Report
{
    public static void Write(string directory, BenchmarkRun run, AnchorFile? anchors)
    {
        Directory.CreateDirectory(directory);
        var byRow = (anchors?.Anchors ?? [])
            .GroupBy(a => (a.Op, a.Shape, a.DType))
            .ToDictionary(g => g.Key, g => g.OrderBy(a => a.Us).ToList());
        var rows = run.Results.Select(r => new Row(r, byRow.GetValueOrDefault((r.Op, r.Shape, r.DType)) ?? [])).ToList();
        File.WriteAllText(Path.Combine(directory, "benchmark.md"), Markdown(run, anchors, rows));
        Chart(run, rows.Where(r => r.Best is not null).ToList(), Path.Combine(directory, "benchmark.png"));
    }

    private sealed record Row(Result Ours, List<Anchor> Anchors)
    {
        /// <summary>The fastest anchor proper (role "anchor"): what the speedup is measured against.</summary>
        public Anchor? Best => Anchors.FirstOrDefault(a => a.Role == "anchor");
    }

    private static string Us(double us) => us.ToString(us < 100 ? "F1" : "F0", CultureInfo.InvariantCulture);

    private static string Markdown(BenchmarkRun run, AnchorFile? anchors, List<Row> rows)
    {
        var md = new StringBuilder();
        md.AppendLine("# TritonOps benchmark against PyTorch");
        md.AppendLine();
        md.AppendLine($"Ours: {run.Gpu}, {run.Date}, device copy {run.CopyGBs:F0} GB/s. GPU µs: median of CUDA-event times with the queue held ahead of the GPU (samples/TritonOps.Benchmark).");
        if (anchors is null)
            md.AppendLine("Anchors: none given (`--anchors PATH`, from `scripts/anchors.py --json PATH` on the same GPU).");
        else
        {
            md.AppendLine($"Anchors: {anchors.Gpu}, {anchors.Date}, PyTorch {anchors.Torch}{(anchors.Triton is null ? "" : $", Triton {anchors.Triton}")}, device copy {anchors.CopyGBs:F0} GB/s; the same method (scripts/anchors.py).");
            if (anchors.Gpu != run.Gpu)
                md.AppendLine($"**Warning: the anchors were measured on another GPU ({anchors.Gpu}) than ours ({run.Gpu}).**");
        }
        md.AppendLine("Speedup: the fastest anchor's µs over ours (above 1: ours is faster). Other: further anchors and related measures.");
        md.AppendLine();
        md.AppendLine("| op | shape | dtype | ours µs | ours rate | anchor | anchor µs | anchor rate | speedup | other |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var row in rows)
        {
            var r = row.Ours;
            var best = row.Best;
            string others = string.Join("; ", row.Anchors.Where(a => a != best).Select(a => $"{a.Name}: {Us(a.Us)} µs, {a.Rate}"));
            string speedup = best is null ? "—" : $"{(best.Us / r.Stats.MedianUs).ToString("F2", CultureInfo.InvariantCulture)}×";
            md.AppendLine($"| {r.Op} | {r.Shape} | {r.DType} | {Us(r.Stats.MedianUs)} | {r.Rate} | {best?.Name ?? "—"} | {(best is null ? "—" : Us(best.Us))} | {best?.Rate ?? "—"} | {speedup} | {(others.Length == 0 ? "" : others)} |");
        }
        return md.ToString();
    }

    /// <summary>Horizontal grouped bars, one group per case, top to bottom in the table's order: each bar is a
    /// speed relative to the case's fastest anchor (its µs over the bar's µs; 1 = that anchor), labelled with its µs.
    /// Relative speed rather than µs because the cases span 3 µs to milliseconds.</summary>
    private static void Chart(BenchmarkRun run, List<Row> rows, string path)
    {
        var plot = new Plot();
        var names = new List<string> { "TritonOps" };
        foreach (var a in rows.SelectMany(r => r.Anchors))
            if (!names.Contains(a.Name))
                names.Add(a.Name);
        var palette = new ScottPlot.Palettes.Category10();
        Color ColorOf(string name) => palette.GetColor(names.IndexOf(name));

        const double barSize = 0.8, groupGap = 1.0;
        var bars = new List<Bar>();
        var tickPositions = new List<double>();
        var tickLabels = new List<string>();
        double position = 0;
        foreach (var row in rows)
        {
            double bestUs = row.Best!.Us;
            var entries = new List<(string Name, double Us)> { ("TritonOps", row.Ours.Stats.MedianUs) };
            // Anchors in legend order (not by speed), so each colour keeps its place within the groups.
            entries.AddRange(row.Anchors.OrderBy(a => names.IndexOf(a.Name)).Select(a => (a.Name, a.Us)));
            double first = position;
            foreach (var (name, us) in entries)
            {
                bars.Add(new Bar
                {
                    Position = position,
                    Value = bestUs / us,
                    Size = barSize,
                    FillColor = ColorOf(name),
                    LineWidth = 0,
                    Label = $"{Us(us)} µs",
                });
                position -= 1;
            }
            tickPositions.Add((first + position + 1) / 2);
            tickLabels.Add($"{row.Ours.Op} {row.Ours.Shape} {row.Ours.DType}");
            position -= groupGap;
        }

        var barPlot = plot.Add.Bars(bars);
        barPlot.Horizontal = true;
        barPlot.ValueLabelStyle.FontSize = 11;
        var one = plot.Add.VerticalLine(1);
        one.LinePattern = LinePattern.Dashed;
        one.Color = Colors.Gray;

        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(tickPositions.ToArray(), tickLabels.ToArray());
        plot.Axes.Left.MajorTickStyle.Length = 0;
        plot.Axes.Margins(left: 0, right: 0.15, bottom: 0.01, top: 0.01);
        plot.Title($"TritonOps vs PyTorch — {run.Gpu}");
        plot.XLabel("speed relative to the fastest PyTorch anchor (1 = that anchor; higher is faster)");
        foreach (var name in names)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = name, FillColor = ColorOf(name) });
        plot.ShowLegend(Alignment.LowerRight);

        int height = Math.Max(300, 120 + (int)(Math.Abs(position) * 22));
        if (rows.Count == 0)
            plot.Add.Annotation("no row has an anchor: run scripts/anchors.py and pass --anchors");
        plot.SavePng(path, 1400, height);
    }
}
