using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>Sizes of one fused RMSNorm + RoPE launch.</summary>
public struct RmsNormRopeShape
{
    public int Hidden;
    public int HeadDim;
    public int Seq;
    public float Eps;
    /// <summary>Runs of the access width in half a head: (HeadDim / 2) / Width.</summary>
    public int RunsPerHalf;
    /// <summary>(first-half run, second-half run) pairs in a row: Hidden / 2 / Width.</summary>
    public int PairsPerRow;
}

/// <summary>
/// RMSNorm then rotate-half RoPE, one row (token) per thread block, in one pass:
///   y = x · rsqrt(mean(x²) + eps) · w
///   out[d]        = y[d] · cos[d]        − y[d + h/2] · sin[d]
///   out[d + h/2]  = y[d + h/2] · cos[d + h/2] + y[d] · sin[d + h/2]     (d &lt; h/2, per head)
/// Each thread owns matching runs of both halves of a head, so the rotation needs no exchange
/// and x stays in registers between the reduction and the store: one read of x, one write of
/// out, float32 arithmetic, one rounding at the store.
/// </summary>
public static class RmsNormRopeKernel
{
    public static void Run<TAccess>(
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        long rowStart = (long)Grid.IdxX * shape.Hidden;
        long ropeStart = (long)(Grid.IdxX % shape.Seq) * shape.HeadDim;
        int half = shape.HeadDim / 2;
        int first = Group.IdxX;

        // The common case (a row fits one block) keeps its pair in registers.
        Vec8F xa = default, xb = default;
        if (first < shape.PairsPerRow)
        {
            long a = rowStart + FirstHalfColumn<TAccess>(first, shape);
            xa = TAccess.Load(x, a);
            xb = TAccess.Load(x, a + half);
        }
        float sumOfSquares = xa.SumOfSquares() + xb.SumOfSquares();
        for (int p = first + Group.DimX; p < shape.PairsPerRow; p += Group.DimX)
        {
            long a = rowStart + FirstHalfColumn<TAccess>(p, shape);
            sumOfSquares += TAccess.Load(x, a).SumOfSquares() + TAccess.Load(x, a + half).SumOfSquares();
        }

        float total = BlockReduce.Sum(sumOfSquares, scratch);
        float rstd = XMath.Rsqrt(total / shape.Hidden + shape.Eps);

        if (first < shape.PairsPerRow)
            RotateAndStore<TAccess>(first, xa, xb, rstd, rowStart, ropeStart, weight, cos, sin, output, shape);
        // Rows wider than one block re-read their extra pairs (from cache: this block just read them).
        for (int p = first + Group.DimX; p < shape.PairsPerRow; p += Group.DimX)
        {
            long a = rowStart + FirstHalfColumn<TAccess>(p, shape);
            RotateAndStore<TAccess>(p, TAccess.Load(x, a), TAccess.Load(x, a + half), rstd,
                rowStart, ropeStart, weight, cos, sin, output, shape);
        }
    }

    /// <summary>Column (within the row) of pair p's first-half run.</summary>
    private static int FirstHalfColumn<TAccess>(int pair, in RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        int head = pair / shape.RunsPerHalf;
        int run = pair - head * shape.RunsPerHalf;
        return head * shape.HeadDim + run * TAccess.Width;
    }

    private static void RotateAndStore<TAccess>(
        int pair, Vec8F xa, Vec8F xb, float rstd, long rowStart, long ropeStart,
        ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> output,
        in RmsNormRopeShape shape)
        where TAccess : struct, IRunAccess
    {
        int half = shape.HeadDim / 2;
        int column = FirstHalfColumn<TAccess>(pair, shape);
        long ropeColumn = ropeStart + (pair % shape.RunsPerHalf) * TAccess.Width;

        Vec8F ya = xa.MultiplyScaled(TAccess.Load(weight, column), rstd);
        Vec8F yb = xb.MultiplyScaled(TAccess.Load(weight, column + half), rstd);
        Vec8F outA = Vec8F.MulAddMul(ya, TAccess.Load(cos, ropeColumn), -1f, yb, TAccess.Load(sin, ropeColumn));
        Vec8F outB = Vec8F.MulAddMul(yb, TAccess.Load(cos, ropeColumn + half), 1f, ya, TAccess.Load(sin, ropeColumn + half));
        TAccess.Store(output, rowStart + column, outA);
        TAccess.Store(output, rowStart + column + half, outB);
    }

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
