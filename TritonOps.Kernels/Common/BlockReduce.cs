using ILGPU;

namespace TritonOps.Kernels.Common;

/// <summary>Deterministic sums across a warp and a thread block (fixed order, no atomics, so
/// the same input gives the same bits on every run; ILGPU.Algorithms' AllReduce uses shared
/// atomics and is not reproducible). Requires 32-lane warps.</summary>
internal static class BlockReduce
{
    /// <summary>Slots of float scratch <see cref="Sum"/> needs in shared memory.</summary>
    public const int ScratchLength = 33;

    /// <summary>Butterfly sum: every lane ends with the warp's total. Written out step by step: ILGPU leaves a loop over
    /// the lane masks rolled (a shift, compare and branch beside each shuffle and add, in every kernel's reductions).</summary>
    public static float WarpSum(float value)
    {
        value += Warp.ShuffleXor(value, 16);
        value += Warp.ShuffleXor(value, 8);
        value += Warp.ShuffleXor(value, 4);
        value += Warp.ShuffleXor(value, 2);
        return value + Warp.ShuffleXor(value, 1);
    }

    /// <summary>Butterfly max by bit pattern (non-negative floats; NaN wins), written out as <see cref="WarpSum"/>.</summary>
    public static float WarpMaxBits(float value)
    {
        value = MaxBits(value, Warp.ShuffleXor(value, 16));
        value = MaxBits(value, Warp.ShuffleXor(value, 8));
        value = MaxBits(value, Warp.ShuffleXor(value, 4));
        value = MaxBits(value, Warp.ShuffleXor(value, 2));
        return MaxBits(value, Warp.ShuffleXor(value, 1));
    }

    /// <summary>Sum over the whole (1-, 2- or 3-D) group; every thread gets the total. All threads
    /// must call it, and the group size must be a multiple of 32.</summary>
    public static float Sum(float value, ArrayView<float> scratch)
    {
        int warps = (Group.Dimension.Size + 31) / 32;
        value = WarpSum(value);
        if (Warp.LaneIdx == 0)
            scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        if (Warp.WarpIdx == 0)
        {
            float partial = Warp.LaneIdx < warps ? scratch[Warp.LaneIdx] : 0f;
            partial = WarpSum(partial);
            if (Warp.LaneIdx == 0)
                scratch[32] = partial;
        }
        Group.Barrier();
        return scratch[32];
    }

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
            scratch[bank + Warp.WarpIdx] = first;
            scratch[bank + 32 + Warp.WarpIdx] = second;
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
    public static float SumOneBarrier(float value, ArrayView<float> scratch)
    {
        int warps = (Group.Dimension.Size + 31) / 32;
        value = WarpSum(value);
        if (Warp.LaneIdx == 0)
            scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        return WarpSum(Warp.LaneIdx < warps ? scratch[Warp.LaneIdx] : 0f);
    }

    /// <summary><see cref="Max"/> with one barrier (as <see cref="SumOneBarrier"/>, with its rule for the scratch).</summary>
    public static float MaxOneBarrier(float value, ArrayView<float> scratch)
    {
        int warps = (Group.Dimension.Size + 31) / 32;
        value = WarpMaxBits(value);
        if (Warp.LaneIdx == 0)
            scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        float max = 0f;
        for (int w = 0; w < warps; w++)
            max = MaxBits(max, scratch[w]);
        return max;
    }

    /// <summary>Max over the group of non-negative floats by bit pattern (NaN wins); every thread gets it.</summary>
    public static float Max(float value, ArrayView<float> scratch)
    {
        int warps = (Group.Dimension.Size + 31) / 32;
        value = WarpMaxBits(value);
        if (Warp.LaneIdx == 0)
            scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        if (Warp.WarpIdx == 0)
        {
            float partial = WarpMaxBits(Warp.LaneIdx < warps ? scratch[Warp.LaneIdx] : 0f);
            if (Warp.LaneIdx == 0)
                scratch[32] = partial;
        }
        Group.Barrier();
        return scratch[32];
    }

    private static float MaxBits(float a, float b) => Interop.FloatAsInt(a) >= Interop.FloatAsInt(b) ? a : b;
}
