using ILGPU;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Common;

/// <summary>
/// The shared-memory stages of the warpgroup (<c>wgmma</c>) GEMMs: each stage holds 64 bytes of K
/// of every tile row, chunk-major (all rows' first 16 bytes, then the second 16, …), which is the
/// no-swizzle canonical layout of <see cref="SmemOperand"/> with SBO = 128 and LBO = rows · 16.
/// A stage's rows come from up to three K-contiguous matrices one after another (a then b; or x,
/// gate, up), each segment a multiple of 8 rows. Filled with <c>cp.async</c>: rows past a matrix's
/// end and bytes past K are zero-filled and never read.
/// </summary>
public static class StagedTiles
{
    /// <summary>Bytes of K per row per stage.</summary>
    public const int KBytes = 64;

    /// <summary>The operand descriptor of the rows from tile row <paramref name="firstRow"/> of the stage at byte <paramref name="slot"/>.</summary>
    public static SmemOperand Operand(int slot, int rows, int firstRow) =>
        new() { Offset = slot + firstRow * 16, Lbo = rows * 16, Sbo = 128 };

    /// <summary>
    /// Copies one stage: tile rows [0, end0) from <paramref name="m0"/> rows first0…, [end0, end1) from m1,
    /// [end1, rows) from m2; every matrix has rows of <paramref name="rowBytes"/> bytes (16-byte aligned)
    /// and <paramref name="limit0"/>… rows in all. Lanes 0–7 of a warp copy 8 rows of one chunk: 128
    /// contiguous shared bytes (no bank conflicts); a warp reads 64 contiguous bytes of each of 8 rows.
    /// </summary>
    public static void Load(ArrayView<byte> shared, int slot, int rows, int threads, long rowBytes, long kByte,
        ArrayView<byte> m0, ulong address0, int first0, int limit0, int end0,
        ArrayView<byte> m1, ulong address1, int first1, int limit1, int end1,
        ArrayView<byte> m2, ulong address2, int first2, int limit2)
    {
        int lbo = rows * 16;
        for (int q = Group.IdxX; q < rows * 4; q += threads)
        {
            int row = (q & 7) + 8 * (q >> 5), chunk = (q >> 3) & 3;
            int dst = slot + chunk * lbo + row * 16;
            long k = kByte + chunk * 16;
            int bytes = (int)Math.Max(0, Math.Min(16, rowBytes - k));
            // The segment is warp-uniform: a warp's 32 copies cover 8 rows of one segment.
            if (row < end0)
                Copy(shared, dst, m0, address0, first0 + row, limit0, rowBytes, k, bytes);
            else if (row < end1)
                Copy(shared, dst, m1, address1, first1 + row - end0, limit1, rowBytes, k, bytes);
            else
                Copy(shared, dst, m2, address2, first2 + row - end1, limit2, rowBytes, k, bytes);
        }
    }

    private static void Copy(ArrayView<byte> shared, int dst, ArrayView<byte> matrix, ulong address, int row, int limit, long rowBytes, long k, int bytes)
    {
        if (row >= limit)
            bytes = 0;
        PtxAsyncCopy.Copy16(shared, dst, matrix, address, bytes > 0 ? row * rowBytes + k : 0, bytes);
    }
}
