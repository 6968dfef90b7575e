using TritonOps.Kernels.QkNormRope;

namespace TritonOps.Kernels.FusedRmsNormRope;

/// <summary>
/// A thread's share of one row, held in registers from its load to its store: pairs first,
/// first + step, first + 2·step, … of the row, where pair p is run p % HalfRuns of head
/// p / HalfRuns together with the matching run of the head's second half (what rotate-half needs,
/// so no exchange between threads). The count is a type (<see cref="OnePair"/>,
/// <see cref="TwoOf{T}"/> of those, …) so every register has a constant index.
/// Pairs at or past <see cref="RmsNormRopeShape.Pairs"/> are padding: they load zeros and store nothing.
/// </summary>
internal interface IRowPairs<TSelf> where TSelf : struct, IRowPairs<TSelf>
{
    static abstract int Count { get; }

    static abstract TSelf Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;

    /// <summary>The thread's pairs located once for a walk over many rows: each pair's first run within
    /// the row (<see cref="OnePair.Column"/>, −1 for padding) and within its half-head (<see cref="OnePair.Run"/>).</summary>
    static abstract TSelf Locate(int first, int step, in RmsNormRopeShape s);

    /// <summary>Starts <c>cp.async</c> copies of the located pairs' 16-byte runs of the row at run
    /// <paramref name="rowRun"/> into the stage at byte <paramref name="slot"/>: the thread's
    /// <paramref name="index"/>-th pair's two runs go to run slots 2·index·step + t and
    /// (2·index + 1)·step + t, so a warp's copies are contiguous and each thread later reads back
    /// only what it copied itself (no barrier needed).</summary>
    static abstract void Stage(ArrayView<byte> shared, int slot, ArrayView<byte> x, ulong xAddress, long rowRun,
        in TSelf located, int index, int t, int step, in RmsNormRopeShape s);

    /// <summary>The half-head run of the thread's first pair: that of every pair when the block's
    /// thread count is a multiple of <see cref="RmsNormRopeShape.HalfRuns"/>.</summary>
    static abstract int RopeRun(in TSelf located);

    /// <summary>The pairs <see cref="Stage"/> copied, read back from the stage at run <paramref name="slotRun"/>.</summary>
    static abstract TSelf Unstage(ArrayView<Vec4U> shared, int slotRun, in TSelf located, int index, int t, int step);

    static abstract float SumOfSquares<TAccess>(in TSelf pairs) where TAccess : struct, IRunAccess;

