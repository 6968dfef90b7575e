using ILGPU.Algorithms;

using TritonOps.Kernels.QkNormRope;

namespace TritonOps.Kernels.FusedRmsNormRope;

/// <summary>Sizes of one fused RMSNorm + RoPE launch, in runs of the access width W.</summary>
internal struct RmsNormRopeShape
{
    /// <summary>batch · seq.</summary>
    public int Rows;
    public int Seq;
    public int Heads;
    /// <summary>Runs in half a head: (head_dim / 2) / W.</summary>
    public int HalfRuns;
    /// <summary>Runs in a head: head_dim / W.</summary>
    public int HeadRuns;
    /// <summary>Runs in a row: hidden / W.</summary>
    public int RowRuns;
    /// <summary>Pairs of runs in a row (one run from each half of a head): Heads · HalfRuns.</summary>
    public int Pairs;
    /// <summary>1 / hidden, so the mean is one multiply.</summary>
    public float InvHidden;
    public float Eps;
}

/// <summary>
/// RMSNorm then rotate-half RoPE in one pass:
///   y = x · rsqrt(mean(x²) + eps) · w
///   out[d]       = y[d] · cos[d]             − y[d + h/2] · sin[d]
///   out[d + h/2] = y[d + h/2] · cos[d + h/2] + y[d] · sin[d + h/2]      (d &lt; h/2, per head)
/// Block b handles rows b, b + G, b + 2G, … (G = grid size; G = rows gives one row per block).
/// Before each reduction a thread has issued every load it will need: the next row's x (so DRAM
/// stays busy across the barrier) and this row's weight, cos and sin (cache hits whose latency
/// then hides behind the reduction). Values stay packed until used, to spare registers.
/// Block (X, Y), thread (run, head); X·Y is a multiple of 32; threads with run ≥ HalfRuns or
/// head ≥ Heads are padding. Each thread owns matching runs of both halves of a head, so the
/// rotation needs no exchange: one read of x, one write of out, float32 math, one rounding at the
/// store. Rows wider than a block loop, re-reading their extra runs from cache.
/// </summary>
internal static class RmsNormRopeKernel
{
    [GlobalMemoryOnly]
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int run = Group.IdxX, head = Group.IdxY;
        bool active = head < shape.Heads && run < shape.HalfRuns;
        int column = head * shape.HeadRuns + run;

        int row = Grid.IdxX;
        Vec4U xaNext = default, xbNext = default;
        if (active && row < shape.Rows)
        {
            xaNext = TAccess.LoadRaw(x, (long)row * shape.RowRuns + column);
            xbNext = TAccess.LoadRaw(x, (long)row * shape.RowRuns + column + shape.HalfRuns);
        }

