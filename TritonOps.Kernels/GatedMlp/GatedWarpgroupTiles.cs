using ILGPU;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Ptx;

namespace TritonOps.Kernels.GatedMlp;

/// <summary>
/// The accumulators one warpgroup of <see cref="GatedMlpWgmmaKernel"/> holds: <see cref="Count"/>
/// 64 × 64 output tiles side by side along N, each as a gate and an up product of the same x rows
/// (a type, so each register has a constant index: <see cref="GatedN64"/>, <see cref="TwoGatedN64{T}"/>).
/// </summary>
public interface IGatedWarpgroupTiles<TSelf> where TSelf : struct, IGatedWarpgroupTiles<TSelf>
{
    static abstract int Count { get; }

    /// <summary>One 32-wide k tile: x (64 rows) against gate and up rows 64·i… for every tile i; tile i of
    /// each starts 64 · 16 · i bytes after <paramref name="gate"/>'s / <paramref name="up"/>'s offset.</summary>
    static abstract TSelf Mma<TElement>(TSelf acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement;

    /// <summary><see cref="Mma"/> without waiting: commits one wgmma group per 64 × 64 product (2 · Count
    /// groups); the caller waits (<see cref="PtxWgmma.Wait"/>) before touching the accumulators.</summary>
    static abstract TSelf Issue<TElement>(TSelf acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement;

    /// <summary>act(gate) · up, rounded once, for this thread's rows (16w + g, +8) and columns (2t + 8j, +1) of every tile.</summary>
    static abstract void Store<TElement, TActivation>(in TSelf acc, ArrayView<byte> output, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation;
}

/// <summary>One 64 × 64 output tile: its gate and up accumulators.</summary>
public struct GatedN64 : IGatedWarpgroupTiles<GatedN64>
{
    public WarpgroupAcc Gate, Up;

    public static int Count => 1;

    public static GatedN64 Mma<TElement>(GatedN64 acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement => new()
    {
        Gate = PtxWgmma.M64N64K32x16Bit<TElement>(acc.Gate, shared, x, gate, accumulate),
        Up = PtxWgmma.M64N64K32x16Bit<TElement>(acc.Up, shared, x, up, accumulate),
    };

    public static GatedN64 Issue<TElement>(GatedN64 acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement => new()
    {
        Gate = PtxWgmma.IssueM64N64K32x16Bit<TElement>(acc.Gate, shared, x, gate, accumulate),
        Up = PtxWgmma.IssueM64N64K32x16Bit<TElement>(acc.Up, shared, x, up, accumulate),
    };

    public static void Store<TElement, TActivation>(in GatedN64 acc, ArrayView<byte> output, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N0, acc.Up.N0, row, col, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N1, acc.Up.N1, row, col + 8, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N2, acc.Up.N2, row, col + 16, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N3, acc.Up.N3, row, col + 24, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N4, acc.Up.N4, row, col + 32, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N5, acc.Up.N5, row, col + 40, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N6, acc.Up.N6, row, col + 48, s);
        GatedMlpKernel.Store<TElement, TActivation>(output, acc.Gate.N7, acc.Up.N7, row, col + 56, s);
    }
}

/// <summary>Twice <typeparamref name="T"/>'s tiles: T's, then T's again T.Count · 64 columns further.</summary>
public struct TwoGatedN64<T> : IGatedWarpgroupTiles<TwoGatedN64<T>> where T : struct, IGatedWarpgroupTiles<T>
{
    public T First, Second;

    public static int Count => 2 * T.Count;

    public static TwoGatedN64<T> Mma<TElement>(TwoGatedN64<T> acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement
    {
        SmemOperand gate2 = gate, up2 = up;
        gate2.Offset += T.Count * 64 * 16;
        up2.Offset += T.Count * 64 * 16;
        return new()
        {
            First = T.Mma<TElement>(acc.First, shared, x, gate, up, accumulate),
            Second = T.Mma<TElement>(acc.Second, shared, x, gate2, up2, accumulate),
        };
    }

    public static TwoGatedN64<T> Issue<TElement>(TwoGatedN64<T> acc, ArrayView<byte> shared, SmemOperand x, SmemOperand gate, SmemOperand up, bool accumulate)
        where TElement : struct, IMmaElement
    {
        SmemOperand gate2 = gate, up2 = up;
        gate2.Offset += T.Count * 64 * 16;
        up2.Offset += T.Count * 64 * 16;
        return new()
        {
            First = T.Issue<TElement>(acc.First, shared, x, gate, up, accumulate),
            Second = T.Issue<TElement>(acc.Second, shared, x, gate2, up2, accumulate),
        };
    }

    public static void Store<TElement, TActivation>(in TwoGatedN64<T> acc, ArrayView<byte> output, int row, int col, in GatedMlpShape s)
        where TElement : struct, IMmaElement
        where TActivation : struct, IActivation
    {
        T.Store<TElement, TActivation>(acc.First, output, row, col, s);
        T.Store<TElement, TActivation>(acc.Second, output, row, col + 64 * T.Count, s);
    }
}
