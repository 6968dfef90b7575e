namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>
/// Where an FP8 GEMM applies its scales (a struct trait of every fp8_gemm kernel: one body, two instantiations).
/// Scales that do not depend on k (per tensor, per row of a, per column of b) multiply the float32 sum once, in
/// the epilogue. Scales that change along K (DeepSeek-V3's block scaling, DeepGEMM's "1d2d": a per token and
/// 128-deep group <c>[M, ceil(K/128)]</c>, b per 128 × 128 block <c>[ceil(K/128), ceil(N/128)]</c>) multiply
/// each 128-deep partial when it is added into the float32 accumulators (the "promotion"), as DeepGEMM does.
/// </summary>
internal interface IFp8ScaleMode
{
    /// <summary>True: the k loop keeps a partial per 128-deep block of K and adds it times
    /// <c>a_scale[m, kb] · b_scale[kb, n / 128]</c> (<see cref="KBlockScale"/>); false: one sum, scaled in the epilogue.</summary>
    static abstract bool PerKBlock { get; }
}

/// <summary>Per tensor, per row (a) and per column (b): one float32 sum, scaled once in the epilogue.</summary>
internal struct EpilogueScales : IFp8ScaleMode
{
    public static bool PerKBlock => false;
}

/// <summary>Per token and 128-group (a) and/or per 128 × 128 block (b): scaled at each 128-deep promotion; a's
/// or b's scale that does not depend on k (per tensor, per row, per column) still applies in the epilogue.</summary>
internal struct KBlockScales : IFp8ScaleMode
{
    public static bool PerKBlock => true;
}

/// <summary>The factors <see cref="KBlockScales"/> multiplies a 128-deep partial by (1 for an operand whose
/// scale does not depend on k). Rows and columns past the matrix are clamped to its last (their outputs are
/// never stored), so every read is in bounds.</summary>
internal static class KBlockScale
{
    /// <summary>Depth of one scale block along K (and width along N of one block of b's scales).</summary>
    public const int Size = 128;

    /// <summary>a_scale[row, kb] (strided), or 1 when a's scale is not per group.</summary>
    public static float A(ArrayView<float> aScale, int row, int kb, in Fp8GemmShape s) =>
        s.AGrouped == 0 ? 1f : aScale[(long)Math.Min(row, s.M - 1) * s.AScaleStride + (long)kb * s.AScaleKStride];

    /// <summary>b_scale[kb, col / 128] (strided: the transposed view of a checkpoint's [N/128, K/128] works as
    /// it is), or 1 when b's scale is not per block.</summary>
    public static float B(ArrayView<float> bScale, int col, int kb, in Fp8GemmShape s) =>
        s.BBlocked == 0 ? 1f : bScale[(long)kb * s.BScaleKStride + (long)(Math.Min(col, s.N - 1) / Size) * s.BScaleStride];

    /// <summary>acc + partial · factor in float32 (one FMA each): <paramref name="top"/> for rows g (C0, C1),
    /// <paramref name="bottom"/> for rows g + 8 (C2, C3) of the m16n8 accumulator layout.</summary>
    public static Acc4 Promote(Acc4 acc, Acc4 partial, float top, float bottom) => new()
    {
        C0 = acc.C0 + partial.C0 * top, C1 = acc.C1 + partial.C1 * top,
        C2 = acc.C2 + partial.C2 * bottom, C3 = acc.C3 + partial.C3 * bottom,
    };

    /// <summary><see cref="Promote(Acc4, Acc4, float, float)"/> over a warpgroup's 64 × 64 share.</summary>
    public static WarpgroupAcc Promote(in WarpgroupAcc acc, in WarpgroupAcc partial, float top, float bottom) => new()
    {
        N0 = Promote(acc.N0, partial.N0, top, bottom), N1 = Promote(acc.N1, partial.N1, top, bottom),
        N2 = Promote(acc.N2, partial.N2, top, bottom), N3 = Promote(acc.N3, partial.N3, top, bottom),
        N4 = Promote(acc.N4, partial.N4, top, bottom), N5 = Promote(acc.N5, partial.N5, top, bottom),
        N6 = Promote(acc.N6, partial.N6, top, bottom), N7 = Promote(acc.N7, partial.N7, top, bottom),
    };

    /// <summary>Over a warp's 32 × 32 share of the mma.sync tile kernel: rows g, g + 8 (T0x) and 16 + g, 24 + g (T1x).</summary>
    public static WarpAcc Promote(in WarpAcc acc, in WarpAcc partial, float r0, float r8, float r16, float r24) => new()
    {
        T00 = Promote(acc.T00, partial.T00, r0, r8), T01 = Promote(acc.T01, partial.T01, r0, r8),
        T02 = Promote(acc.T02, partial.T02, r0, r8), T03 = Promote(acc.T03, partial.T03, r0, r8),
        T10 = Promote(acc.T10, partial.T10, r16, r24), T11 = Promote(acc.T11, partial.T11, r16, r24),
        T12 = Promote(acc.T12, partial.T12, r16, r24), T13 = Promote(acc.T13, partial.T13, r16, r24),
    };
}
