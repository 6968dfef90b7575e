namespace TritonOps.Kernels.Common;

/// <summary>
/// The shared-memory stages of the warpgroup (<c>wgmma</c>) GEMM, in the layout the copy engine writes
/// with a 128-byte-swizzle tensor map: each stage holds 128 bytes of K of every tile row, row r at
/// r · 128, its 16-byte chunk c at position c ^ (r mod 8), 8-row atoms of 1024 bytes from a 1024-byte
/// boundary (<see cref="SmemOperand.Swizzled"/>). A stage's rows come from two K-contiguous matrices one
/// after the other (a's rows, then b's). Where there is no copy engine (the CPU accelerator) threads
/// fill the same layout with <c>cp.async</c>: rows past a matrix's end and bytes past K are zero-filled.
/// </summary>
internal static class StagedTiles
{
    /// <summary>Bytes of K per row per stage.</summary>
    public const int KBytes = 128;

    /// <summary>16-byte chunks of K per row per stage.</summary>
    private const int Chunks = KBytes / 16;

    /// <summary>The operand descriptor of the rows from tile row <paramref name="firstRow"/> of a stage at byte
    /// <paramref name="slot"/> (1024-byte aligned) in the 128-byte-swizzled layout of <see cref="LoadSwizzled"/>.</summary>
    public static SmemOperand SwizzledOperand(int slot, int firstRow) =>
        new() { Offset = slot + firstRow * KBytes, Lbo = 16, Sbo = 8 * KBytes, Swizzled = true };

    /// <summary>
    /// Copies one stage with <c>cp.async</c>: tile rows [0, split) from <paramref name="m0"/> rows first0…,
    /// [split, rows) from m1 rows first1…; both matrices have rows of <paramref name="rowBytes"/> bytes
    /// (16-byte aligned) and limit0 / limit1 rows in all. The <paramref name="threads"/> copying threads are
    /// numbered from 0 (<paramref name="thread"/>). Eight lanes copy one row: a warp reads four whole 128-byte
    /// lines of global memory and writes 512 contiguous shared bytes (no bank conflicts).
    /// </summary>
    public static void LoadSwizzled(ArrayView<byte> shared, int slot, int rows, int thread, int threads, long rowBytes, long kByte, int split,
        ArrayView<byte> m0, ulong address0, int first0, int limit0,
        ArrayView<byte> m1, ulong address1, int first1, int limit1)
    {
        for (int q = thread; q < rows * Chunks; q += threads)
        {
            int row = q >> 3, chunk = q & 7;
            int dst = slot + row * KBytes + ((chunk ^ (row & 7)) << 4);
            long k = kByte + chunk * 16;
            int bytes = (int)Math.Max(0, Math.Min(16, rowBytes - k));
            // The segment is warp-uniform when split is a multiple of 4 rows.
            if (row < split)
                Copy(shared, dst, m0, address0, first0 + row, limit0, rowBytes, k, bytes);
            else
                Copy(shared, dst, m1, address1, first1 + row - split, limit1, rowBytes, k, bytes);
        }
    }

    private static void Copy(ArrayView<byte> shared, int dst, ArrayView<byte> matrix, ulong address, int row, int limit, long rowBytes, long k, int bytes)
    {
        if (row >= limit)
            bytes = 0;
        PtxAsyncCopy.Copy16ToDynamic(shared, dst, matrix, address, bytes > 0 ? row * rowBytes + k : 0, bytes);
    }
}
