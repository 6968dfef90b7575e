namespace TritonOps.Kernels.Ptx;

/// <summary>
/// <c>ldmatrix</c> (sm_75+): a warp loads four 8 × 8 tiles of 16-bit elements from shared memory
/// straight into the <c>mma.sync</c> fragment layout, one instruction instead of four 32-bit loads.
/// </summary>
internal static class PtxLoadMatrix
{
    /// <summary>
    /// <c>ldmatrix.sync.aligned.m8n8.x4.shared.b16</c> from the kernel's dynamic shared memory
    /// (<c>__dyn_shared_alloca</c>). Lanes 8j…8j+7 each give the word offset of one 16-byte row of
    /// tile j (<paramref name="rowWord"/>, 16-byte aligned); lane 4g + t receives word t of row g of
    /// tile j in register j (R0…R3), which is how <see cref="FragA"/> and the B pairs of m16n8k16
    /// are laid out. All 32 lanes must call it together. Off CUDA it is emulated with one shuffle of
    /// the row offsets per tile, so a wrong row address fails on the CPU too.
    /// </summary>
    public static FragA LoadX4FromDynamic(ArrayView<uint> shared, int rowWord)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> r0 = default, r1 = default, r2 = default, r3 = default;
            Input<uint> at = (uint)rowWord * 4;
            CudaAsm.EmitRef("{ .reg .u64 t; .reg .u32 s; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 s, t; add.u32 s, s, %4;\n"
                + "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [s]; }",
                ref r0, ref r1, ref r2, ref r3, ref at);
            return new FragA { R0 = r0.Value, R1 = r1.Value, R2 = r2.Value, R3 = r3.Value };
        }
        int lane = Warp.LaneIdx, row = lane >> 2, word = lane & 3;
        return new FragA
        {
            R0 = shared[Warp.Shuffle(rowWord, row) + word],
            R1 = shared[Warp.Shuffle(rowWord, 8 + row) + word],
            R2 = shared[Warp.Shuffle(rowWord, 16 + row) + word],
            R3 = shared[Warp.Shuffle(rowWord, 24 + row) + word],
        };
    }
}
