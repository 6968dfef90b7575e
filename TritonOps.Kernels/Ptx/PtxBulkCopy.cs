using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Hopper's bulk copy engine (<c>cp.async.bulk</c>, sm_90) and the shared-memory barriers
/// (<c>mbarrier</c>) its copies complete on. One thread moves a whole contiguous run of global
/// memory (a row of kilobytes) into shared memory with one instruction; the waiting threads spin
/// on the barrier's phase, so nothing else of theirs is spent on the copy. Offsets are bytes into
/// the kernel's dynamic shared memory (PTX symbol <c>__dyn_shared_alloca</c>); a barrier takes 8
/// bytes at an 8-byte boundary, copies need 16-byte-aligned ends and sizes.
/// Only the CUDA path exists: CPU kernels copy by other means (see their callers).
/// </summary>
public static class PtxBulkCopy
{
    private const string Window = "{ .reg .u64 t; .reg .u32 b; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 b, t; add.u32 b, b, %0;\n";

    /// <summary><c>mbarrier.init</c>: a barrier whose phase completes after <paramref name="arrivals"/> arrivals
    /// (and the bytes they announce). Follow with <see cref="FenceInit"/> and a block barrier.</summary>
    public static void InitBarrier(int barrierOffset, uint arrivals)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit(Window + "mbarrier.init.shared::cta.b64 [b], %1; }", (uint)barrierOffset, arrivals);
    }

    /// <summary>Makes initialized barriers visible to the copy engine (<c>fence.mbarrier_init</c>).</summary>
    public static void FenceInit()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("fence.mbarrier_init.release.cluster;");
    }

    /// <summary>This thread's arrival on the barrier, announcing <paramref name="bytes"/> that copies
    /// (<see cref="Load"/>) will deliver before the phase completes.</summary>
    public static void ArriveExpectingBytes(int barrierOffset, uint bytes)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit(Window + "{ .reg .b64 state; mbarrier.arrive.expect_tx.shared::cta.b64 state, [b], %1; } }", (uint)barrierOffset, bytes);
    }

    /// <summary><c>cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes</c>: <paramref name="bytes"/>
    /// (a multiple of 16) from <paramref name="globalAddress"/> to the shared offset, counted on the barrier.</summary>
    public static void Load(int sharedOffset, ulong globalAddress, uint bytes, int barrierOffset)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("{ .reg .u64 t; .reg .u32 s; .reg .u32 b; .reg .u32 d; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 s, t;\n"
                + "add.u32 b, s, %0; add.u32 d, s, %1;\n"
                + "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [d], [%2], %3, [b]; }",
                (uint)barrierOffset, (uint)sharedOffset, globalAddress, bytes);
    }

    /// <summary>Spins until the barrier's phase of parity <paramref name="parity"/> has completed: the
    /// copies counted on it have landed and are visible to this thread.</summary>
    public static void Wait(int barrierOffset, int parity)
    {
        if (!CudaAsm.IsSupported)
            return;
        while (TryWait(barrierOffset, (uint)parity) == 0)
        {
        }
    }

    private static uint TryWait(int barrierOffset, uint parity)
    {
        CudaAsm.Emit("{ .reg .u64 t; .reg .u32 b; .reg .pred p; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 b, t; add.u32 b, b, %1;\n"
            + "mbarrier.try_wait.parity.shared::cta.b64 p, [b], %2; selp.u32 %0, 1, 0, p; }",
            out uint done, (uint)barrierOffset, parity);
        return done;
    }
}
