using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.GatedMlp;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.Gemm;

/// <summary>What an epilogue may read beside the accumulators: a bias [N] and a residual [M, N], both in the
/// output's dtype (flags say which are there; absent views are never read).</summary>
public struct EpilogueArgs
{
    public ArrayView<byte> Bias, Residual;
    public int HasBias, HasResidual;
}

/// <summary>
/// The end of <see cref="WarpSpecializedGemmKernel"/>'s mainloop: what its two accumulators (one per B tile) become.
/// A lane holds rows row and row + 8, columns col and col + 1 of each (the wgmma accumulator layout).
/// </summary>
public interface IPairedTileEpilogue
{
    /// <summary>Output columns of a block tile.</summary>
    static abstract int TileColumns { get; }

    /// <summary>How far past the first B tile's first row the second one starts.</summary>
    static abstract int SecondTileRows { get; }

    static abstract void Store(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, in GatedMlpShape s, in EpilogueArgs e);
}

/// <summary>act(first) ⊙ second: the gated MLP (first: x · gateᵀ, second: x · upᵀ, the same 128 columns).</summary>
public struct GatedEpilogue<TElement, TActivation> : IPairedTileEpilogue
    where TElement : struct, IMmaElement
    where TActivation : struct, IActivation
{
    public static int TileColumns => WarpSpecializedGemmKernel.BlockN;

    public static int SecondTileRows => 0;

    public static void Store(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, in GatedMlpShape s, in EpilogueArgs e) =>
        GatedMlpKernel.Store<TElement, TActivation>(output, first, second, row, col, s);
}

/// <summary>x · Wᵀ (+ bias) (+ residual), added in float32 and rounded once: first covers columns n0…n0+127 of the
/// tile, second n0+128…n0+255 (W's next 128 rows).</summary>
public struct LinearEpilogue<TElement> : IPairedTileEpilogue where TElement : struct, IMmaElement
{
    public static int TileColumns => 2 * WarpSpecializedGemmKernel.BlockN;

    public static int SecondTileRows => WarpSpecializedGemmKernel.BlockN;

    public static void Store(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, in GatedMlpShape s, in EpilogueArgs e)
    {
        StoreTile(output, first, row, col, s, e);
        StoreTile(output, second, row, col + WarpSpecializedGemmKernel.BlockN, s, e);
    }

    private static void StoreTile(ArrayView<byte> output, Acc4 a, int row, int col, in GatedMlpShape s, in EpilogueArgs e)
    {
        if (col >= s.N)
            return;
        bool hasSecond = col + 1 < s.N;
        float bias0 = 0f, bias1 = 0f;
        if (e.HasBias != 0)
        {
            bias0 = TElement.Widen(TElement.LoadBits(e.Bias, col));
            bias1 = hasSecond ? TElement.Widen(TElement.LoadBits(e.Bias, col + 1)) : 0f;
        }
        if (row < s.M)
            StorePair(output, (long)row * s.N + col, a.C0 + bias0, a.C1 + bias1, hasSecond, s.N, e);
        if (row + 8 < s.M)
            StorePair(output, (long)(row + 8) * s.N + col, a.C2 + bias0, a.C3 + bias1, hasSecond, s.N, e);
    }

    private static void StorePair(ArrayView<byte> output, long at, float first, float second, bool hasSecond, int n, in EpilogueArgs e)
    {
        if (e.HasResidual != 0)
        {
            first += TElement.Widen(TElement.LoadBits(e.Residual, at));
            if (hasSecond)
                second += TElement.Widen(TElement.LoadBits(e.Residual, at + 1));
        }
        // With N even, a lane's two columns start on an even element: one 4-byte store.
        if (hasSecond && (n & 1) == 0)
        {
            output.Cast<uint>()[at >> 1] = TElement.Narrow(first) | TElement.Narrow(second) << 16;
            return;
        }
        TElement.StoreBits(output, at, TElement.Narrow(first));
        if (hasSecond)
            TElement.StoreBits(output, at + 1, TElement.Narrow(second));
    }
}
