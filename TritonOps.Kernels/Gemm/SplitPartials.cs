namespace TritonOps.Kernels.Gemm;

/// <summary>
/// The float32 workspace of the decode kernels' serial split-K (<see cref="DecodeGemmKernel"/>,
/// <see cref="SwappedDecodeGemmKernel"/>), float-major: float f of lane l of a (tile, split) region at f · lanes + l, so
/// each warp store and load covers 128 contiguous bytes (against lane-major: 69.4 → 54.3 µs, swapped Linear M16 down,
/// H100, 12-06). Reads go to L2 (<c>ld.global.cg</c>): other blocks' stores, made visible by their fences.
/// </summary>
internal static class SplitPartials
{
    /// <summary>An accumulator's four floats at <paramref name="at"/>, + lanes, + 2 · lanes, + 3 · lanes.</summary>
    public static void Write(ArrayView<float> partials, long at, int lanes, Acc4 acc)
    {
        partials[at] = acc.C0;
        partials[at + lanes] = acc.C1;
        partials[at + 2 * lanes] = acc.C2;
        partials[at + 3 * lanes] = acc.C3;
    }

    public static Acc4 Load(in EpilogueArgs e, long at, int lanes) => new()
    {
        C0 = PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, at),
        C1 = PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, at + lanes),
        C2 = PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, at + 2 * lanes),
        C3 = PtxCacheHint.LoadFromL2(e.Partials, e.PartialsAddress, at + 3 * lanes),
    };
}
