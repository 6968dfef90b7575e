using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>Sizes of one fused RMSNorm + RoPE launch, in runs of the access width W.</summary>
public struct RmsNormRopeShape
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
/// While it reduces and writes one row it already has the next row's x in flight, so memory
/// stays busy across the barrier; only the raw x packs live across it (weight, cos and sin are
/// re-read after it, from cache), which keeps registers and so occupancy in check.
/// Block (X, Y), thread (run, head); X·Y is a multiple of 32; threads with run ≥ HalfRuns or
/// head ≥ Heads are padding. Each thread owns matching runs of both halves of a head, so the
/// rotation needs no exchange: one read of x, one write of out, float32 math, one rounding at the
/// store. Rows wider than a block loop, re-reading their extra runs from cache.
/// </summary>
public static class RmsNormRopeKernel
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
            Vec4U xaRaw = xaNext, xbRaw = xbNext;
            int next = row + Grid.DimX;
            if (active && next < shape.Rows)
            {
                xaNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column);
                xbNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column + shape.HalfRuns);
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

            int ropeRun = (row % shape.Seq) * shape.HeadRuns;
            if (active)
                RotateAndStore<TAccess>(x, weight, cos, sin, output, rowRun, column, run, ropeRun, shape.HalfRuns, rstd, xaRaw, xbRaw);
            for (int h = head; h < shape.Heads; h += Group.DimY)
            {
                for (int r = h == head ? run + Group.DimX : run; r < shape.HalfRuns; r += Group.DimX)
                {
                    long a = rowRun + h * shape.HeadRuns + r;
                    RotateAndStore<TAccess>(x, weight, cos, sin, output, rowRun, h * shape.HeadRuns + r, r, ropeRun, shape.HalfRuns, rstd,
                        TAccess.LoadRaw(x, a), TAccess.LoadRaw(x, a + shape.HalfRuns));
                }
            }
        }
    }

    private static void RotateAndStore<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> output,
        long rowRun, int column, int run, int ropeRun, int halfRuns, float rstd, Vec4U xaRaw, Vec4U xbRaw)
        where TAccess : struct, IRunAccess
    {
        Vec8F ya = TAccess.Unpack(xaRaw).MultiplyScaled(TAccess.Unpack(TAccess.LoadRaw(weight, column)), rstd);
        Vec8F yb = TAccess.Unpack(xbRaw).MultiplyScaled(TAccess.Unpack(TAccess.LoadRaw(weight, column + halfRuns)), rstd);
        Vec8F ca = TAccess.Unpack(TAccess.LoadRaw(cos, ropeRun + run)), cb = TAccess.Unpack(TAccess.LoadRaw(cos, ropeRun + run + halfRuns));
        Vec8F sa = TAccess.Unpack(TAccess.LoadRaw(sin, ropeRun + run)), sb = TAccess.Unpack(TAccess.LoadRaw(sin, ropeRun + run + halfRuns));
        TAccess.Store(output, rowRun + column, Vec8F.MulAddMul(ya, ca, -1f, yb, sa));
        TAccess.Store(output, rowRun + column + halfRuns, Vec8F.MulAddMul(yb, cb, 1f, ya, sb));
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
    public static MethodInfo Variant(Type element, bool packed)
    {
        Type access = (packed ? typeof(PackedRun<>) : typeof(ScalarRun<>)).MakeGenericType(element);
        return typeof(RmsNormRopeKernel).GetMethod(nameof(Run))!.MakeGenericMethod(access);
    }

    /// <summary>Every instantiation the op layer can launch.</summary>
    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element) })
        {
            yield return Variant(element, packed: true);
            yield return Variant(element, packed: false);
        }
    }
}