    /// <summary>Issues every pair's weight, cos and sin loads now (cache hits), for <see cref="RotateAndStore"/>
    /// with <c>rotationLoaded</c>: their latency then hides behind the reduction, at the cost of registers.</summary>
    static abstract TSelf LoadRotation<TAccess>(TSelf pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        int ropeRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;

    /// <summary>Normalizes, weights, rotates and stores every pair, the weights and places taken from
    /// <paramref name="located"/> (<see cref="Locate"/>, then <see cref="LoadRotation"/> once) and cos and
    /// sin from the row's rotation tables staged at run <paramref name="ropeSlotRun"/> (cos runs, then sin runs).</summary>
    static abstract void RotateAndStoreStaged<TAccess>(in TSelf pairs, in TSelf located, ArrayView<Vec4U> shared, int ropeSlotRun,
        ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;

    /// <summary>As <see cref="RotateAndStoreStaged"/>, when every pair sits at the same position of its head
    /// (<see cref="RopeRun"/>): cos and sin come unpacked, read once per row instead of once per pair.</summary>
    static abstract void RotateAndStoreSharedRope<TAccess>(in TSelf pairs, in TSelf located, in Vec8F cosA, in Vec8F cosB,
        in Vec8F sinA, in Vec8F sinB, ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;

    /// <summary>Normalizes, weights, rotates and stores every pair; weight, cos and sin are loaded here
    /// (cache hits) unless <paramref name="rotationLoaded"/>.</summary>
    static abstract void RotateAndStore<TAccess>(in TSelf pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, bool rotationLoaded, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;
}

/// <summary>One pair: the raw runs of both halves (and, when loaded early, their weight, cos and sin).</summary>
internal struct OnePair : IRowPairs<OnePair>
{
    public Vec4U A, B, WeightA, WeightB, CosA, CosB, SinA, SinB;
    /// <summary>Set by <see cref="Locate"/>: the pair's first run within the row (−1: padding) and within its half-head.</summary>
    public int Column, Run;

    public static int Count => 1;

    public static OnePair Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.Pairs)
            return default;
        long a = rowRun + ColumnOf(first, s);
        return new OnePair { A = TAccess.LoadRaw(x, a), B = TAccess.LoadRaw(x, a + s.HalfRuns) };
    }

    public static OnePair Locate(int first, int step, in RmsNormRopeShape s)
    {
        int head = first / s.HalfRuns, run = first - head * s.HalfRuns;
        return new OnePair { Column = first < s.Pairs ? head * s.HeadRuns + run : -1, Run = run };
    }

    public static void Stage(ArrayView<byte> shared, int slot, ArrayView<byte> x, ulong xAddress, long rowRun,
        in OnePair located, int index, int t, int step, in RmsNormRopeShape s)
    {
        if (located.Column < 0)
            return;
        long a = rowRun + located.Column;
        PtxAsyncCopy.Copy16ToDynamic(shared, slot + (2 * index * step + t) * 16, x, xAddress, a * 16, 16);
        PtxAsyncCopy.Copy16ToDynamic(shared, slot + ((2 * index + 1) * step + t) * 16, x, xAddress, (a + s.HalfRuns) * 16, 16);
    }

    public static int RopeRun(in OnePair located) => located.Run;

    public static OnePair Unstage(ArrayView<Vec4U> shared, int slotRun, in OnePair located, int index, int t, int step) =>
        located.Column < 0 ? default
            : new OnePair { A = shared[slotRun + 2 * index * step + t], B = shared[slotRun + (2 * index + 1) * step + t] };

    public static float SumOfSquares<TAccess>(in OnePair pairs) where TAccess : struct, IRunAccess =>
        TAccess.Unpack(pairs.A).SumOfSquares() + TAccess.Unpack(pairs.B).SumOfSquares();

    public static OnePair LoadRotation<TAccess>(OnePair pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        int ropeRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.Pairs)
            return pairs;
        int head = first / s.HalfRuns, run = first - head * s.HalfRuns;
        int column = head * s.HeadRuns + run, rope = ropeRun + run;
        pairs.WeightA = TAccess.LoadRaw(weight, column);
        pairs.WeightB = TAccess.LoadRaw(weight, column + s.HalfRuns);
        pairs.CosA = TAccess.LoadRaw(cos, rope);
        pairs.CosB = TAccess.LoadRaw(cos, rope + s.HalfRuns);
        pairs.SinA = TAccess.LoadRaw(sin, rope);
        pairs.SinB = TAccess.LoadRaw(sin, rope + s.HalfRuns);
        return pairs;
    }

    public static void RotateAndStore<TAccess>(in OnePair pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, bool rotationLoaded, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.Pairs)
            return;
        OnePair p = rotationLoaded ? pairs : LoadRotation<TAccess>(pairs, weight, cos, sin, ropeRun, first, step, s);
        int head = first / s.HalfRuns, column = head * s.HeadRuns + first - head * s.HalfRuns;
        RmsNormRope.RotateAndStore<TAccess>(output, rowRun + column, s.HalfRuns, rstd, p.A, p.B,
            p.WeightA, p.WeightB, p.CosA, p.CosB, p.SinA, p.SinB);
    }

    public static void RotateAndStoreStaged<TAccess>(in OnePair pairs, in OnePair located, ArrayView<Vec4U> shared, int ropeSlotRun,
        ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (located.Column < 0)
            return;
        int cos = ropeSlotRun + located.Run, sin = cos + s.HeadRuns;
        RmsNormRope.RotateAndStore<TAccess>(output, rowRun + located.Column, s.HalfRuns, rstd, pairs.A, pairs.B,
            located.WeightA, located.WeightB, shared[cos], shared[cos + s.HalfRuns], shared[sin], shared[sin + s.HalfRuns]);
    }

    public static void RotateAndStoreSharedRope<TAccess>(in OnePair pairs, in OnePair located, in Vec8F cosA, in Vec8F cosB,
        in Vec8F sinA, in Vec8F sinB, ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (located.Column < 0)
            return;
        RmsNormRope.RotateAndStore<TAccess>(output, rowRun + located.Column, s.HalfRuns, rstd, pairs.A, pairs.B,
            located.WeightA, located.WeightB, cosA, cosB, sinA, sinB);
    }

