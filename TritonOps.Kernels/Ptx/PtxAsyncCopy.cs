namespace TritonOps.Kernels.Ptx;

/// <summary>
/// <c>cp.async</c> (sm_80+): global → shared copies that bypass registers, so a thread can keep
/// several tiles in flight without holding them. Inline PTX cannot take a view, so the global side is
/// a device address passed in by the host (the view's base address plus the same byte offset the
/// CPU path indexes), and the shared side a byte offset into the kernel's first shared allocation
/// (<c>__shared_alloca0</c>). On the CPU accelerator the copy happens at once (waits do nothing).
/// </summary>
internal static class PtxAsyncCopy
{
    /// <summary><c>cp.async.cg.shared.global [shared + sharedOffset], [globalBase + globalOffset], 16, srcBytes</c>:
    /// 16 bytes, of which those past <paramref name="srcBytes"/> (0–16) are zero-filled and not read.</summary>
    public static void Copy16(ArrayView<byte> shared, int sharedOffset, ArrayView<byte> global, ulong globalBase, long globalOffset, int srcBytes)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("{ .reg .u64 t; .reg .u32 s; mov.u64 t, __shared_alloca0; cvt.u32.u64 s, t; add.u32 s, s, %0;\n"
                + "cp.async.cg.shared.global [s], [%1], 16, %2; }",
                (uint)sharedOffset, globalBase + (ulong)globalOffset, (uint)srcBytes);
            return;
        }
        CopyNow(shared, sharedOffset, global, globalOffset, srcBytes);
    }

    /// <summary><see cref="Copy16"/> into the kernel's dynamic shared memory (<c>SharedMemory.GetDynamic</c>,
    /// PTX symbol <c>__dyn_shared_alloca</c>): the only way past the 48 KB static limit.</summary>
    public static void Copy16ToDynamic(ArrayView<byte> shared, int sharedOffset, ArrayView<byte> global, ulong globalBase, long globalOffset, int srcBytes)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("{ .reg .u64 t; .reg .u32 s; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 s, t; add.u32 s, s, %0;\n"
                + "cp.async.cg.shared.global [s], [%1], 16, %2; }",
                (uint)sharedOffset, globalBase + (ulong)globalOffset, (uint)srcBytes);
            return;
        }
        CopyNow(shared, sharedOffset, global, globalOffset, srcBytes);
    }

    /// <summary>The CPU accelerator's copy: at once, so the waits have nothing to wait for.</summary>
    private static void CopyNow(ArrayView<byte> shared, int sharedOffset, ArrayView<byte> global, long globalOffset, int srcBytes)
    {
        for (int i = 0; i < 16; i++)
            shared[sharedOffset + i] = i < srcBytes ? global[globalOffset + i] : (byte)0;
    }

    /// <summary><c>cp.async.commit_group</c>: closes the group of copies this thread issued since the last commit.</summary>
    public static void Commit()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("cp.async.commit_group;");
    }

    /// <summary><c>cp.async.wait_group N</c>: waits until at most <paramref name="pending"/> (0–3) of this thread's
    /// committed groups are still in flight. Other threads' copies need a barrier after it.</summary>
    public static void Wait(int pending)
    {
        if (!CudaAsm.IsSupported)
            return;
        if (pending <= 0)
            CudaAsm.Emit("cp.async.wait_group 0;");
        else if (pending == 1)
            CudaAsm.Emit("cp.async.wait_group 1;");
        else if (pending == 2)
            CudaAsm.Emit("cp.async.wait_group 2;");
        else
            CudaAsm.Emit("cp.async.wait_group 3;");
    }
}
