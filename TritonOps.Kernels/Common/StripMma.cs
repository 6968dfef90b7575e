namespace TritonOps.Kernels.Common;

/// <summary>
/// Fragments for small-M (decode) products, where the weights must stream from device memory at
/// full rate and the tensor cores are nearly idle. A warp owns an 8-row strip of a K-contiguous
/// [N, K] weight (the mma's n8) against 16 rows of x (its m16), and feeds the tensor cores straight
/// from 16-byte global loads, with no shared-memory staging.
/// <para>The trick: a sum over k does not care which physical k sits in which fragment slot, as long
/// as A and B agree. Lane (g, t) loads 16 bytes at k0 + 16t of x rows g and g + 8 and of weight row
/// g; each 16-byte chunk feeds two mma: words (X, Y) and then (Z, W) go where the PTX layout puts
/// (k 2t…2t+1, 2t+8…2t+9) for 16-bit types or (k 4t…4t+3, 16+4t…) for 8-bit ones. Slot k of
/// lane t maps to the same physical k in A and B, so each 64-wide k step is an exact permutation
/// of the product. One warp then streams 8 weight rows × 128 contiguous bytes per step.</para>
/// </summary>
internal static class StripMma
{
    /// <summary>Weight rows per warp (the mma's n).</summary>
    public const int StripRows = 8;

    /// <summary>x rows per mma (the mma's m).</summary>
    public const int SliceRows = 16;

    /// <summary>K a warp covers per step: 4 lanes × 16 elements (two 16-byte chunks of a 16-bit type, one of FP8).</summary>
    public const int KStep = 64;

    /// <summary>
    /// The 16-byte chunk at (row, k) of a [rows, K] matrix with no bounds checks, for steps wholly
    /// inside K of a 16-byte-aligned matrix; <paramref name="rowChunk"/> = row · K / chunk width.
    /// Rows past the matrix are read clamped to its last row by the callers: a garbage A row only
    /// feeds output rows that are never stored, and likewise a B column.
    /// </summary>
    public static Vec4U Chunk(ArrayView<byte> matrix, long rowChunk, int chunkInRow) =>
        matrix.Cast<Vec4U>()[rowChunk + chunkInRow];

    /// <summary>The A fragment of words X, Y of this lane's chunks of x rows g (<paramref name="top"/>) and g + 8.</summary>
    public static FragA LowA(Vec4U top, Vec4U bottom) => new() { R0 = top.X, R1 = bottom.X, R2 = top.Y, R3 = bottom.Y };

    /// <summary>The A fragment of words Z, W.</summary>
    public static FragA HighA(Vec4U top, Vec4U bottom) => new() { R0 = top.Z, R1 = bottom.Z, R2 = top.W, R3 = bottom.W };

    /// <summary>Two m16n8k16 products of one 16-byte chunk of x rows (g, g + 8) and of weight row g.</summary>
    public static Acc4 Mma16<TElement, TFlavour>(Acc4 acc, Vec4U xTop, Vec4U xBottom, Vec4U w)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour =>
        TFlavour.TwoSteps<TElement>(acc, LowA(xTop, xBottom), w.X, w.Y, HighA(xTop, xBottom), w.Z, w.W);

    /// <summary><see cref="Mma16{TElement, TFlavour}"/> of chunk 0, then of chunk 1 (one exchange when emulated).</summary>
    public static Acc4 Mma16Twice<TElement, TFlavour>(Acc4 acc, Vec4U xTop0, Vec4U xBottom0, Vec4U w0, Vec4U xTop1, Vec4U xBottom1, Vec4U w1)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour =>
        TFlavour.FourSteps<TElement>(acc, LowA(xTop0, xBottom0), w0.X, w0.Y, HighA(xTop0, xBottom0), w0.Z, w0.W,
            LowA(xTop1, xBottom1), w1.X, w1.Y, HighA(xTop1, xBottom1), w1.Z, w1.W);

    /// <summary>Parks a partial accumulator in shared memory at <paramref name="slot"/> (in units of one
    /// warp's Acc4: 128 floats), for the warp that owns the strip's other k to add after a barrier.</summary>
    public static void Park(ArrayView<float> scratch, int slot, Acc4 acc)
    {
        int at = (slot * 32 + Warp.LaneIdx) * 4;
        scratch[at] = acc.C0; scratch[at + 1] = acc.C1; scratch[at + 2] = acc.C2; scratch[at + 3] = acc.C3;
    }

    /// <summary><paramref name="acc"/> plus what <see cref="Park"/> left at <paramref name="slot"/>.</summary>
    public static Acc4 AddParked(ArrayView<float> scratch, int slot, Acc4 acc)
    {
        int at = (slot * 32 + Warp.LaneIdx) * 4;
        acc.C0 += scratch[at]; acc.C1 += scratch[at + 1]; acc.C2 += scratch[at + 2]; acc.C3 += scratch[at + 3];
        return acc;
    }
}
