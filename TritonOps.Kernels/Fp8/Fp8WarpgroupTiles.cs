using ILGPU;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Fp8;

/// <summary>
/// The accumulators one warpgroup of <see cref="Fp8GemmWgmmaKernel"/> holds: <see cref="Count"/>
/// tiles of 64 rows × 64 columns side by side along N (a type, so each register has a constant
/// index: <see cref="OneN64"/>, <see cref="TwoN64{T}"/> of those, …).
/// </summary>
public interface IFp8WarpgroupTiles<TSelf> where TSelf : struct, IFp8WarpgroupTiles<TSelf>
{
    static abstract int Count { get; }

    /// <summary>One 128-deep k tile: A (64 rows) against B rows <c>64·i…</c> for every tile i; b's tile i
    /// starts <paramref name="bTileBytes"/>·i bytes after <paramref name="b"/>'s offset.</summary>
    static abstract TSelf Mma(TSelf acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, int bTileBytes, bool accumulate);

    static abstract void Store<TOut>(in TSelf acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType;
}

/// <summary>One 64 × 64 accumulator tile.</summary>
public struct OneN64 : IFp8WarpgroupTiles<OneN64>
{
    public WarpgroupAcc Acc;

    public static int Count => 1;

    /// <summary>Hopper's FP8 tensor cores keep only about 14 significant bits while they accumulate
    /// (measured: a 64-deep e4m3 product came back rounded to multiples of 2⁻⁸ at magnitude 43–100),
    /// so each k tile's 128-deep partial is added into float32 here: the error stays that of one
    /// partial instead of growing with K (cuBLAS promotes every 128 by default too).</summary>
    public static OneN64 Mma(OneN64 acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, int bTileBytes, bool accumulate)
    {
        WarpgroupAcc partial = PtxWgmma.M64N64K128E4M3(default, shared, a, b, accumulate: false, sharedBase);
        return new() { Acc = accumulate ? WarpgroupAcc.Add(acc.Acc, partial) : partial };
    }

    /// <summary>Row: this thread's first row (16w + g of the warpgroup's 64); col: its first column (2t).</summary>
    public static void Store<TOut>(in OneN64 acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N0, row, col, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N1, row, col + 8, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N2, row, col + 16, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N3, row, col + 24, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N4, row, col + 32, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N5, row, col + 40, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N6, row, col + 48, aScale, bScale, bias, s);
        Fp8GemmKernel.Store<TOut>(output, acc.Acc.N7, row, col + 56, aScale, bScale, bias, s);
    }
}

/// <summary>Twice <typeparamref name="T"/>'s tiles: T's, then T's again T.Count · 64 columns further.</summary>
public struct TwoN64<T> : IFp8WarpgroupTiles<TwoN64<T>> where T : struct, IFp8WarpgroupTiles<T>
{
    public T First, Second;

    public static int Count => 2 * T.Count;

    public static TwoN64<T> Mma(TwoN64<T> acc, ArrayView<byte> shared, uint sharedBase, SmemOperand a, SmemOperand b, int bTileBytes, bool accumulate)
    {
        SmemOperand second = b;
        second.Offset += T.Count * bTileBytes;
        return new()
        {
            First = T.Mma(acc.First, shared, sharedBase, a, b, bTileBytes, accumulate),
            Second = T.Mma(acc.Second, shared, sharedBase, a, second, bTileBytes, accumulate),
        };
    }

    public static void Store<TOut>(in TwoN64<T> acc, ArrayView<byte> output, int row, int col,
        ArrayView<float> aScale, ArrayView<float> bScale, ArrayView<float> bias, in Fp8GemmShape s)
        where TOut : struct, IElementType
    {
        T.Store<TOut>(acc.First, output, row, col, aScale, bScale, bias, s);
        T.Store<TOut>(acc.Second, output, row, col + 64 * T.Count, aScale, bScale, bias, s);
    }
}
