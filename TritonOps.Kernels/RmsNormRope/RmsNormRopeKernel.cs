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
/// Persistent grid: block b handles rows b, b + G, b + 2G, … and, while it reduces and writes one
/// row, already has the next row's x in flight, so memory stays busy across the barrier. Block
/// (X, Y) with thread (run, head): X ≤ half-head runs, X·Y a multiple of 32 (padding threads have
/// head ≥ Heads). Each thread owns matching runs of both halves of a head, so the rotation needs no
/// exchange and x stays in registers between the reduction and the store: one read of x, one
/// write of out, float32 math, one rounding at the store. Rows wider than a block loop, re-reading
/// their extra runs from cache.
/// </summary>
public static class RmsNormRopeKernel
{
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int run = Group.IdxX, head = Group.IdxY;
        bool active = head < shape.Heads;
        int column = head * shape.HeadRuns + run;

        // This thread's weight runs are the same for every row: load them once.
        Vec4U waRaw = default, wbRaw = default, xaNext = default, xbNext = default;
        int row = Grid.IdxX;
        if (active)
        {
            waRaw = TAccess.LoadRaw(weight, column);
            wbRaw = TAccess.LoadRaw(weight, column + shape.HalfRuns);
            if (row < shape.Rows)
            {
                xaNext = TAccess.LoadRaw(x, (long)row * shape.RowRuns + column);
                xbNext = TAccess.LoadRaw(x, (long)row * shape.RowRuns + column + shape.HalfRuns);
            }
        }

        for (; row < shape.Rows; row += Grid.DimX)
        {
            long rowRun = (long)row * shape.RowRuns;
            int ropeRun = (row % shape.Seq) * shape.HeadRuns;
            Vec4U xaRaw = xaNext, xbRaw = xbNext;
            Vec4U caRaw = default, cbRaw = default, saRaw = default, sbRaw = default;
            if (active)
            {
                // Next row first (it has the longest way to come), then this row's rotation.
                int next = row + Grid.DimX;
                if (next < shape.Rows)
                {
                    xaNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column);
                    xbNext = TAccess.LoadRaw(x, (long)next * shape.RowRuns + column + shape.HalfRuns);
                }
                caRaw = TAccess.LoadRaw(cos, ropeRun + run);
                cbRaw = TAccess.LoadRaw(cos, ropeRun + run + shape.HalfRuns);
                saRaw = TAccess.LoadRaw(sin, ropeRun + run);
                sbRaw = TAccess.LoadRaw(sin, ropeRun + run + shape.HalfRuns);
            }

            Vec8F xa = TAccess.Unpack(xaRaw), xb = TAccess.Unpack(xbRaw);
            float sumOfSquares = xa.SumOfSquares() + xb.SumOfSquares();
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
            {
                RotateAndStore<TAccess>(output, rowRun + column, shape.HalfRuns, rstd, xa, xb,
                    TAccess.Unpack(waRaw), TAccess.Unpack(wbRaw), TAccess.Unpack(caRaw), TAccess.Unpack(cbRaw),
                    TAccess.Unpack(saRaw), TAccess.Unpack(sbRaw));
            }
            for (int h = head; h < shape.Heads; h += Group.DimY)
            {
                for (int r = h == head ? run + Group.DimX : run; r < shape.HalfRuns; r += Group.DimX)
                {
                    int c = h * shape.HeadRuns + r;
                    long a = rowRun + c;
                    RotateAndStore<TAccess>(output, a, shape.HalfRuns, rstd,
                        TAccess.Unpack(TAccess.LoadRaw(x, a)), TAccess.Unpack(TAccess.LoadRaw(x, a + shape.HalfRuns)),
                        TAccess.Unpack(TAccess.LoadRaw(weight, c)), TAccess.Unpack(TAccess.LoadRaw(weight, c + shape.HalfRuns)),
                        TAccess.Unpack(TAccess.LoadRaw(cos, ropeRun + r)), TAccess.Unpack(TAccess.LoadRaw(cos, ropeRun + r + shape.HalfRuns)),
                        TAccess.Unpack(TAccess.LoadRaw(sin, ropeRun + r)), TAccess.Unpack(TAccess.LoadRaw(sin, ropeRun + r + shape.HalfRuns)));
                }
            }
        }
    }

    private static void RotateAndStore<TAccess>(
        ArrayView<byte> output, long firstRun, int halfRuns, float rstd, in Vec8F xa, in Vec8F xb,
        in Vec8F wa, in Vec8F wb, in Vec8F ca, in Vec8F cb, in Vec8F sa, in Vec8F sb)
        where TAccess : struct, IRunAccess
    {
        Vec8F ya = xa.MultiplyScaled(wa, rstd);
        Vec8F yb = xb.MultiplyScaled(wb, rstd);
        TAccess.Store(output, firstRun, Vec8F.MulAddMul(ya, ca, -1f, yb, sa));
        TAccess.Store(output, firstRun + halfRuns, Vec8F.MulAddMul(yb, cb, 1f, ya, sb));
    }

    /// <summary>Block shape (X runs × Y heads) for a row: X·Y ≤ 1024 and a multiple of the
    /// 32-lane warp, so the warp-shuffle reduction never sees a partial warp.</summary>
    public static (int X, int Y) BlockShape(int halfRuns, int heads)
    {
        if (halfRuns >= 32)
        {
            int x = Math.Min(1024, halfRuns / 32 * 32);
            return (x, Math.Max(1, Math.Min(heads, 1024 / x)));
        }
        int unit = 32 / Gcd(halfRuns, 32); // heads per warp-aligned step
        int y = (Math.Min(heads, 1024 / halfRuns) + unit - 1) / unit * unit;
        if (halfRuns * y > 1024)
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
