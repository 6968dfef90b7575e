using ILGPU;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>
/// A thread's share of one row, held in registers from its load to its store: pairs first,
/// first + step, first + 2·step, … of the row, where pair p is run p % HalfRuns of head
/// p / HalfRuns together with the matching run of the head's second half (what rotate-half needs,
/// so no exchange between threads). The count is a type (<see cref="OnePair"/>,
/// <see cref="TwoOf{T}"/> of those, …) so every register has a constant index.
/// Pairs at or past <see cref="RmsNormRopeShape.Pairs"/> are padding: they load zeros and store nothing.
/// </summary>
public interface IRowPairs<TSelf> where TSelf : struct, IRowPairs<TSelf>
{
    static abstract int Count { get; }

    static abstract TSelf Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;

    static abstract float SumOfSquares<TAccess>(in TSelf pairs) where TAccess : struct, IRunAccess;

    /// <summary>Normalizes, weights, rotates and stores every pair (weight, cos and sin are cache hits).</summary>
    static abstract void RotateAndStore<TAccess>(in TSelf pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess;
}

/// <summary>One pair: the raw runs of both halves.</summary>
public struct OnePair : IRowPairs<OnePair>
{
    public Vec4U A, B;

    public static int Count => 1;

    public static OnePair Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.Pairs)
            return default;
        long a = rowRun + Column(first, s);
        return new OnePair { A = TAccess.LoadRaw(x, a), B = TAccess.LoadRaw(x, a + s.HalfRuns) };
    }

    public static float SumOfSquares<TAccess>(in OnePair pairs) where TAccess : struct, IRunAccess =>
        TAccess.Unpack(pairs.A).SumOfSquares() + TAccess.Unpack(pairs.B).SumOfSquares();

    public static void RotateAndStore<TAccess>(in OnePair pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        if (first >= s.Pairs)
            return;
        int head = first / s.HalfRuns, run = first - head * s.HalfRuns;
        int column = head * s.HeadRuns + run, rope = ropeRun + run;
        RmsNormRopeKernel.RotateAndStore<TAccess>(output, rowRun + column, s.HalfRuns, rstd, pairs.A, pairs.B,
            TAccess.LoadRaw(weight, column), TAccess.LoadRaw(weight, column + s.HalfRuns),
            TAccess.LoadRaw(cos, rope), TAccess.LoadRaw(cos, rope + s.HalfRuns),
            TAccess.LoadRaw(sin, rope), TAccess.LoadRaw(sin, rope + s.HalfRuns));
    }

    /// <summary>The first run of pair <paramref name="pair"/> within its row.</summary>
    private static int Column(int pair, in RmsNormRopeShape s)
    {
        int head = pair / s.HalfRuns;
        return head * s.HeadRuns + pair - head * s.HalfRuns;
    }
}

/// <summary>Twice <typeparamref name="T"/>'s pairs: the first T.Count of the thread's pairs, then the next.</summary>
public struct TwoOf<T> : IRowPairs<TwoOf<T>> where T : struct, IRowPairs<T>
{
    public T First, Second;

    public static int Count => 2 * T.Count;

    public static TwoOf<T> Load<TAccess>(ArrayView<byte> x, long rowRun, int first, int step, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess => new()
    {
        First = T.Load<TAccess>(x, rowRun, first, step, s),
        Second = T.Load<TAccess>(x, rowRun, first + T.Count * step, step, s),
    };

    public static float SumOfSquares<TAccess>(in TwoOf<T> pairs) where TAccess : struct, IRunAccess =>
        T.SumOfSquares<TAccess>(pairs.First) + T.SumOfSquares<TAccess>(pairs.Second);

    public static void RotateAndStore<TAccess>(in TwoOf<T> pairs, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, long rowRun, int ropeRun, int first, int step, float rstd, in RmsNormRopeShape s)
        where TAccess : struct, IRunAccess
    {
        T.RotateAndStore<TAccess>(pairs.First, weight, cos, sin, output, rowRun, ropeRun, first, step, rstd, s);
        T.RotateAndStore<TAccess>(pairs.Second, weight, cos, sin, output, rowRun, ropeRun, first + T.Count * step, step, rstd, s);
    }
}
