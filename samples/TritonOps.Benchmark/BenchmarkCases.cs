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
        // Issue #18's bars: row-wise ≥ 0.95× and blocks ≥ 0.85× the per-tensor 8192³ row above; decode row-wise ≤ 32 µs.
        yield return new Fp8GemmCase(8192, 8192, 8192, DType.BFloat16, scales: Fp8GemmScales.RowWise);
        yield return new Fp8GemmCase(8192, 8192, 8192, DType.BFloat16, scales: Fp8GemmScales.Blocks);
        yield return new Fp8GemmScalesVsPerTensorCase(8192, 8192, 8192, DType.BFloat16, Fp8GemmScales.RowWise);
        yield return new Fp8GemmScalesVsPerTensorCase(8192, 8192, 8192, DType.BFloat16, Fp8GemmScales.Blocks);
        yield return new Fp8GemmCase(16, 14336, 4096, DType.BFloat16, scales: Fp8GemmScales.RowWise);
        yield return new Fp8GemmCase(16, 14336, 4096, DType.BFloat16, scales: Fp8GemmScales.Blocks);
        yield return new Fp8GemmCase(16, 14336, 4096, DType.BFloat16);
        yield return new Fp8GemmCase(64, 14336, 4096, DType.BFloat16);   // the decode kernel's largest M elsewhere; wgmma tiles on Hopper
        yield return new Fp8GemmCase(128, 14336, 4096, DType.BFloat16);  // tiled kernel, one M tile
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16);
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, QuantizeSchedule.TwoPass);
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, givenScale: true);
        yield return new QuantizeFp8Case(8192, 8192, DType.Float16);
        yield return new QuantizeFp8Case(8192, 8192, DType.Float32);
        yield return new QuantizeFp8Case(4096, 4096, DType.BFloat16);
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, granularity: ScaleGranularity.PerTokenGroup); // bar: ≥ 3.5 TB/s
        yield return new RmsNormQuantizeFp8Case(8192, 4096, DType.BFloat16);                                      // bar: ≥ 85 % of a copy
        yield return new RmsNormQuantizeFp8Case(8192, 4096, DType.BFloat16, ScaleGranularity.PerTokenGroup);
        // Linear on the gated MLP's mainloop: the 8192³ product against cuBLAS, and the down projection (decode and prefill).
        yield return new LinearCase(8192, 8192, 8192, DType.BFloat16);
        yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true);
        yield return new LinearCase(4096, 14336, 4096, DType.BFloat16, residual: true);
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(16, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(1, 4096, 14336, DType.BFloat16);
        yield return new FusedGatedMlpCase(64, 4096, 14336, DType.BFloat16);   // decode kernel's largest M
        yield return new FusedGatedMlpCase(128, 4096, 14336, DType.BFloat16);  // tiled kernel, one M tile
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.Float16);
        // The gated MLP's middle when its projections run apart (the FP8 decoder layer): prefill and decode sizes.
        yield return new GatedActivationCase(4096, 14336, DType.BFloat16);
        yield return new GatedActivationCase(4096, 14336, DType.BFloat16, merged: true);
        yield return new GatedActivationCase(64, 14336, DType.BFloat16);
        // The same middle quantized for an FP8 down projection in one pass (#19), against the two ops it replaces.
        yield return new GatedActivationQuantizeFp8Case(4096, 14336, DType.BFloat16);
        yield return new GatedActivationQuantizeFp8Case(64, 14336, DType.BFloat16);
        // The register-staged kernel (any K, pre-sm_80), the wide kernel's ring depth and a non-persistent grid, against the op's choice.
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.RegisterStaged);
        foreach (int stages in new[] { 2, 4 })
            yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.Wide, stages);
        yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.Wide, blocks: int.MaxValue);
        // Linear off Hopper (the same two kernels with the plain epilogue), pinned on the H200.
        yield return new LinearCase(8192, 8192, 8192, DType.BFloat16, kernel: LinearKernelChoice.Wide);
        yield return new LinearCase(8192, 8192, 8192, DType.BFloat16, kernel: LinearKernelChoice.RegisterStaged);
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
        // Norm + RoPE at scattered positions with a float32 table (the general kernel): OLMo2-style prefill and a
        // Qwen3-style decode step (64 sequences, q 32 heads + k 8, per-head norm, one launch).
        yield return new QkNormRopeCase(4, 2048, 32, 0, 128, NormScope.Hidden, DType.BFloat16);
        yield return new QkNormRopeCase(64, 1, 32, 8, 128, NormScope.PerHead, DType.BFloat16, tableRows: 4096);
        // Plain norms: rms_norm moves what a 67 MB copy moves, fused_add_rms_norm what a 134 MB one does (floor rows below).
        yield return new RmsNormCase(8192, 4096, DType.BFloat16, fusedAdd: false);
        yield return new RmsNormCase(8192, 4096, DType.BFloat16, fusedAdd: true);
        yield return new RmsNormCase(64, 4096, DType.BFloat16, fusedAdd: true);
        yield return new FloorCase(2L * 64 * 4096 * 2);
        // One Llama-3-8B decoder layer without attention (samples/TritonOps.DecoderLayer): prefill 4096 tokens, decode 64.
        yield return new DecoderLayerCase(1, 4096, DType.BFloat16);
        yield return new DecoderLayerCase(64, 1, DType.BFloat16);
        // The same layer with FP8 projections (#19's bar: prefill ≥ 1.4× the bf16 row above): 128-block and per-channel scales.
        yield return new DecoderLayerCase(1, 4096, DType.BFloat16, Fp8WeightScheme.Block);
        yield return new DecoderLayerCase(1, 4096, DType.BFloat16, Fp8WeightScheme.PerChannel);
        yield return new DecoderLayerCase(64, 1, DType.BFloat16, Fp8WeightScheme.Block);
        // A 1.6 GB checkpoint from the page cache to the device against a host-to-device copy of the same bytes.
        yield return new CheckpointLoadCase();
        // The floor under these rows: a launch between two events; copies of x's bytes at the two shapes.
        yield return new FloorCase(0);
        yield return new FloorCase(4L * 2048 * 4096 * 2);
        yield return new FloorCase(8192L * 8192 * 2);
        // A copy moving what rms_norm_quantize_fp8 bf16 [8192, 4096] moves (x in, codes out: 3 bytes a value): its bar's copy.
        yield return new FloorCase(8192L * 4096 * 3 / 2);
    }

    /// <summary>Experiment rows (<c>--sweep</c>): A/B variants too many for the standing table.</summary>
    public static IEnumerable<IBenchmarkCase> Sweep()
    {
        // Decode at M 16 (#16, #20): the strip kernel against the swapped wgmma kernel (weight rows on wgmma's M side,
        // streamed through the copy engine's ring), Linear's down projection and the gated MLP.
        foreach (var kernel in new[] { LinearKernelChoice.Decode, LinearKernelChoice.SwappedDecode })
            yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true, kernel);
        foreach (var tiling in new[] { GatedMlpTiling.Decode, GatedMlpTiling.SwappedDecode })
            yield return new FusedGatedMlpCase(16, 4096, 14336, DType.BFloat16, tiling);
        // The swapped Linear's K splits 1–8 at the down projection, and the gated MLP's shape as a Linear (in4096 out14336:
        // 56 tiles), split 1 and 2, with and without the residual, beside the strip kernel (H100 12-06: split 8 ties the
        // strip kernel since its workspace is coalesced, 54.3 against 54.4 µs).
        foreach (int splits in new[] { 1, 2, 4, 8 })
            yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, splits);
        foreach (int splits in new[] { 1, 2 })
            yield return new LinearCase(16, 4096, 14336, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, splits);
        yield return new LinearCase(16, 4096, 14336, DType.BFloat16, residual: true, LinearKernelChoice.Decode);
        yield return new LinearCase(16, 4096, 14336, DType.BFloat16, residual: false, LinearKernelChoice.SwappedDecode, 1);
        // M 64 (the decoder layer's decode): q/o-sized and down-sized Linear, strip against swapped (four x slices); the gated
        // MLP's warp-specialized tiles against swapped.
        foreach (var (n, k) in new[] { (4096, 4096), (4096, 14336) })
            foreach (var kernel in new[] { LinearKernelChoice.Decode, LinearKernelChoice.SwappedDecode })
                yield return new LinearCase(64, k, n, DType.BFloat16, residual: true, kernel);
        // The swapped kernel's K splits at M 64 (its split-K workspace grows with the rows: four slices' partials a split).
        foreach (var (n, k, splits) in new[] { (4096, 4096, 2), (4096, 4096, 4), (4096, 14336, 4) })
            yield return new LinearCase(64, k, n, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, splits);
        foreach (var tiling in new[] { GatedMlpTiling.WarpSpecialized, GatedMlpTiling.SwappedDecode })
            yield return new FusedGatedMlpCase(64, 4096, 14336, DType.BFloat16, tiling);
        // The FP8 decoder layer's pieces at Llama-3-8B prefill (4096 tokens, 128-block scales): q/o, k/v, gate/up (apart and
        // merged into one N = 28672 product), down; the activation quantizations and the fused input norm.
        foreach (var (n, k) in new[] { (4096, 4096), (1024, 4096), (14336, 4096), (28672, 4096), (4096, 14336) })
            yield return new Fp8GemmCase(4096, n, k, DType.BFloat16, scales: Fp8GemmScales.Blocks);
        yield return new QuantizeFp8Case(4096, 4096, DType.BFloat16, granularity: ScaleGranularity.PerTokenGroup);
        yield return new QuantizeFp8Case(4096, 14336, DType.BFloat16, granularity: ScaleGranularity.PerTokenGroup);
        yield return new RmsNormQuantizeFp8Case(4096, 4096, DType.BFloat16, ScaleGranularity.PerTokenGroup);
        // The floor under RMSNorm's 134 MB shape for a kernel launched like ours, beside the driver's copy.
        const long rmsNormBytes = 4L * 2048 * 4096 * 2;
        yield return new FloorCase(rmsNormBytes);
        yield return new FloorCase(rmsNormBytes, kernelCopy: true);
        yield return new FloorCase(rmsNormBytes, kernelCopy: true, perThread: 4);
        yield return new FloorCase(rmsNormBytes, kernelCopy: true, perThread: 16);
        yield return new FloorCase(2 * rmsNormBytes, kernelCopy: true);
        yield return new FloorCase(2 * rmsNormBytes, kernelCopy: true, perThread: 16);
        // The packed norm+RoPE kernel at positions (OLMo2 prefill) with one and two pairs a thread, two to six blocks an SM.
        foreach (int pairsPerThread in new[] { 1, 2 })
            foreach (int blocksPerSm in new[] { 2, 3, 4, 6 })
                yield return new QkNormRopeCase(4, 2048, 32, 0, 128, NormScope.Hidden, DType.BFloat16, schedule: new(pairsPerThread, blocksPerSm));
        // Staged RMSNorm at the op's three blocks per SM against two and four; one pair a thread (256-thread blocks).
        foreach (int blocksPerSm in new[] { 2, 4 })
            yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, new(RmsNormRopeKernelChoice.Staged, blocksPerSm));
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, new(RmsNormRopeKernelChoice.Staged, PairsPerThread: 1));
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16, new(RmsNormRopeKernelChoice.Staged));
        // The norm + RoPE at positions (OLMo2 prefill) as the op launches it (the staged kernel) beside its copy, and what
        // the float32 table and the positions each cost there (a bf16 table, no positions: the seed's staged kernel's work).
        foreach (var (float32Table, withPositions) in new[] { (true, true), (false, true), (true, false), (false, false) })
            yield return new QkNormRopeCase(4, 2048, 32, 0, 128, NormScope.Hidden, DType.BFloat16, float32Table: float32Table, withPositions: withPositions);
        yield return new QkNormRopeCase(4, 2048, 32, 0, 128, NormScope.Hidden, DType.BFloat16, prefillPositions: true);
        yield return new QkNormRopeCase(4, 2048, 32, 0, 128, NormScope.Hidden, DType.BFloat16, tableRows: 2048);
        yield return new FusedRmsNormRopeCase(4, 2048, 4096, 128, DType.BFloat16);
        yield return new FloorCase(4L * 2048 * 4096 * 2);
        // fused_add_rms_norm's runs per thread (the op picks 4: 128-thread blocks at hidden 4096 bf16) and the wide kernel.
        foreach (int runs in new[] { 1, 2, 8 })
            yield return new RmsNormCase(8192, 4096, DType.BFloat16, fusedAdd: true, new(RunsPerThread: runs));
        yield return new RmsNormCase(8192, 4096, DType.BFloat16, fusedAdd: true, new(Wide: true));
        yield return new RmsNormCase(8192, 4096, DType.BFloat16, fusedAdd: true);
        // Linear's decode split-K (the op picks from the SM count) and the warp-specialized kernel at decode sizes.
        foreach (int splits in new[] { 1, 2, 4, 8, 16 })
            yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.Decode, splits);
        yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true);
        yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.WarpSpecialized);
        foreach (int m in new[] { 16, 64 })
        {
            yield return new FusedGatedMlpCase(m, 4096, 14336, DType.BFloat16);
            yield return new FusedGatedMlpCase(m, 4096, 14336, DType.BFloat16, GatedMlpTiling.WarpSpecialized);
        }
        // The warp-specialized 16-bit GEMM on a grid that walks the tiles (a block an SM, all its 224 KB ring holds: the next tile's loads
        // overlap the last one's stores, no wave tail) against a block a tile (#20's persistent step).
        foreach (int? blocks in new int?[] { null, 132 })
        {
            yield return new FusedGatedMlpCase(8192, 4096, 14336, DType.BFloat16, GatedMlpTiling.WarpSpecialized, blocks: blocks);
            yield return new FusedGatedMlpCase(1024, 4096, 14336, DType.BFloat16, GatedMlpTiling.WarpSpecialized, blocks: blocks);
            yield return new LinearCase(8192, 8192, 8192, DType.BFloat16, kernel: LinearKernelChoice.WarpSpecialized, blocks: blocks);
            yield return new LinearCase(4096, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.WarpSpecialized, blocks: blocks);
        }
        // The FP8 wgmma kernel likewise: #20's three prefill shapes on 132 blocks that walk the tiles, beside a block a tile.
        foreach (var (m, n, k) in new[] { (8192, 8192, 8192), (4096, 4096, 4096), (8192, 14336, 4096) })
            foreach (int blocks in new[] { 0, 132 })
                yield return new Fp8GemmCase(m, n, k, DType.BFloat16, new(Blocks: blocks));
        // FP8 GEMM tiles and ring depths; quantize's two passes against the single launch keeping 0–48 MB in L2.
        foreach (var (blockM, stages) in new[] { (128, 4), (128, 6), (256, 2), (256, 3) })
            yield return new Fp8GemmCase(8192, 8192, 8192, DType.BFloat16, new(blockM, stages));
        yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, QuantizeSchedule.TwoPass);
        foreach (int mb in new[] { 0, 8, 16, 24, 32, 40, 48 })
            yield return new QuantizeFp8Case(8192, 8192, DType.BFloat16, QuantizeSchedule.Fused, mb);
        // The decoder layer's k/v projections at decode M64 (in4096 out1024), the strip kernel Auto takes against the swapped
        // one: with rows 10–13 (q/o- and down-sized) and the gated MLP's M64 rows, the layer's decode stage by stage.
        // Appended last so the rows above keep their --nth (Linear's sweep rows 28 and 29).
        foreach (var kernel in new[] { LinearKernelChoice.Auto, LinearKernelChoice.SwappedDecode })
            yield return new LinearCase(64, 4096, 1024, DType.BFloat16, residual: false, kernel);
        // q, k and v as one product (out 4096 + 2 · 1024: the three weights concatenated, as vLLM's QKVParallelLinear), strip
        // against swapped: what one launch would save against rows 10/11 and 28/29 (Linear's sweep rows 30 and 31).
        foreach (var kernel in new[] { LinearKernelChoice.Decode, LinearKernelChoice.SwappedDecode })
            yield return new LinearCase(64, 4096, 6144, DType.BFloat16, residual: false, kernel);
        // #16's decode row without its residual (row 32): what the residual's loads after the split-K meeting cost.
        yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: false);
        // The decoder layer's two decode norms (64 rows of 4096): the op's rows (128 threads, four runs a thread) against
        // 512 and 256 threads a row; 64 blocks leave half the SMs idle, so more threads a row may shorten the launch
        // (H200 12-07 ncu: 3.9 and 3.7 µs in the layer). rms_norm rows 6–9 of the sweep (`--sweep --op rms_norm --nth`).
        foreach (int runs in new[] { 1, 2, 4 })
            yield return new RmsNormCase(64, 4096, DType.BFloat16, fusedAdd: false, new(RunsPerThread: runs));
        yield return new RmsNormCase(64, 4096, DType.BFloat16, fusedAdd: false);
        // The layer's M64 down projection on the one-box swapped kernel (32 tiles) at 2, 3 and 8 K splits beside Auto's 4
        // (row 13; H100 12-07: 59.3 µs, 30 of its 32 clusters of 4 fit at once, so its splits meet in the workspace). Two
        // splits meet in clusters of 2 on 64 SMs, three in clusters of 3 on 96. Linear's sweep rows 33–35.
        foreach (int splits in new[] { 2, 3, 8 })
            yield return new LinearCase(64, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, splits);
        // #16's decode row (M16 down) on the same kernel at 3 splits (clusters of 3; row 3 is 2 splits, row 4 Auto's 4): row 36.
        yield return new LinearCase(16, 14336, 4096, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, 3);
        // #20's FP8 decode row (M16 N14336 K4096, 64-row wgmma tiles: 112 blocks, each streaming 512 KB of b) at ring depths
        // 3, 5 and 9 beside Auto's 8 (fp8_gemm sweep rows 15–18): whether the bytes in flight bound it (17 GB/s a block, H100).
        foreach (int stages in new[] { 3, 5, 8, 9 })
            yield return new Fp8GemmCase(16, 14336, 4096, DType.BFloat16, new(64, stages));
        // The swapped Linear on shallower rings (12-08): 4 stages of 24 KB (M64) or 18 KB (M16) leave room for a second
        // block an SM where its registers do too (a one-warp producer: the narrowprod experiment), so more splits stream
        // at once. o-sized (M64 in4096 out4096: Auto 4 splits, 29.6 µs on the H100 against cuBLAS 21.2), the M64 down
        // projection and #16's decode row (M16). Linear's sweep rows 37–44.
        foreach (var (m, k, splits, stages) in new[] { (64, 4096, 4, 4), (64, 4096, 8, 4), (64, 4096, 8, 3), (64, 14336, 4, 4), (64, 14336, 8, 4),
                     (16, 14336, 4, 4), (16, 14336, 8, 4), (16, 14336, 12, 3) })
            yield return new LinearCase(m, k, 4096, DType.BFloat16, residual: true, LinearKernelChoice.SwappedDecode, splits, stages: stages);
    }

    /// <summary>Enough distinct input sets that one pass over them is ≥ 3× the 60 MB L2, so each
    /// timed run reads from device memory, not cache.</summary>
    public static int SetsToDefeatL2(long bytesPerRun) => (int)Math.Clamp(3 * 60_000_000 / Math.Max(bytesPerRun, 1) + 1, 2, 512);
}