    /// <summary>The first run of pair <paramref name="pair"/> within its row.</summary>
    private static int ColumnOf(int pair, in RmsNormRopeShape s)
    {
        int head = pair / s.HalfRuns;
        return head * s.HeadRuns + pair - head * s.HalfRuns;
    }
}

/// <summary>Twice <typeparamref name="T"/>'s pairs: the first T.Count of the thread's pairs, then the next.</summary>
internal struct TwoOf<T> : IRowPairs<TwoOf<T>> where T : struct, IRowPairs<T>
{
    public T First, Second;

    public static int Count => 2 * T.Count;

    public static TwoOf<T> Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess => new()
    {
        First = T.Load<TAccess>(x, rowRun, first, step, s),
        Second = T.Load<TAccess>(x, rowRun, first + T.Count * step, step, s),
    };

    public static TwoOf<T> Locate(int first, int step, in RmsNormRopeShape s) => new()
    {
        First = T.Locate(first, step, s),
        Second = T.Locate(first + T.Count * step, step, s),
    };

    public static void Stage(ArrayView<byte> shared, int slot, ArrayView<byte> x, ulong xAddress, long rowRun,
        in TwoOf<T> located, int index, int t, int step, in RmsNormRopeShape s)
    {
        T.Stage(shared, slot, x, xAddress, rowRun, located.First, index, t, step, s);
        T.Stage(shared, slot, x, xAddress, rowRun, located.Second, index + T.Count, t, step, s);
    }

    public static int RopeRun(in TwoOf<T> located) => T.RopeRun(located.First);

    public static TwoOf<T> Unstage(ArrayView<Vec4U> shared, int slotRun, in TwoOf<T> located, int index, int t, int step) => new()
    {
        First = T.Unstage(shared, slotRun, located.First, index, t, step),
        Second = T.Unstage(shared, slotRun, located.Second, index + T.Count, t, step),
    };

    public static float SumOfSquares<TAccess>(in TwoOf<T> pairs) where TAccess : struct, IRunAccess =>
        T.SumOfSquares<TAccess>(pairs.First) + T.SumOfSquares<TAccess>(pairs.Second);

    public static TwoOf<T> LoadRotation<TAccess>(TwoOf<T> pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        int ropeRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess => new()
    {
        First = T.LoadRotation<TAccess>(pairs.First, weight, cos, sin, ropeRun, first, step, s),
        Second = T.LoadRotation<TAccess>(pairs.Second, weight, cos, sin, ropeRun, first + T.Count * step, step, s),
    };

    public static void RotateAndStoreStaged<TAccess>(in TwoOf<T> pairs, in TwoOf<T> located, ArrayView<Vec4U> shared, int ropeSlotRun,
        ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        T.RotateAndStoreStaged<TAccess>(pairs.First, located.First, shared, ropeSlotRun, output, rowRun, rstd, s);
        T.RotateAndStoreStaged<TAccess>(pairs.Second, located.Second, shared, ropeSlotRun, output, rowRun, rstd, s);
    }

    public static void RotateAndStoreSharedRope<TAccess>(in TwoOf<T> pairs, in TwoOf<T> located, in Vec8F cosA, in Vec8F cosB,
        in Vec8F sinA, in Vec8F sinB, ArrayView<byte> output, long rowRun, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        T.RotateAndStoreSharedRope<TAccess>(pairs.First, located.First, cosA, cosB, sinA, sinB, output, rowRun, rstd, s);
        T.RotateAndStoreSharedRope<TAccess>(pairs.Second, located.Second, cosA, cosB, sinA, sinB, output, rowRun, rstd, s);
    }

    public static void RotateAndStore<TAccess>(in TwoOf<T> pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, bool rotationLoaded, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        T.RotateAndStore<TAccess>(pairs.First, weight, cos, sin, output, rowRun, ropeRun, first, step, rstd, rotationLoaded, s);
        T.RotateAndStore<TAccess>(pairs.Second, weight, cos, sin, output, rowRun, ropeRun, first + T.Count * step, step, rstd, rotationLoaded, s);
    }
}
