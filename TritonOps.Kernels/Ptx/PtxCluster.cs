namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Thread-block clusters (sm_90): the blocks of a cluster run at once on one GPC and read each other's shared memory
/// (distributed shared memory). A kernel gets its cluster shape from a type argument (<see cref="IClusterShape"/>), which
/// the CUDA loader writes into the PTX entry as <c>.reqnctapercluster</c>. Off CUDA there are no clusters: the kernels
/// that use these take another path there.
/// </summary>
internal static class PtxCluster
{
    /// <summary>Every thread of every block of the cluster arrives, then waits for all (release, then acquire: each block's
    /// earlier shared-memory writes are seen by the others' later reads). Exited threads count as arrived.</summary>
    public static void Sync()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;");
    }

    /// <summary>Named barrier 1 among the first <paramref name="threads"/> threads of the block (a multiple of 32):
    /// the consumer warpgroups meet without the producer, which may have exited. (CUDA only.)</summary>
    public static void SyncThreads(int threads)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("bar.sync 1, %0;", threads);
    }

    /// <summary>Four floats of block <paramref name="rank"/>'s dynamic shared memory, at byte offset
    /// <paramref name="offset"/> and then <paramref name="strideBytes"/> apart (<c>mapa</c> + <c>ld.shared::cluster</c>).</summary>
    public static Acc4 LoadRemote(int rank, int offset, int strideBytes)
    {
        Output<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Input<uint> at = (uint)offset, target = (uint)rank, stride = (uint)strideBytes;
        CudaAsm.EmitRef("{ .reg .u64 t; .reg .u32 a, r, r1, r2, r3; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 a, t; add.u32 a, a, %4;\n"
            + "mapa.shared::cluster.u32 r, a, %5; add.u32 r1, r, %6; add.u32 r2, r1, %6; add.u32 r3, r2, %6;\n"
            + "ld.shared::cluster.f32 %0, [r]; ld.shared::cluster.f32 %1, [r1]; ld.shared::cluster.f32 %2, [r2]; ld.shared::cluster.f32 %3, [r3]; }",
            ref c0, ref c1, ref c2, ref c3, ref at, ref target, ref stride);
        return new Acc4 { C0 = c0.Value, C1 = c1.Value, C2 = c2.Value, C3 = c3.Value };
    }
}

/// <summary>A kernel's cluster along the grid's Y (a type argument; 1: no cluster). The CUDA loader writes
/// <c>.reqnctapercluster 1, Count, 1</c> for a count above one.</summary>
internal interface IClusterShape
{
    static abstract int Count { get; }
}

/// <summary>Clusters of <typeparamref name="TCount"/> blocks along the grid's Y (<c>ClusterOf&lt;One&gt;</c>: no cluster).</summary>
internal struct ClusterOf<TCount> : IClusterShape where TCount : struct, IStaticCount
{
    public static int Count => TCount.Count;
}
