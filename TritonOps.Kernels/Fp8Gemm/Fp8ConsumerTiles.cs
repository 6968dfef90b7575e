namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>
/// What one consumer warpgroup of <see cref="Fp8GemmWarpSpecializedKernel"/> accumulates: <see cref="Count"/>
/// blocks of 64 rows × 128 columns stacked along M (a type, so every register has a constant index).
/// Each k tile's 128-deep partial comes out of one <c>wgmma</c> block and is added into float32 here
/// (Hopper's FP8 tensor cores accumulate with about 14 significant bits, docs/gpu-notes.md; so the error stays
/// that of one partial instead of growing with K, as with cuBLAS's default promotion every 128).
/// </summary>
internal interface IFp8ConsumerTiles<TSelf> where TSelf : struct, IFp8ConsumerTiles<TSelf>
{
    /// <summary>64-row blocks.</summary>
    static abstract int Count { get; }

    /// <summary>True: the two consumers split the tile's 128 columns (64 rows × 64 columns each, a 64-row tile);
    /// false: they stack along M (<see cref="Count"/> 64-row blocks each).</summary>
    static abstract bool SplitsN { get; }

    /// <summary>One 128-deep k tile: <paramref name="a"/>'s rows 64i… against all 128 rows of <paramref name="b"/> for block i.</summary>
    static abstract TSelf Mma(TSelf acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, bool accumulate);

    /// <summary><see cref="Mma"/> for <see cref="KBlockScales"/>: the k tile (one 128-deep scale block, <paramref name="kb"/>)
    /// is added times <c>a_scale[r, kb] · b_scale[kb, col / 128]</c> for each of this thread's rows r (the first is
    /// <paramref name="row"/>, as in <see cref="Store"/>). The scales are read before the <c>wgmma</c> so that their
    /// latency hides behind it.</summary>
    static abstract TSelf MmaScaled(TSelf acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b,
        ArrayView<float> aScale, ArrayView<float> bScale, int row, int col, int kb, in Fp8GemmShape s);

    /// <summary>Row: this thread's first row (16w + g of the first block); col: its first column (2t).</summary>
    static abstract void Store<TOut>(in TSelf acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType;
}

/// <summary>One 64 × 128 block: columns 0–63 in <see cref="Left"/>, 64–127 in <see cref="Right"/>.</summary>
internal struct M64N128 : IFp8ConsumerTiles<M64N128>
{
    public WarpgroupAcc Left, Right;

    public static int Count => 1;

    public static bool SplitsN => false;

    public static M64N128 Mma(M64N128 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, bool accumulate)
    {
        PtxWgmma.M64N128K128E4M3(shared, a, b, sharedBase, out var left, out var right);
        return accumulate
            ? new() { Left = WarpgroupAcc.Add(acc.Left, left), Right = WarpgroupAcc.Add(acc.Right, right) }
            : new() { Left = left, Right = right };
    }

    public static M64N128 MmaScaled(M64N128 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b,
        ArrayView<float> aScale, ArrayView<float> bScale, int row, int col, int kb, in Fp8GemmShape s)
    {
        float fb = KBlockScale.B(bScale, col, kb, s); // the tile's 128 columns are one block of b's scales
        float top = KBlockScale.A(aScale, row, kb, s) * fb, bottom = KBlockScale.A(aScale, row + 8, kb, s) * fb;
        PtxWgmma.M64N128K128E4M3(shared, a, b, sharedBase, out var left, out var right);
        return new() { Left = KBlockScale.Promote(acc.Left, left, top, bottom), Right = KBlockScale.Promote(acc.Right, right, top, bottom) };
    }

    public static void Store<TOut>(in M64N128 acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        Store<TOut>(acc.Left, output, row, col, aScale, bScale, bias, s);
        Store<TOut>(acc.Right, output, row, col + 64, aScale, bScale, bias, s);
    }

