namespace TritonOps.Kernels.Gemm;

/// <summary>A thread's 16-byte chunks of one k tile, in registers between their loads and their stores to shared
/// memory: x's rows r and r + 64, and one or two B rows (an operand set that has one B leaves the second unused).</summary>
internal struct StagedChunks
{
    public Vec4U A0, A1, B0, B1;
}

/// <summary>Where one of a register-staged block's 256 threads loads and multiplies (<see cref="MmaTiles"/>'s layout): its
/// load chunk (x rows ChunkRow and ChunkRow + 64, B row ChunkRow; 16-byte chunk Chunk of each) and, for lane (g, t) of
/// warp w, its fragments' rows (x: 32 · (w / 2) + g; B: 32 · (w % 2) + g) and k word t.</summary>
internal readonly struct StagedLanes
{
    public readonly int ChunkRow, Chunk, ARow, BRow, KWord;

    public StagedLanes(int tid)
    {
        int warp = tid >> 5, lane = tid & 31;
        ChunkRow = tid >> 2;
        Chunk = tid & 3;
        ARow = (warp >> 1) * 32 + (lane >> 2);
        BRow = (warp & 1) * 32 + (lane >> 2);
        KWord = lane & 3;
    }
}

/// <summary>What a register-staged GEMM multiplies (<see cref="RegisterStagedMainloop"/>): its operands (fields of the
/// struct), how a thread loads one k tile's chunks and stores them into a shared stage, and the warp's mma over a
/// stage. The shared view is passed in, not held in a field, so its loads stay <c>ld.shared</c>.</summary>
internal interface IStagedOperands<TSelf, TAcc>
    where TSelf : struct, IStagedOperands<TSelf, TAcc>
    where TAcc : struct
{
    /// <summary>This thread's chunks of k tile <paramref name="kt"/> (zeros past the matrices' edges).</summary>
    static abstract StagedChunks Load(in TSelf self, int kt);

    /// <summary>Stores this thread's chunks into stage <paramref name="stage"/> (0 or 1).</summary>
    static abstract void Store(in TSelf self, ArrayView<uint> shared, int stage, in StagedChunks chunks);

    /// <summary>The warp's products over stage <paramref name="stage"/>, which holds k tile <paramref name="kt"/>.</summary>
    static abstract TAcc Mma(in TSelf self, TAcc acc, ArrayView<uint> shared, int stage, int kt);
}

/// <summary>
/// The <c>mma.sync</c> mainloop for operands without <c>cp.async</c> (rows not 16-byte aligned, any K) or GPUs before
/// Hopper, written once for the 16-bit pair (<see cref="RegisterStagedGemmKernel"/>: gated MLP, Linear) and FP8
/// (<see cref="Fp8Gemm.Fp8GemmKernel"/>): two shared stages, one k tile's chunks in registers. While the tensor cores
/// work on one stage, the next tile's loads are in flight; they go to the other stage after the mma, and one barrier
/// a tile hands it over. 256 threads, each loading one 16-byte chunk of x rows r and r + 64 and of each B row r
/// (<see cref="MmaTiles"/>'s layout).
/// </summary>
internal static class RegisterStagedMainloop
{
    public const int Threads = 256;

    /// <summary>The block's sums over k tiles 0 … <paramref name="kTiles"/> − 1.</summary>
    public static TAcc Run<TOperands, TAcc>(in TOperands operands, ArrayView<uint> shared, int kTiles)
        where TOperands : struct, IStagedOperands<TOperands, TAcc>
        where TAcc : struct
    {
        StagedChunks chunks = TOperands.Load(operands, 0);
        TOperands.Store(operands, shared, 0, chunks);
        Group.Barrier();

        TAcc acc = default;
        for (int kt = 0; kt < kTiles; kt++)
        {
            int stage = kt & 1;
            bool more = kt + 1 < kTiles;
            if (more)
                chunks = TOperands.Load(operands, kt + 1);
            acc = TOperands.Mma(operands, acc, shared, stage, kt);
            if (more)
                TOperands.Store(operands, shared, stage ^ 1, chunks);
            Group.Barrier();
        }
        return acc;
    }
}
