namespace TritonOps.Kernels.RmsNorm;

/// <summary>Sizes of one RMSNorm launch, in runs of the access width W.</summary>
internal struct RmsNormShape
{
    /// <summary>Rows: the product of x's leading dimensions.</summary>
    public int Rows;
    /// <summary>Runs in a row: hidden / W.</summary>
    public int RowRuns;
    /// <summary>1 / hidden, so the mean is one multiply.</summary>
    public float InvHidden;
    public float Eps;
    /// <summary>Added to every weight before it scales (1: Gemma's <c>(1 + w)</c>).</summary>
    public float WeightOffset;
    /// <summary>1: x · rstd is rounded into the dtype before the weight scales it, and the product rounded again (Hugging
    /// Face's Llama, Mistral and Qwen norms, vLLM's <c>rms_norm</c>, Liger's "llama" casting mode); 0: one rounding.</summary>
    public int RoundBeforeWeight;
}

/// <summary>Where a 16-bit norm rounds, as a kernel's type (<see cref="RmsNormShape.RoundBeforeWeight"/> folded to a
/// constant): once, or x · rstd first and then the product (Hugging Face's Llama norms).</summary>
internal interface INormRounding
{
    static abstract bool RoundBeforeWeight { get; }
}

internal struct RoundsOnce : INormRounding
{
    public static bool RoundBeforeWeight => false;
}

internal struct RoundsLikeLlama : INormRounding
{
    public static bool RoundBeforeWeight => true;
}

/// <summary>Whether a row can end before a thread's last run (<see cref="PaddedRows"/>: every run tests its index
/// against the row's runs) or fills every thread's runs exactly (<see cref="WholeRows"/>: no tests; Llama's 4096-wide
/// rows are 128 threads of four 16-byte runs). A kernel type, so the tests fold away where they cannot fail.</summary>
internal interface IRunBounds
{
    static abstract bool Whole { get; }
}

internal struct PaddedRows : IRunBounds
{
    public static bool Whole => false;
}

internal struct WholeRows : IRunBounds
{
    public static bool Whole => true;
}

/// <summary>One FP8 scale for the row, or one a group of adjacent runs, as a kernel type: the per-token kernel then
/// holds no group code (a butterfly and a scale store a run behind a uniform branch).</summary>
internal interface IScaleGroups
{
    static abstract bool Grouped { get; }
}

internal struct RowScale : IScaleGroups
{
    public static bool Grouped => false;
}

internal struct GroupScales : IScaleGroups
{
    public static bool Grouped => true;
}

/// <summary>
/// A thread's share of one row, held in registers from its load to its store: runs first,
/// first + step, first + 2·step, … of the row (step = the block's threads, so each load of a warp
/// is one contiguous stretch). The count is a type (<see cref="OneRun"/>, <see cref="Twice{T}"/> of
/// those, …) so every register has a constant index. Runs at or past the row's end are padding: they
/// load zeros and store nothing.
/// </summary>
internal interface IRowRuns<TSelf> where TSelf : struct, IRowRuns<TSelf>
{
    static abstract int Count { get; }

