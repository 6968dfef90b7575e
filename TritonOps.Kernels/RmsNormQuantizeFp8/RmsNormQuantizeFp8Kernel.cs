using TritonOps.Kernels.RmsNorm;

namespace TritonOps.Kernels.RmsNormQuantizeFp8;

/// <summary>Sizes of one <see cref="RmsNormQuantizeFp8Kernel"/> launch: the norm's, and how the scales go.</summary>
internal struct RmsNormQuantizeShape
{
    public RmsNormShape Norm;
    /// <summary>0: one scale per row (per token), [rows, 1]; otherwise runs a group (G / access width, a power of two
    /// ≤ 32): scales [rows, <see cref="ScaleCols"/>].</summary>
    public int GroupLanes;
    /// <summary>log2 <see cref="GroupLanes"/> (0 per token).</summary>
    public int GroupShift;
    public int ScaleCols;
}

/// <summary>
/// RMSNorm and dynamic FP8 quantization in one pass (vLLM's <c>rms_norm_dynamic_per_token_quant</c>): one row per
/// block, held in registers from its one load to its one store of codes, as <see cref="RmsNormRowKernel"/> holds it.
/// y = x · rsqrt(mean(x²) + eps) · (w + offset) is rounded once into x's dtype (the value <c>Ops.RmsNorm</c> would
/// store, never written here), then quantized: per token, the row's amax by a block reduction; per group, a
/// butterfly over the group's adjacent lanes. Scales and codes follow <see cref="Fp8QuantizeKernels"/>:
/// scale = amax · fl(1 / max(format)) (1 for zeros; <see cref="Fp8QuantizeKernels.ScaleFromAmax{TFormat}"/>), q = RNE_saturate(y / scale). Bytes moved: x and the weight in,
/// one byte a value and the scales out. Not persistent, not register-capped, 4 runs a thread: each alternative measured
/// slower (H200, bf16 [8192, 4096]: a persistent form 36.8 → 38.2 µs).
/// </summary>
internal static class RmsNormQuantizeFp8Kernel
{
    [GlobalMemoryOnly]
    public static void Run<TAccess, TRuns, TFormat, TRounding, TBounds, TGroups>(ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> q, ArrayView<float> scales,
        RmsNormQuantizeShape shape)
        where TAccess : struct, IRunAccess
        where TRuns : struct, IRowRuns<TRuns>
        where TFormat : struct, IFloat8Format
        where TRounding : struct, INormRounding
        where TBounds : struct, IRunBounds
        where TGroups : struct, IScaleGroups
    {
        // One block a row, so each reduction has scratch of its own and takes one barrier (two barriers a row, not four).
        var scratch = SharedMemory.Allocate<float>(BlockReduce.OneBarrierScratchLength);
        var maxScratch = SharedMemory.Allocate<float>(BlockReduce.OneBarrierScratchLength);
        int first = Group.IdxX, step = Group.DimX, rowRuns = shape.Norm.RowRuns;
        long rowRun = (long)Grid.IdxX * rowRuns;
        // The row's own views, indexed from 0: one 64-bit base a row, and each access a 32-bit index scaled onto it
        // (indexed from the tensor's start, every load and store built its 64-bit address anew: ~6 instructions each).
        var xRow = TAccess.Runs(x, rowRun, rowRuns);
        var qRow = q.SubView(rowRun * TAccess.Width, (long)rowRuns * TAccess.Width);
        TRuns values = TRuns.Load<TAccess, TBounds>(xRow, 0, first, step, rowRuns);
        TRuns weights = TRuns.Load<TAccess, TBounds>(weight, 0, first, step, rowRuns);
        float sumOfSquares = BlockReduce.SumOneBarrier(TRuns.SumOfSquares<TAccess>(values), scratch);
        float rstd = PtxMath.Rsqrt(sumOfSquares * shape.Norm.InvHidden + shape.Norm.Eps);
        // The rounding is the kernel's type, its flag a constant the run code folds: a runtime flag tested once a thread
        // still cost 2-3 % here (the other arm's code beside it; per token 33.5 -> 34.3 µs, H200, 12-04).
        TRuns y = TRuns.Normalize<TAccess, TBounds>(values, weights, first, step, rstd, shape.Norm with { RoundBeforeWeight = TRounding.RoundBeforeWeight ? 1 : 0 });
        ScaleDivisor rowScale = ScaleDivisor.OfComputedScale(1f);
        if (!TGroups.Grouped)
        {
            float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>(Bits.Of(BlockReduce.MaxOneBarrier(TRuns.AbsMax<TAccess>(y), maxScratch)));
            if (first == 0)
                scales[Grid.IdxX] = scale;
            rowScale = ScaleDivisor.OfComputedScale(scale); // once a row: the IEEE reciprocal is a dozen instructions and a slow-path branch
        }
        TRuns.QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(y, qRow, scales, 0, first, step, rowRuns, rowScale, shape.GroupLanes, shape.GroupShift, (long)Grid.IdxX * shape.ScaleCols);
    }

    /// <summary>The instantiation for a dtype, access form, runs per thread (1, 2, 4 or 8), rounding
    /// (<paramref name="roundBeforeWeight"/>: <see cref="RoundsLikeLlama"/>), rows that fill every thread's runs
    /// (<paramref name="wholeRows"/>: <see cref="WholeRows"/>) and group scales (<paramref name="grouped"/>); E4M3 codes.</summary>
    public static MethodInfo Variant(Type element, bool packed, int runsPerThread, bool roundBeforeWeight = false, bool wholeRows = false, bool grouped = false) =>
        KernelMethods.Get(typeof(RmsNormQuantizeFp8Kernel), nameof(Run), RunAccess.Of(element, packed),
            RmsNormRowKernel.RunTypes[System.Numerics.BitOperations.Log2((uint)runsPerThread)], typeof(E4M3),
            roundBeforeWeight ? typeof(RoundsLikeLlama) : typeof(RoundsOnce),
            wholeRows ? typeof(WholeRows) : typeof(PaddedRows),
            grouped ? typeof(GroupScales) : typeof(RowScale));

    /// <summary>The per-token instantiations of every dtype, access form and runs per thread, with one rounding and
    /// (16-bit) two; beside them the group-scale and whole-row forms at four runs a thread (the bodies' other arms: the
    /// same code at every run count, so CI compiles them once a dtype and access form).</summary>
    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
            foreach (bool packed in new[] { true, false })
            {
                for (int perThread = 1; perThread <= RmsNormRowKernel.MaxRunsPerThread; perThread *= 2)
                {
                    yield return Variant(element, packed, perThread);
                    if (element != typeof(Float32Element))
                        yield return Variant(element, packed, perThread, roundBeforeWeight: true);
                }
                yield return Variant(element, packed, 4, grouped: true);
                if (packed && element != typeof(Float32Element))
                {
                    yield return Variant(element, packed, 4, wholeRows: true);
                    yield return Variant(element, packed, 4, wholeRows: true, grouped: true);
                }
            }
    }
}
