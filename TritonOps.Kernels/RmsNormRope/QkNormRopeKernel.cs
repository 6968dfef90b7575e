using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;

namespace TritonOps.Kernels.RmsNormRope;

/// <summary>The sizes and choices of one <see cref="QkNormRopeKernel"/> launch (up to two tensors, q and k).</summary>
public struct QkNormRopeShape
{
    /// <summary>Tokens: batch · seq.</summary>
    public int Rows;
    public int Seq;
    /// <summary>Heads of tensor 0 (q) and tensor 1 (k, 0 when absent).</summary>
    public int Heads0, Heads1;
    public int HeadDim;
    /// <summary>Rotary dimensions of each head (the first ones), even, ≤ HeadDim.</summary>
    public int RotaryDim;
    /// <summary>0: rotate-half (i with i + RotaryDim/2); 1: interleaved (2i with 2i + 1).</summary>
    public int Interleaved;
    /// <summary>0: norm over the token's whole tensor row; 1: per head; 2: no norm (RoPE alone).</summary>
    public int Scope;
    public float Eps;
    /// <summary>Added to every weight (1 for Gemma's (1 + w)).</summary>
    public float WeightOffset;
    /// <summary>Rows of the cos/sin table.</summary>
    public int TableRows;
    /// <summary>0: token (b, s) reads table row s; 1: positions [batch · seq]; 2: positions [seq] shared by the batch.</summary>
    public int PositionsMode;
    /// <summary>4 (int32) or 8 (int64).</summary>
    public int PositionBytes;
}

/// <summary>
/// RMSNorm (over the token's row, per head, or none) then RoPE (rotate-half or interleaved, over the first
/// RotaryDim dimensions of each head; the rest are normalized and weighted only) for q and k in one launch,
/// each token at its own position in a [TableRows, RotaryDim] cos/sin table of <c>TTable</c>
/// (float32, or x's dtype). Block (token, tensor): 4 warps; warp w takes heads w, w + 4, …; each lane takes
/// rotary pairs lane, lane + 32, …, then the pass-through dims. Float32 math, one rounding at the store;
/// sums of squares in a fixed order (the same bits on every run). A position outside [0, TableRows) reads
/// nothing and writes NaN over the token's whole row.
/// For y = norm(x)·(w + offset) and dim j of a pair (i, j): out_i = y_i·cos_i − y_j·sin_i, out_j = y_j·cos_j + y_i·sin_j.
/// </summary>
public static class QkNormRopeKernel
{
    public const int Threads = 128, Warps = Threads / 32;

    [GlobalMemoryOnly]
    public static void Run<TElement, TTable>(
        ArrayView<byte> q, ArrayView<byte> k, ArrayView<byte> qWeight, ArrayView<byte> kWeight,
        ArrayView<byte> cos, ArrayView<byte> sin, ArrayView<byte> positions,
        ArrayView<byte> qOut, ArrayView<byte> kOut, QkNormRopeShape s)
        where TElement : struct, IElementType
        where TTable : struct, IElementType
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int row = Grid.IdxX, tensor = Grid.IdxY;
        int heads = tensor == 0 ? s.Heads0 : s.Heads1;
        var x = tensor == 0 ? q : k;
        var weight = tensor == 0 ? qWeight : kWeight;
        var output = tensor == 0 ? qOut : kOut;
        int hidden = heads * s.HeadDim;
        long first = (long)row * hidden;
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;

        int position = row % s.Seq;
        if (s.PositionsMode != 0)
        {
            long at = s.PositionsMode == 1 ? row : row % s.Seq;
            long wide = s.PositionBytes == 8 ? positions.Cast<long>()[at] : positions.Cast<int>()[at];
            position = wide < 0 || wide >= s.TableRows ? -1 : (int)wide;
        }
        if (position < 0 || position >= s.TableRows)
        {
            // Never read outside the table: the token's row becomes NaN, which no later step can mistake for a value.
            uint nan = TElement.Narrow(float.NaN);
            for (int i = tid; i < hidden; i += Threads)
                TElement.StoreBits(output, first + i, nan);
            return;
        }

        float rstd = 1f;
        if (s.Scope == 0)
        {
            float sum = 0f;
            for (int i = tid; i < hidden; i += Threads)
            {
                float v = TElement.Widen(TElement.LoadBits(x, first + i));
                sum += v * v;
            }
            rstd = XMath.Rsqrt(BlockReduce.Sum(sum, scratch) / hidden + s.Eps);
        }

        long tableRow = (long)position * s.RotaryDim;
        int halfRotary = s.RotaryDim / 2;
        for (int head = warp; head < heads; head += Warps)
        {
            long headFirst = first + (long)head * s.HeadDim;
            int weightFirst = s.Scope == 0 ? head * s.HeadDim : 0;
            float scale = rstd;
            if (s.Scope == 1)
            {
                float sum = 0f;
                for (int d = lane; d < s.HeadDim; d += 32)
                {
                    float v = TElement.Widen(TElement.LoadBits(x, headFirst + d));
                    sum += v * v;
                }
                scale = XMath.Rsqrt(BlockReduce.WarpSum(sum) / s.HeadDim + s.Eps);
            }

            for (int p = lane; p < halfRotary; p += 32)
            {
                int i = s.Interleaved != 0 ? 2 * p : p;
                int j = s.Interleaved != 0 ? 2 * p + 1 : p + halfRotary;
                float yi = Normed<TElement>(x, weight, headFirst, weightFirst, i, scale, s);
                float yj = Normed<TElement>(x, weight, headFirst, weightFirst, j, scale, s);
                float cosI = TTable.Widen(TTable.LoadBits(cos, tableRow + i)), sinI = TTable.Widen(TTable.LoadBits(sin, tableRow + i));
                float cosJ = TTable.Widen(TTable.LoadBits(cos, tableRow + j)), sinJ = TTable.Widen(TTable.LoadBits(sin, tableRow + j));
                TElement.StoreBits(output, headFirst + i, TElement.Narrow(yi * cosI - yj * sinI));
                TElement.StoreBits(output, headFirst + j, TElement.Narrow(yj * cosJ + yi * sinJ));
            }
            for (int d = s.RotaryDim + lane; d < s.HeadDim; d += 32)
                TElement.StoreBits(output, headFirst + d, TElement.Narrow(Normed<TElement>(x, weight, headFirst, weightFirst, d, scale, s)));
        }
    }

    /// <summary>Dim <paramref name="d"/> of a head, normalized and weighted (no weight without a norm).</summary>
    private static float Normed<TElement>(ArrayView<byte> x, ArrayView<byte> weight, long headFirst, int weightFirst, int d, float scale, in QkNormRopeShape s)
        where TElement : struct, IElementType
    {
        float v = TElement.Widen(TElement.LoadBits(x, headFirst + d));
        if (s.Scope == 2)
            return v;
        float w = TElement.Widen(TElement.LoadBits(weight, weightFirst + d)) + s.WeightOffset;
        return v * scale * w;
    }

    public static MethodInfo Variant(Type element, Type table) =>
        KernelMethods.Get(typeof(QkNormRopeKernel), nameof(Run), element, table);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in new[] { typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element) })
        {
            yield return Variant(element, element);
            if (element != typeof(Float32Element))
                yield return Variant(element, typeof(Float32Element));
        }
    }
}
