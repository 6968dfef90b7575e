namespace TritonOps.Benchmark;

/// <summary>A benchmark case of one op at one shape and dtype.</summary>
public interface IBenchmarkCase
{
    string Op { get; }

    Result Run(Device device, GpuTimer timer, double copyGbs);
}

public static class BenchmarkCases
{
    public static IEnumerable<IBenchmarkCase> All()
    {
        yield return new Fp8GemmCase(8192, 8192, 8192, DType.BFloat16);
        yield return new Fp8GemmCase(8192, 8192, 8192, DType.BFloat16, new(BlockM: 128));
        yield return new Fp8GemmCase(4096, 4096, 4096, DType.BFloat16);
        yield return new Fp8GemmCase(16, 14336, 4096, DType.BFloat16);
        yield return new Fp8GemmCase(64, 14336, 4096, DType.BFloat16);   // the decode kernel's largest M elsewhere; wgmma tiles on Hopper
        yield return new Fp8GemmCase(128, 14336, 4096, DType.BFloat16);  // tiled kernel, one M tile
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16);
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, QuantizeSchedule.TwoPass);
        yield return new QuantizeFp8Case(8192, 8192, DType.Float16);
        yield return new QuantizeFp8Case(8192, 8192, DType.Float32);
        yield return new QuantizeFp8Case(4096, 4096, DType.BFloat16);
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(16, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(1, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(64, 4096, 14336, DType.BFloat16);   // decode kernel's largest M
        yield return new FusedGatedMlpCase(128, 4096, 14336, DType.BFloat16);  // tiled kernel, one M tile
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.Float16);
        // The register-staged kernel (any K, pre-sm_80), the wide kernel's ring depth and a non-persistent grid, against the op's choice.
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.RegisterStaged);
        foreach (int stages in new[] { 2, 4 })
            yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.Wide, stages);
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.Wide, blocks: int.MaxValue);
        yield return new FusedGatedMlpCase(1024, 4096, 14336, DType.BFloat16);
        foreach (var dtype in new[] { DType.BFloat16, DType.Float16 })
        {
            yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, dtype);
            yield return new FusedRmsNormRopeCase(1, 8192, 8192, 128, dtype);
            yield return new FusedRmsNormRopeCase(64, 1, 4096, 128, dtype);
        }
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.Float32);
        // The row kernel on the shapes the staged kernel takes, for comparison in the same run.
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, new(RmsNormRopeKernelChoice.Row));
        yield return new FusedRmsNormRopeCase(1, 8192, 8192, 128, DType.BFloat16, new(RmsNormRopeKernelChoice.Row));
        // Twice the rows of the first shape: what a launch's fixed cost (ramp-up, drain) weighs there.
        yield return new FusedRmsNormRopeCase(8, 2048, 4096, 128, DType.BFloat16);
        // The floor under these rows: a launch between two events; copies of x's bytes at the two shapes.
        yield return new FloorCase(0);
        yield return new FloorCase(4L * 2048 * 4096 * 2);
        yield return new FloorCase(8192L * 8192 * 2);
    }

    /// <summary>Experiment rows (<c>--sweep</c>): A/B variants too many for the standing table.</summary>
    public static IEnumerable<IBenchmarkCase> Sweep()
    {
        // The warp-rows RMSNorm kernel around its defaults (1 block/SM, 8 consumer warps, as many slots as fit,
        // a dynamic tail of ~8 rows a block), against the staged kernel in the same run.
        var staged = new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Staged);
        var rows = new RmsNormRopeSchedule(RmsNormRopeKernelChoice.WarpRows);
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, staged);
        foreach (var (perSm, warps, slots) in new[]
        {
            (1, 8, 0), (1, 8, 8), (1, 12, 12), (1, 16, 0), (1, 16, 16), (1, 16, 24), (1, 20, 20), (1, 24, 24),
            (2, 8, 8), (2, 8, 0), (2, 6, 6), (2, 10, 10), (2, 12, 12),
        })
            yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, rows with { BlocksPerSm = perSm, Warps = warps, Slots = slots, TailRounds = -1 });
        foreach (var (batch, seq, hidden) in new[] { (1, 8192, 8192), (8, 2048, 4096) })
        {
            yield return new FusedRmsNormRopeCase(batch, seq, hidden, 128, DType.BFloat16, staged);
            yield return new FusedRmsNormRopeCase(batch, seq, hidden, 128, DType.BFloat16, rows with { Warps = 16, Slots = 16, TailRounds = -1 });
        }
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, staged);
        // The dynamic tail, last: at 8 rows a block it ran ~10× slower (443 µs) and 12 slots hung (23:33 UTC).
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, rows with { Warps = 16, Slots = 16, TailRounds = 1 });
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, rows with { Warps = 16, Slots = 16, TailRounds = 3 });
    }

    /// <summary>Enough distinct input sets that one pass over them is ≥ 3× the 60 MB L2, so each
    /// timed run reads from device memory, not cache.</summary>
    public static int SetsToDefeatL2(long bytesPerRun) => (int)Math.Clamp(3 * 60_000_000 / Math.Max(bytesPerRun, 1) + 1, 2, 512);
}