    /// <summary>The thread's runs of the row starting at run <paramref name="rowRun"/> (raw: unpacked only when used).</summary>
    static abstract TSelf Load<TAccess, TBounds>(ArrayView<byte> data, long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds;

    /// <summary>x + residual in float32, rounded once into the dtype, stored over the residual's runs and
    /// returned as stored: the norm then reads the rounded sum, as PyTorch's <c>residual + x</c> followed by the
    /// norm does.</summary>
    static abstract TSelf AddAndStore<TAccess>(in TSelf x, in TSelf residual, ArrayView<byte> residualData,
        long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess;

    static abstract float SumOfSquares<TAccess>(in TSelf runs) where TAccess : struct, IRunAccess;

    /// <summary><c>x · rstd · (w + offset)</c> for every run, rounded once into the dtype and kept (raw), as
    /// <see cref="NormalizeAndStore"/> would store it; padding runs give zeros.</summary>
    static abstract TSelf Normalize<TAccess, TBounds>(in TSelf runs, in TSelf weights, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds;

    /// <summary>max |v| over the thread's runs (by bit pattern: NaN wins).</summary>
    static abstract float AbsMax<TAccess>(in TSelf runs) where TAccess : struct, IRunAccess;

    /// <summary>
    /// FP8 codes of every run into <paramref name="q"/> (the row's runs from <paramref name="rowRun"/>, Width bytes a
    /// run): with <paramref name="groupLanes"/> = 0 one scale for the row (<paramref name="rowScale"/>); otherwise
    /// per group of <paramref name="groupLanes"/> runs (adjacent lanes of a warp: a butterfly gives the group's amax,
    /// its first lane writes the scale to <paramref name="scales"/>[<paramref name="scaleRow"/> + group];
    /// <paramref name="groupShift"/> = log2 <paramref name="groupLanes"/>). Every
    /// thread of the block must call it (the butterfly); padding runs take part with zeros and store nothing.
    /// </summary>
    static abstract void QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(in TSelf runs, ArrayView<byte> q, ArrayView<float> scales,
        long rowRun, int first, int step, int rowRuns, in ScaleDivisor rowScale, int groupLanes, int groupShift, long scaleRow)
        where TAccess : struct, IRunAccess
        where TFormat : struct, IFloat8Format
        where TBounds : struct, IRunBounds
        where TGroups : struct, IScaleGroups;

    /// <summary>Stores <c>x · rstd · (w + offset)</c> for every run, one rounding into the dtype.</summary>
    static abstract void NormalizeAndStore<TAccess>(in TSelf runs, in TSelf weights, ArrayView<byte> output,
        long rowRun, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess;
}

/// <summary>One run (16 bytes when packed, one element when scalar).</summary>
internal struct OneRun : IRowRuns<OneRun>
{
    public Vec4U Raw;

    public static int Count => 1;

    public static OneRun Load<TAccess, TBounds>(ArrayView<byte> data, long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds =>
        TBounds.Whole || first < rowRuns ? new OneRun { Raw = TAccess.LoadRaw(data, rowRun + first) } : default;

    public static OneRun AddAndStore<TAccess>(in OneRun x, in OneRun residual, ArrayView<byte> residualData,
        long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess
    {
        if (first >= rowRuns)
            return default;
        Vec4U sum = TAccess.Pack(RmsNormMath.Add(TAccess.Unpack(x.Raw), TAccess.Unpack(residual.Raw)));
        TAccess.StoreRaw(residualData, rowRun + first, sum);
        return new OneRun { Raw = sum };
    }

    public static float SumOfSquares<TAccess>(in OneRun runs) where TAccess : struct, IRunAccess =>
        TAccess.Unpack(runs.Raw).SumOfSquares();

    public static OneRun Normalize<TAccess, TBounds>(in OneRun runs, in OneRun weights, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds =>
        TBounds.Whole || first < s.RowRuns
            ? new OneRun { Raw = TAccess.Pack(RmsNormMath.Normalize<TAccess>(TAccess.Unpack(runs.Raw), TAccess.Unpack(weights.Raw), rstd, s)) }
            : default;

    public static float AbsMax<TAccess>(in OneRun runs) where TAccess : struct, IRunAccess =>
        TAccess.AbsMax(runs.Raw);

    public static void QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(in OneRun runs, ArrayView<byte> q, ArrayView<float> scales,
        long rowRun, int first, int step, int rowRuns, in ScaleDivisor rowScale, int groupLanes, int groupShift, long scaleRow)
        where TAccess : struct, IRunAccess
        where TFormat : struct, IFloat8Format
        where TBounds : struct, IRunBounds
        where TGroups : struct, IScaleGroups
    {
        ScaleDivisor divisor = rowScale;
        if (TGroups.Grouped)
        {
            float amax = TAccess.AbsMax(runs.Raw);
            for (int mask = 1; mask < groupLanes; mask <<= 1)
                amax = Fp8QuantizeKernels.MaxBits(amax, Warp.ShuffleXor(amax, mask));
            float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>(Bits.Of(amax));
            bool inRow = true;
            if (!TBounds.Whole)
                inRow = first < rowRuns;
            if (inRow && (first & (groupLanes - 1)) == 0)
                scales[scaleRow + (first >> groupShift)] = scale; // a shift, not an integer division (~20 instructions)
            divisor = ScaleDivisor.OfComputedScale(scale);
        }
        if (!TBounds.Whole) // its own if: ILGPU folds a trait constant only there, not inside an && chain
        {
            if (first >= rowRuns)
                return;
        }
        Vec8F v = TAccess.Unpack(runs.Raw);
        if (TAccess.Width == 8)
            q.Cast<ulong>()[rowRun + first] = Fp8QuantizeKernels.EncodeEight<TFormat>(v, divisor, bounded: true);
        else if (TAccess.Width == 4)
            q.Cast<uint>()[rowRun + first] = Fp8QuantizeKernels.Encode4<TFormat>(v.E0, v.E1, v.E2, v.E3, divisor, bounded: true);
        else
            q[rowRun + first] = TFormat.Encode(divisor.DivideBounded(v.E0));
    }

    public static void NormalizeAndStore<TAccess>(in OneRun runs, in OneRun weights, ArrayView<byte> output,
        long rowRun, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.RowRuns)
            return;
        TAccess.Store(output, rowRun + first,
            RmsNormMath.Normalize<TAccess>(TAccess.Unpack(runs.Raw), TAccess.Unpack(weights.Raw), rstd, s));
    }
}

/// <summary>Twice <typeparamref name="T"/>'s runs: the first T.Count of the thread's runs, then the next.</summary>
internal struct Twice<T> : IRowRuns<Twice<T>> where T : struct, IRowRuns<T>
{
    public T First, Second;

    public static int Count => 2 * T.Count;

    public static Twice<T> Load<TAccess, TBounds>(ArrayView<byte> data, long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds => new()
    {
        First = T.Load<TAccess, TBounds>(data, rowRun, first, step, rowRuns),
        Second = T.Load<TAccess, TBounds>(data, rowRun, first + T.Count * step, step, rowRuns),
    };

    public static Twice<T> AddAndStore<TAccess>(in Twice<T> x, in Twice<T> residual, ArrayView<byte> residualData,
        long rowRun, int first, int step, int rowRuns)
        where TAccess : struct, IRunAccess => new()
    {
        First = T.AddAndStore<TAccess>(x.First, residual.First, residualData, rowRun, first, step, rowRuns),
        Second = T.AddAndStore<TAccess>(x.Second, residual.Second, residualData, rowRun, first + T.Count * step, step, rowRuns),
    };

    public static float SumOfSquares<TAccess>(in Twice<T> runs) where TAccess : struct, IRunAccess =>
        T.SumOfSquares<TAccess>(runs.First) + T.SumOfSquares<TAccess>(runs.Second);

    public static Twice<T> Normalize<TAccess, TBounds>(in Twice<T> runs, in Twice<T> weights, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess
        where TBounds : struct, IRunBounds => new()
    {
        First = T.Normalize<TAccess, TBounds>(runs.First, weights.First, first, step, rstd, s),
        Second = T.Normalize<TAccess, TBounds>(runs.Second, weights.Second, first + T.Count * step, step, rstd, s),
    };

    public static float AbsMax<TAccess>(in Twice<T> runs) where TAccess : struct, IRunAccess =>
        Fp8QuantizeKernels.MaxBits(T.AbsMax<TAccess>(runs.First), T.AbsMax<TAccess>(runs.Second));

    public static void QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(in Twice<T> runs, ArrayView<byte> q, ArrayView<float> scales,
        long rowRun, int first, int step, int rowRuns, in ScaleDivisor rowScale, int groupLanes, int groupShift, long scaleRow)
        where TAccess : struct, IRunAccess
        where TFormat : struct, IFloat8Format
        where TBounds : struct, IRunBounds
        where TGroups : struct, IScaleGroups
    {
        T.QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(runs.First, q, scales, rowRun, first, step, rowRuns, rowScale, groupLanes, groupShift, scaleRow);
        T.QuantizeAndStore<TAccess, TFormat, TBounds, TGroups>(runs.Second, q, scales, rowRun, first + T.Count * step, step, rowRuns, rowScale, groupLanes, groupShift, scaleRow);
    }

    public static void NormalizeAndStore<TAccess>(in Twice<T> runs, in Twice<T> weights, ArrayView<byte> output,
        long rowRun, int first, int step, float rstd, in RmsNormShape s)
        where TAccess : struct, IRunAccess
    {
        T.NormalizeAndStore<TAccess>(runs.First, weights.First, output, rowRun, first, step, rstd, s);
        T.NormalizeAndStore<TAccess>(runs.Second, weights.Second, output, rowRun, first + T.Count * step, step, rstd, s);
    }
}

/// <summary>The element arithmetic of the norms, float32 throughout.</summary>
internal static class RmsNormMath
{
    /// <summary>a + b, lane by lane.</summary>
    public static Vec8F Add(in Vec8F a, in Vec8F b) => new()
    {
        E0 = a.E0 + b.E0, E1 = a.E1 + b.E1, E2 = a.E2 + b.E2, E3 = a.E3 + b.E3,
        E4 = a.E4 + b.E4, E5 = a.E5 + b.E5, E6 = a.E6 + b.E6, E7 = a.E7 + b.E7,
    };

    /// <summary>One run's norm as <paramref name="s"/> asks: <see cref="Normalize(in Vec8F, in Vec8F, float, float)"/>, or
    /// with <see cref="RmsNormShape.RoundBeforeWeight"/> x · rstd rounded into the dtype first (a branch a run, uniform:
    /// the one-rounding path pays a compare).</summary>
    public static Vec8F Normalize<TAccess>(in Vec8F x, in Vec8F w, float rstd, in RmsNormShape s) where TAccess : struct, IRunAccess =>
        s.RoundBeforeWeight != 0 ? Normalize(TAccess.Unpack(TAccess.Pack(Scale(x, rstd))), w, 1f, s.WeightOffset) : Normalize(x, w, rstd, s.WeightOffset);

    /// <summary>x · rstd, lane by lane.</summary>
    public static Vec8F Scale(in Vec8F x, float rstd) => new()
    {
        E0 = x.E0 * rstd, E1 = x.E1 * rstd, E2 = x.E2 * rstd, E3 = x.E3 * rstd,
        E4 = x.E4 * rstd, E5 = x.E5 * rstd, E6 = x.E6 * rstd, E7 = x.E7 * rstd,
    };

    /// <summary>x · rstd · (w + offset), lane by lane; without an offset, x · rstd · w (eight adds fewer a run in kernels
    /// that issue-bound, and w = −0 keeps its sign, as PyTorch's <c>weight * x</c> does).</summary>
    public static Vec8F Normalize(in Vec8F x, in Vec8F w, float rstd, float offset) => offset == 0f ? Normalize(x, w, rstd) : new()
    {
        E0 = x.E0 * rstd * (w.E0 + offset), E1 = x.E1 * rstd * (w.E1 + offset),
        E2 = x.E2 * rstd * (w.E2 + offset), E3 = x.E3 * rstd * (w.E3 + offset),
        E4 = x.E4 * rstd * (w.E4 + offset), E5 = x.E5 * rstd * (w.E5 + offset),
        E6 = x.E6 * rstd * (w.E6 + offset), E7 = x.E7 * rstd * (w.E7 + offset),
    };

    /// <summary>x · rstd · w, lane by lane.</summary>
    public static Vec8F Normalize(in Vec8F x, in Vec8F w, float rstd) => new()
    {
        E0 = x.E0 * rstd * w.E0, E1 = x.E1 * rstd * w.E1, E2 = x.E2 * rstd * w.E2, E3 = x.E3 * rstd * w.E3,
        E4 = x.E4 * rstd * w.E4, E5 = x.E5 * rstd * w.E5, E6 = x.E6 * rstd * w.E6, E7 = x.E7 * rstd * w.E7,
    };
}
