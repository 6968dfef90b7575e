namespace TritonOps.Kernels.Common;

/// <summary>
/// Shared-memory tiles for <c>mma.sync</c> kernels whose operands are K-contiguous ([rows, K]
/// row-major: x, and weights stored [N, K]). A tile row holds 16 words of data (32 16-bit or 64
/// 8-bit elements of K) plus 4 words of padding: with a 20-word stride the eight rows one fragment
/// load touches fall in distinct banks. 256 threads load a tile as 16-byte chunks, four per row.
/// </summary>
internal static class MmaTiles
{
    public const int RowWords = 20;

    /// <summary>The word holding k-word <paramref name="kWord"/> of tile row <paramref name="row"/>.</summary>
    public static int Word(int row, int kWord) => row * RowWords + kWord;

    /// <summary>Chunk <paramref name="k"/>…+16 bytes of row <paramref name="row"/> of a [rows, K] matrix;
    /// zeros past its edges. <paramref name="aligned"/>: K·size is a multiple of 16, so rows start on
    /// 16-byte boundaries and whole chunks load as one access.</summary>
    public static Vec4U LoadChunk<TElement>(ArrayView<byte> matrix, int row, int k, int rows, int kEnd, bool aligned)
        where TElement : struct, IMmaElement
    {
        int perWord = 32 / TElement.BitsPerElement, perChunk = 4 * perWord;
        if (row >= rows || k >= kEnd)
            return default;
        long start = (long)row * kEnd + k;
        if (aligned && k + perChunk <= kEnd)
            return matrix.Cast<Vec4U>()[start / perChunk];
        return new Vec4U(
            WordAt<TElement>(matrix, start, k, kEnd), WordAt<TElement>(matrix, start + perWord, k + perWord, kEnd),
            WordAt<TElement>(matrix, start + 2 * perWord, k + 2 * perWord, kEnd), WordAt<TElement>(matrix, start + 3 * perWord, k + 3 * perWord, kEnd));
    }

    private static uint WordAt<TElement>(ArrayView<byte> matrix, long index, int k, int kEnd)
        where TElement : struct, IMmaElement
    {
        int bits = TElement.BitsPerElement;
        uint word = 0;
        for (int i = 0; i < 32 / bits; i++)
        {
            if (k + i < kEnd)
                word |= TElement.LoadBits(matrix, index + i) << (i * bits);
        }
        return word;
    }

    /// <summary>Stores a chunk at tile row <paramref name="row"/>, chunk column <paramref name="chunk"/> (0–3).</summary>
    public static void StoreChunk(ArrayView<uint> tile, int stageBase, int row, int chunk, Vec4U value) =>
        tile.Cast<Vec4U>()[(stageBase + Word(row, chunk * 4)) / 4] = value;

    /// <summary>A fragment for rows g, g+8 at k-word t of the half-step: word offsets 0 and +4 (k + 8 or k + 16 elements).</summary>
    public static FragA LoadFragA(ArrayView<uint> tile, int at) => new()
    {
        R0 = tile[at], R1 = tile[at + 8 * RowWords], R2 = tile[at + 4], R3 = tile[at + 8 * RowWords + 4],
    };

    /// <summary>One k step (16 16-bit or 32 8-bit elements) of a warp's 32 × 32 share: A fragments of its rows 0 and 16
    /// against the four B fragments of its columns, whose first word (column g, k-word t) is at <paramref name="bBase"/>.</summary>
    public static WarpAcc WarpStep<TElement, TFlavour>(WarpAcc acc, FragA f0, FragA f1, ArrayView<uint> tile, int bBase)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
    {
        uint b00 = tile[bBase], b01 = tile[bBase + 4];
        uint b10 = tile[bBase + 8 * RowWords], b11 = tile[bBase + 8 * RowWords + 4];
        uint b20 = tile[bBase + 16 * RowWords], b21 = tile[bBase + 16 * RowWords + 4];
        uint b30 = tile[bBase + 24 * RowWords], b31 = tile[bBase + 24 * RowWords + 4];
        return TFlavour.WarpTile<TElement>(acc, f0, f1, b00, b01, b10, b11, b20, b21, b30, b31);
    }

    /// <summary>
    /// Output tile (m0, n0) of block <paramref name="block"/> in grouped order: <paramref name="groupM"/>
    /// M-tiles × all N-tiles per group, so the blocks running at once share x and weight tiles in L2.
    /// </summary>
    public static (int M0, int N0) GroupedTile(int block, int mTiles, int nTiles, int groupM, int blockM, int blockN)
    {
        int perGroup = groupM * nTiles;
        int group = block / perGroup;
        int firstM = group * groupM;
        int rowsInGroup = Math.Min(groupM, mTiles - firstM);
        int inGroup = block - group * perGroup;
        return ((firstM + inGroup % rowsInGroup) * blockM, inGroup / rowsInGroup * blockN);
    }
}