    internal static void Store<TOut>(in WarpgroupAcc acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        Fp8GemmKernel.Store<TOut>(output, acc.N0, row, col, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N1, row, col + 8, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N2, row, col + 16, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N3, row, col + 24, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N4, row, col + 32, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N5, row, col + 40, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N6, row, col + 48, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.N7, row, col + 56, aScale, bScale, bias, s);
    }
}

/// <summary>Two 64 × 128 blocks: rows 0–63 in <see cref="Top"/>, 64–127 in <see cref="Bottom"/>.</summary>
internal struct M128N128 : IFp8ConsumerTiles<M128N128>
{
    public M64N128 Top, Bottom;

    public static int Count => 2;

    public static bool SplitsN => false;

    public static M128N128 Mma(M128N128 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, bool accumulate)
    {
        SmemOperand lower = a;
        lower.Offset += 8 * a.Sbo; // rows 64–127: eight 8-row core matrices further
        return new()
        {
            Top = M64N128.Mma(acc.Top, shared, sharedBase, a, b, accumulate),
            Bottom = M64N128.Mma(acc.Bottom, shared, sharedBase, lower, b, accumulate),
        };
    }

    public static M128N128 MmaScaled(M128N128 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b,
        ArrayView<float> aScale, ArrayView<float> bScale, int row, int col, int kb, in Fp8GemmShape s)
    {
        SmemOperand lower = a;
        lower.Offset += 8 * a.Sbo;
        return new()
        {
            Top = M64N128.MmaScaled(acc.Top, shared, sharedBase, a, b, aScale, bScale, row, col, kb, s),
            Bottom = M64N128.MmaScaled(acc.Bottom, shared, sharedBase, lower, b, aScale, bScale, row + 64, col, kb, s),
        };
    }

    public static void Store<TOut>(in M128N128 acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        M64N128.Store<TOut>(acc.Top, output, row, col, aScale, bScale, bias, s);
        M64N128.Store<TOut>(acc.Bottom, output, row + 64, col, aScale, bScale, bias, s);
    }
}

/// <summary>One consumer's 64 × 64 half of a 64 × 128 tile (the consumers split N: <see cref="SplitsN"/>): for
/// M ≤ 64 (decode) the 128-row tiles ran twice the tensor work of 64 rows, all of it on zero rows.</summary>
internal struct M64N64 : IFp8ConsumerTiles<M64N64>
{
    public WarpgroupAcc Acc;

    public static int Count => 1;

    public static bool SplitsN => true;

    /// <summary>A fresh 128-deep partial: two <c>PtxWgmma.M64N64K64E4M3</c> (the second 64 bytes further along K).</summary>
    private static WarpgroupAcc Partial(ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b)
    {
        var low = PtxWgmma.M64N64K64E4M3(default, shared, a, b, accumulate: false, sharedBase);
        a.Offset += 64;
        b.Offset += 64;
        return PtxWgmma.M64N64K64E4M3(low, shared, a, b, accumulate: true, sharedBase);
    }

    public static M64N64 Mma(M64N64 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, bool accumulate)
    {
        var partial = Partial(shared, sharedBase, a, b);
        return new() { Acc = accumulate ? WarpgroupAcc.Add(acc.Acc, partial) : partial };
    }

    public static M64N64 MmaScaled(M64N64 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b,
        ArrayView<float> aScale, ArrayView<float> bScale, int row, int col, int kb, in Fp8GemmShape s)
    {
        float fb = KBlockScale.B(bScale, col, kb, s); // both halves lie in one 128-column block of b's scales
        float top = KBlockScale.A(aScale, row, kb, s) * fb, bottom = KBlockScale.A(aScale, row + 8, kb, s) * fb;
        return new() { Acc = KBlockScale.Promote(acc.Acc, Partial(shared, sharedBase, a, b), top, bottom) };
    }

    public static void Store<TOut>(in M64N64 acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType =>
        M64N128.Store<TOut>(acc.Acc, output, row, col, aScale, bScale, bias, s);
}
