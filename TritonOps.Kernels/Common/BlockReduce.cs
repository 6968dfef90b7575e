namespace TritonOps.Kernels.Common;

/// <summary>Deterministic sums across a warp and a thread block (fixed order, no atomics, so
/// the same input gives the same bits on every run; ILGPU.Algorithms' AllReduce uses shared
/// atomics and is not reproducible). Requires 32-lane warps.</summary>
internal static class BlockReduce
{
    /// <summary>Slots of float scratch <see cref="Sum"/> needs in shared memory.</summary>
    public const int ScratchLength = 33;

    /// <summary>Butterfly sum: every lane ends with the warp's total.</summary>
    public static float WarpSum(float value) => Butterfly<Add>(value);

    /// <summary>A warp's values combined across the lanes by xor shuffles 16, 8, 4, 2, 1, written out: ILGPU leaves a
    /// loop over the lane masks rolled (a shift, compare and branch beside each shuffle; unrolled, the staged
    /// RMSNorm+RoPE went 40.8 → 39.6 µs on the H200).</summary>
    private static float Butterfly<TCombine>(float value) where TCombine : struct, ICombine
    {
        value = TCombine.Combine(value, Warp.ShuffleXor(value, 16));
        value = TCombine.Combine(value, Warp.ShuffleXor(value, 8));
        value = TCombine.Combine(value, Warp.ShuffleXor(value, 4));
        value = TCombine.Combine(value, Warp.ShuffleXor(value, 2));
        return TCombine.Combine(value, Warp.ShuffleXor(value, 1));
    }

    private interface ICombine
    {
        static abstract float Combine(float a, float b);
    }

    private struct Add : ICombine
    {
        public static float Combine(float a, float b) => a + b;
    }

    private struct MaxOfBits : ICombine
    {
        public static float Combine(float a, float b) => MaxBits(a, b);
    }

    /// <summary>Sum over the whole (1-, 2- or 3-D) group; every thread gets the total. All threads
    /// must call it, and the group size must be a multiple of 32.</summary>
    public static float Sum(float value, ArrayView<float> scratch) => TwoBarriers<Add>(value, scratch);

    /// <summary>Each warp's combined value to <paramref name="scratch"/>[warp], warp 0 combines those with the same
    /// butterfly into slot 32, and every thread reads it: two barriers.</summary>
    private static float TwoBarriers<TCombine>(float value, ArrayView<float> scratch) where TCombine : struct, ICombine
    {
        PublishWarpTotals<TCombine>(value, scratch);
        if (WarpIndex == 0)
        {
            float partial = Butterfly<TCombine>(Warp.LaneIdx < WarpsInGroup ? scratch[Warp.LaneIdx] : 0f);
            if (Warp.LaneIdx == 0)
                scratch[32] = partial;
        }
        Group.Barrier();
        return scratch[32];
    }

    /// <summary>Each warp's combined value to <paramref name="scratch"/>[warp], then a barrier.</summary>
    private static void PublishWarpTotals<TCombine>(float value, ArrayView<float> scratch) where TCombine : struct, ICombine
    {
        value = Butterfly<TCombine>(value);
        if (Warp.LaneIdx == 0)
            scratch[WarpIndex] = value;
        Group.Barrier();
    }

    private static int WarpsInGroup => (Group.Dimension.Size + 31) / 32;

    /// <summary>The thread's warp in the group. ILGPU's <c>Warp.WarpIdx</c> divides by <c>WARP_SZ</c>, which ptxas does
    /// not fold: a full integer division (~20 instructions, a MUFU.RCP among them) on lane 0's way to every
    /// reduction's barrier, in the SASS of the fused norm+quantize kernel.</summary>
    private static int WarpIndex => (int)((uint)Group.LinearIndex >> 5);

    /// <summary>Slots of float scratch <see cref="TwoSums"/> needs in shared memory.</summary>
    public const int TwoSumsScratchLength = 2 * 2 * 32;

    /// <summary>
    /// Two sums over the (1-D) group with one barrier: each warp's two totals go to shared memory and
    /// every thread adds them up in warp order (fixed order, so reproducible). Callers alternate
    /// <paramref name="parity"/> (0, 1, 0, …) between calls: a warp may write the next call's totals
    /// while a slower one still reads this call's, but not those of the call after (it has to pass
    /// that call's barrier first).
    /// </summary>
    public static (float First, float Second) TwoSums(float first, float second, ArrayView<float> scratch, int parity)
    {
        int warps = (Group.Dimension.Size + 31) / 32, bank = parity * 64;
        first = WarpSum(first);
        second = WarpSum(second);
        if (Warp.LaneIdx == 0)
        {
            scratch[bank + WarpIndex] = first;
            scratch[bank + 32 + WarpIndex] = second;
        }
        Group.Barrier();
        float a = 0f, b = 0f;
        for (int w = 0; w < warps; w++)
        {
            a += scratch[bank + w];
            b += scratch[bank + 32 + w];
        }
        return (a, b);
    }

    /// <summary>Slots of float scratch <see cref="SumOneBarrier"/> and <see cref="MaxOneBarrier"/> need (one per warp).</summary>
    public const int OneBarrierScratchLength = 32;

    /// <summary>
    /// <see cref="Sum"/> with one barrier instead of two, and the same bits: each warp's total goes to shared memory
    /// and every warp then sums the totals with the butterfly <see cref="Sum"/>'s warp 0 uses (the order matters:
    /// a plain loop over the warps' totals rounds differently, and <c>RmsNormQuantizeFp8</c> must store what
    /// <c>RmsNorm</c> would). The scratch must not be written again before every thread has read it: give each call
    /// of a block its own scratch, or a barrier between reuses.
    /// </summary>
    public static float SumOneBarrier(float value, ArrayView<float> scratch) => OneBarrier<Add>(value, scratch);

    /// <summary><see cref="Max"/> with one barrier (as <see cref="SumOneBarrier"/>, with its rule for the scratch).</summary>
    public static float MaxOneBarrier(float value, ArrayView<float> scratch) => OneBarrier<MaxOfBits>(value, scratch);

    private static float OneBarrier<TCombine>(float value, ArrayView<float> scratch) where TCombine : struct, ICombine
    {
        PublishWarpTotals<TCombine>(value, scratch);
        return Butterfly<TCombine>(Warp.LaneIdx < WarpsInGroup ? scratch[Warp.LaneIdx] : 0f);
    }

    /// <summary>Max over the group of non-negative floats by bit pattern (NaN wins); every thread gets it.</summary>
    public static float Max(float value, ArrayView<float> scratch) => TwoBarriers<MaxOfBits>(value, scratch);

    private static float MaxBits(float a, float b) => Interop.FloatAsInt(a) >= Interop.FloatAsInt(b) ? a : b;
}
