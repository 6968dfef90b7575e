namespace TritonOps.Kernels.Ptx;

/// <summary><c>nanosleep</c> (sm_70+): a polling warp yields its issue slots between polls. Off CUDA, nothing.</summary>
internal static class PtxSleep
{
    public static void Nanoseconds(uint ns)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("nanosleep.u32 %0;", ns);
    }
}
