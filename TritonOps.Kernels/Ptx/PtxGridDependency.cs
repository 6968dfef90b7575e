namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Programmatic dependent launch (sm_90): a kernel launched with it (<see cref="ProgrammaticLaunchAttribute"/>) may start
/// while the kernel before it on the stream still runs. <see cref="Wait"/> blocks until every prerequisite grid has
/// completed and its memory operations are visible: it must come before any read of what they write, and before any
/// early return. <see cref="LaunchDependents"/> lets the next such kernel start once every block of this grid has called
/// it or exited. Both are no-ops in a launch without the attribute, and off CUDA.
/// </summary>
internal static class PtxGridDependency
{
    public static void Wait()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("griddepcontrol.wait;");
    }

    public static void LaunchDependents()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("griddepcontrol.launch_dependents;");
    }

    /// <summary>Both, at a kernel's entry: the next kernel may start as this one's blocks end; this one reads nothing of
    /// the previous kernel's before it has completed.</summary>
    public static void AtEntry()
    {
        LaunchDependents();
        Wait();
    }
}
