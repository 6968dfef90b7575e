namespace TritonOps.Kernels.Gemm;

/// <summary>A warp's weight chunks of one decode-strip iteration: four 16-byte loads a lane (one strip's four k
/// chunks, or two strips' two).</summary>
internal struct StripChunks
{
    public Vec4U C0, C1, C2, C3;
}

/// <summary>Two strips' accumulators (the gated MLP's gate and up, or Linear's two halves of W).</summary>
internal struct PairedAcc4
{
    public Acc4 First, Second;
}

/// <summary>What one warp of a decode-strip GEMM multiplies (<see cref="DecodeStripMainloop"/>): its operands' rows
/// (fields of the struct), the element's k step, and how it parks its sums for the block's other k part.</summary>
internal interface IStripOperands<TSelf, TAcc>
    where TSelf : struct, IStripOperands<TSelf, TAcc>
    where TAcc : struct
{
    /// <summary>K one whole iteration covers: a multiple of <see cref="StripMma.KStep"/>.</summary>
    static abstract int KIteration { get; }

    /// <summary>Whether iteration i + 1's weights load during iteration i (loop-carried registers; without them ptxas
    /// sinks each load to just before its mma, about one 16-byte load of b in flight per lane, which the FP8 strip's
    /// four mma an iteration cannot hide; the 16-bit strips measured no faster with it).</summary>
    static abstract bool PrefetchesWeights { get; }

    /// <summary>This lane's 16-byte chunk in a row for the iteration at <paramref name="k0"/> (lane t of a quad).</summary>
    static abstract int Chunk(int k0, int t);

    /// <summary>The iteration's weight chunks (from DRAM: issued first).</summary>
    static abstract StripChunks LoadWeights(in TSelf self, int chunk);

    /// <summary>The iteration's x chunks (L1 hits: every warp of the block reads the same 16 rows) and its mma.</summary>
    static abstract TAcc Iteration(in TSelf self, TAcc acc, in StripChunks weights, int chunk, int k0);

    /// <summary>One iteration at the K tail or of an unaligned K: bounds-checked loads, zeros past K.</summary>
    static abstract TAcc Tail(in TSelf self, TAcc acc, int k0);

    /// <summary>Floats of shared memory a parked accumulator takes (a warp's).</summary>
    static abstract int ParkedFloats { get; }

    static abstract void Park(ArrayView<float> scratch, int slot, in TAcc acc);

    static abstract TAcc AddParked(ArrayView<float> scratch, int slot, TAcc acc);
}

/// <summary>
/// The decode-strip mainloop, written once for the 16-bit (<see cref="DecodeGemmKernel"/>: gated MLP,
/// Linear) and the FP8 (<see cref="Fp8Gemm.Fp8GemmDecodeKernel"/>) small-M products: each warp streams its 8-row
/// weight strips once from device memory at full rate into <see cref="StripMma"/> fragments (no shared-memory
/// staging) against a 16-row slice of x. A block is <see cref="Strips"/> strips × <see cref="KParts"/> interleaved k
/// parts; the parts' sums meet through shared memory (<see cref="CombineParts"/>) before the kernel's epilogue.
/// </summary>
internal static class DecodeStripMainloop
{
    public const int Threads = 256, KParts = 2, Strips = Threads / 32 / KParts;

    /// <summary>Shared floats for the parked sums of a block (<see cref="CombineParts"/>).</summary>
    public static int ParkedFloats<TOperands, TAcc>()
        where TOperands : struct, IStripOperands<TOperands, TAcc>
        where TAcc : struct =>
        (KParts - 1) * Strips * TOperands.ParkedFloats;

    /// <summary>The warp's sums over its part's iterations of [<paramref name="kBegin"/>, <paramref name="kEnd"/>):
    /// whole iterations of an aligned K without bounds checks, then the tail.</summary>
    public static TAcc Accumulate<TOperands, TAcc>(in TOperands operands, int kBegin, int kEnd, bool aligned, int part, int t)
        where TOperands : struct, IStripOperands<TOperands, TAcc>
        where TAcc : struct
    {
        int fullEnd = aligned ? kEnd / TOperands.KIteration * TOperands.KIteration : kBegin;
        int k0 = kBegin + part * TOperands.KIteration;
        TAcc acc = default;
        if (TOperands.PrefetchesWeights)
        {
            int c = TOperands.Chunk(k0, t);
            StripChunks weights = default;
            if (k0 < fullEnd)
                weights = TOperands.LoadWeights(operands, c);
            for (; k0 < fullEnd; k0 += KParts * TOperands.KIteration)
            {
                // The next iteration's weights (on the last one, this one's again: in bounds, unused).
                int next = k0 + KParts * TOperands.KIteration < fullEnd ? c + TOperands.Chunk(KParts * TOperands.KIteration, 0) : c;
                StripChunks prefetched = TOperands.LoadWeights(operands, next);
                acc = TOperands.Iteration(operands, acc, weights, c, k0);
                weights = prefetched;
                c = next;
            }
        }
        else
        {
            for (; k0 < fullEnd; k0 += KParts * TOperands.KIteration)
            {
                int c = TOperands.Chunk(k0, t);
                acc = TOperands.Iteration(operands, acc, TOperands.LoadWeights(operands, c), c, k0);
            }
        }
        for (; k0 < kEnd; k0 += KParts * TOperands.KIteration)
            acc = TOperands.Tail(operands, acc, k0);
        return acc;
    }

    /// <summary>Every warp of the block calls it (a barrier): parts 1… park their sums, part 0's warp of the strip adds
    /// them when it <paramref name="owns"/> the strip (its columns lie inside N).</summary>
    public static TAcc CombineParts<TOperands, TAcc>(ArrayView<float> parked, TAcc acc, int part, int strip, bool owns)
        where TOperands : struct, IStripOperands<TOperands, TAcc>
        where TAcc : struct
    {
        if (part > 0)
            TOperands.Park(parked, (part - 1) * Strips + strip, acc);
        Group.Barrier();
        if (owns)
        {
            for (int p = 1; p < KParts; p++)
                acc = TOperands.AddParked(parked, (p - 1) * Strips + strip, acc);
        }
        return acc;
    }
}
