namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Hopper's tensor memory accelerator (TMA, <c>cp.async.bulk.tensor</c>, sm_90): one thread asks the
/// copy engine for a whole 2-D box of a matrix described by a tensor map (made on the host by
/// <c>cuTensorMapEncodeTiled</c> and kept in device memory; the kernel gets its address). The box lands
/// in the kernel's dynamic shared memory in the map's layout (the 128-byte swizzle here), elements
/// outside the matrix as zeros, and the bytes complete on an <see cref="PtxMbarrier"/> that announced
/// them. No thread's registers or load slots carry the data. GPU only: CPU kernels copy by other means.
/// </summary>
internal static class PtxTensorCopy
{
    /// <summary>The box whose first element is (<paramref name="inner"/>, <paramref name="outer"/>) — byte
    /// within a row, row — to <paramref name="sharedOffset"/> (1024-byte aligned for the swizzle), counted on
    /// the barrier at <paramref name="barrierOffset"/>.</summary>
    public static void Load2D(int sharedOffset, ulong tensorMap, int inner, int outer, int barrierOffset)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("{ .reg .u64 t; .reg .u32 s; .reg .u32 b; .reg .u32 d; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 s, t;\n"
                + "add.u32 b, s, %0; add.u32 d, s, %1;\n"
                + "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [d], [%2, {%3, %4}], [b]; }",
                (uint)barrierOffset, (uint)sharedOffset, tensorMap, inner, outer);
    }
}
