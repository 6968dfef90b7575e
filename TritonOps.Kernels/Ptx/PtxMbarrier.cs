namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Shared-memory barriers (<c>mbarrier</c>, sm_80+) in the kernel's dynamic shared memory, for
/// producer/consumer pipelines inside a block: a phase completes after its expected number of
/// arrivals, and a waiter spins until the phase of a given parity has completed, so one group of
/// warps can hand stages to another without a block-wide barrier. A barrier takes
/// <see cref="Bytes"/> at a 16-byte boundary (8 on the GPU; the CPU accelerator keeps its
/// arrival count, phase and expected count in the same slot, updated with atomics, so the same
/// protocol runs, and can deadlock, there too).
/// </summary>
internal static class PtxMbarrier
{
    /// <summary>Bytes a barrier occupies in shared memory.</summary>
    public const int Bytes = 16;

    private const string Window = "{ .reg .u64 t; .reg .u32 b; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 b, t; add.u32 b, b, %0;\n";

    /// <summary><c>mbarrier.init</c>: the phase completes after <paramref name="arrivals"/> arrivals.
    /// One thread initializes; <see cref="FenceInit"/> and a block barrier follow before any use.</summary>
    public static void Init(ArrayView<byte> shared, int offset, int arrivals)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(Window + "mbarrier.init.shared::cta.b64 [b], %1; }", (uint)offset, (uint)arrivals);
            return;
        }
        var words = Words(shared, offset);
        words[0] = 0;
        words[1] = 0;
        words[2] = arrivals;
    }

    /// <summary>Makes initialized barriers visible to the async proxy (<c>fence.mbarrier_init</c>).</summary>
    public static void FenceInit()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("fence.mbarrier_init.release.cluster;");
    }

    /// <summary>One arrival (release: this thread's earlier shared-memory reads and writes happen before the phase completes).</summary>
    public static void Arrive(ArrayView<byte> shared, int offset)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(Window + "{ .reg .b64 state; mbarrier.arrive.shared::cta.b64 state, [b]; } }", (uint)offset);
            return;
        }
        ArriveNow(Words(shared, offset));
    }

    /// <summary>One arrival that also announces <paramref name="bytes"/> the copy engine will deliver
    /// (<see cref="PtxTensorCopy"/>) before the phase completes (<c>mbarrier.arrive.expect_tx</c>).</summary>
    public static void ArriveExpectingBytes(ArrayView<byte> shared, int offset, int bytes)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(Window + "{ .reg .b64 state; mbarrier.arrive.expect_tx.shared::cta.b64 state, [b], %1; } }", (uint)offset, (uint)bytes);
            return;
        }
        ArriveNow(Words(shared, offset));
    }

    /// <summary><c>cp.async.mbarrier.arrive.noinc</c>: one arrival, made when all <c>cp.async</c> copies this thread
    /// has issued so far have landed (counted among the barrier's expected arrivals). On the CPU copies land at once.</summary>
    public static void ArriveWhenCopiesLand(ArrayView<byte> shared, int offset)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(Window + "cp.async.mbarrier.arrive.noinc.shared::cta.b64 [b]; }", (uint)offset);
            return;
        }
        ArriveNow(Words(shared, offset));
    }

    /// <summary>Spins until the phase of parity <paramref name="parity"/> has completed (acquire). A fresh
    /// barrier counts as having completed a phase of parity 1, so a producer's first wait on parity 1 passes.</summary>
    public static void Wait(ArrayView<byte> shared, int offset, int parity)
    {
        if (CudaAsm.IsSupported)
        {
            while (TryWait(offset, (uint)parity) == 0)
            {
            }
            return;
        }
        var words = Words(shared, offset);
        while ((Atomic.Add(ref words[1], 0) & 1) == parity)
        {
        }
    }

    private static uint TryWait(int offset, uint parity)
    {
        CudaAsm.Emit("{ .reg .u64 t; .reg .u32 b; .reg .pred p; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 b, t; add.u32 b, b, %1;\n"
            + "mbarrier.try_wait.parity.shared::cta.b64 p, [b], %2; selp.u32 %0, 1, 0, p; }",
            out uint done, (uint)offset, parity);
        return done;
    }

    /// <summary>CPU: words 0–2 of the slot are the arrivals so far, the completed phases and the expected arrivals.
    /// The last arrival of a phase resets the count before it publishes the phase, and no arrival for the next
    /// phase can come before that publication in the pipelines that use this.</summary>
    private static void ArriveNow(ArrayView<int> words)
    {
        if (Atomic.Add(ref words[0], 1) + 1 == words[2])
        {
            Atomic.Exchange(ref words[0], 0);
            Atomic.Add(ref words[1], 1);
        }
    }

    private static ArrayView<int> Words(ArrayView<byte> shared, int offset) => shared.SubView(offset, Bytes).Cast<int>();
}