        for (; row < shape.Rows; row += Grid.DimX)
        {
            long rowRun = (long)row * shape.RowRuns;
            int ropeRun = (row % shape.Seq) * shape.HeadRuns;
            Vec4U xaRaw = xaNext, xbRaw = xbNext;
            Vec4U waRaw = default, wbRaw = default, caRaw = default, cbRaw = default, saRaw = default, sbRaw = default;
            if (active)
            {
                // Next row's x first (it comes from DRAM), then this row's weight and rotation
                // (cache hits): all in flight while the block reduces.
                int next = row + Grid.DimX;
                if (next < shape.Rows)
                {
                    xaNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column);
                    xbNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column + shape.HalfRuns);
                }
                waRaw = TAccess.LoadRaw(weight, column);
                wbRaw = TAccess.LoadRaw(weight, column + shape.HalfRuns);
                caRaw = TAccess.LoadRaw(cos, ropeRun + run);
                cbRaw = TAccess.LoadRaw(cos, ropeRun + run + shape.HalfRuns);
                saRaw = TAccess.LoadRaw(sin, ropeRun + run);
                sbRaw = TAccess.LoadRaw(sin, ropeRun + run + shape.HalfRuns);
            }

            float sumOfSquares = TAccess.Unpack(xaRaw).SumOfSquares() + TAccess.Unpack(xbRaw).SumOfSquares();
            for (int h = head; h < shape.Heads; h += Group.DimY)
            {
                for (int r = h == head ? run + Group.DimX : run; r < shape.HalfRuns; r += Group.DimX)
                {
                    long a = rowRun + h * shape.HeadRuns + r;
                    sumOfSquares += TAccess.Unpack(TAccess.LoadRaw(x, a)).SumOfSquares()
                        + TAccess.Unpack(TAccess.LoadRaw(x, a + shape.HalfRuns)).SumOfSquares();
                }
            }

            float rstd = XMath.Rsqrt(BlockReduce.Sum(sumOfSquares, scratch) * shape.InvHidden + shape.Eps);

            if (active)
                RotateAndStore<TAccess>(output, rowRun + column, shape.HalfRuns, rstd, xaRaw, xbRaw, waRaw, wbRaw, caRaw, cbRaw, saRaw, sbRaw);
            for (int h = head; h < shape.Heads; h += Group.DimY)
            {
                for (int r = h == head ? run + Group.DimX : run; r < shape.HalfRuns; r += Group.DimX)
                {
                    int c = h * shape.HeadRuns + r;
                    long a = rowRun + c;
                    RotateAndStore<TAccess>(output, a, shape.HalfRuns, rstd,
                        TAccess.LoadRaw(x, a), TAccess.LoadRaw(x, a + shape.HalfRuns),
                        TAccess.LoadRaw(weight, c), TAccess.LoadRaw(weight, c + shape.HalfRuns),
                        TAccess.LoadRaw(cos, ropeRun + r), TAccess.LoadRaw(cos, ropeRun + r + shape.HalfRuns),
                        TAccess.LoadRaw(sin, ropeRun + r), TAccess.LoadRaw(sin, ropeRun + r + shape.HalfRuns));
                }
            }
        }
    }

    internal static void RotateAndStore<TAccess>(
        ArrayView<byte> output, long firstRun, int halfRuns, float rstd,
        Vec4U xa, Vec4U xb, Vec4U wa, Vec4U wb, Vec4U ca, Vec4U cb, Vec4U sa, Vec4U sb)
        where TAccess : struct, IRunAccess
        => RotateAndStore<TAccess>(output, firstRun, halfRuns, rstd, xa, xb, wa, wb,
            TAccess.Unpack(ca), TAccess.Unpack(cb), TAccess.Unpack(sa), TAccess.Unpack(sb));

    /// <summary>As above with cos and sin already unpacked (shared by all pairs at one position of a head).</summary>
    internal static void RotateAndStore<TAccess>(
        ArrayView<byte> output, long firstRun, int halfRuns, float rstd,
        Vec4U xa, Vec4U xb, Vec4U wa, Vec4U wb, in Vec8F ca, in Vec8F cb, in Vec8F sa, in Vec8F sb)
        where TAccess : struct, IRunAccess
    {
        Vec8F ya = TAccess.Unpack(xa).MultiplyScaled(TAccess.Unpack(wa), rstd);
        Vec8F yb = TAccess.Unpack(xb).MultiplyScaled(TAccess.Unpack(wb), rstd);
        TAccess.Store(output, firstRun, Vec8F.MulAddMul(ya, ca, -1f, yb, sa));
        TAccess.Store(output, firstRun + halfRuns, Vec8F.MulAddMul(yb, cb, 1f, ya, sb));
    }

    /// <summary>Block shape (X runs × Y heads): X·Y ≤ <paramref name="maxThreads"/> (a multiple of 32)
    /// and a multiple of the 32-lane warp, so the warp-shuffle reduction never sees a partial warp.</summary>
    public static (int X, int Y) BlockShape(int halfRuns, int heads, int maxThreads)
    {
        if (halfRuns >= 32)
        {
            int x = Math.Min(maxThreads, halfRuns / 32 * 32);
            return (x, Math.Max(1, Math.Min(heads, maxThreads / x)));
        }
        int unit = 32 / Gcd(halfRuns, 32); // heads per warp-aligned step
        if (halfRuns * unit > maxThreads)
            return (32, maxThreads / 32); // padding runs; still whole warps
        int y = (Math.Min(heads, maxThreads / halfRuns) + unit - 1) / unit * unit;
        if (halfRuns * y > maxThreads)
            y -= unit;
        return (halfRuns, y);
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>The instantiation for one dtype and access form.</summary>
    public static MethodInfo Variant(Type element, bool packed) =>
        KernelMethods.Get(typeof(RmsNormRopeKernel), nameof(Run), RunAccess.Of(element, packed));

    /// <summary>Every instantiation the op layer can launch.</summary>
    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats from packed in new[] { true, false } select Variant(element, packed);
}
