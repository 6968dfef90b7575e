namespace TritonOps.Kernels;

/// <summary>
/// The most threads a block of this kernel is launched with. The CUDA loader writes it into the PTX
/// entry as <c>.maxntid</c>, so ptxas keeps the registers within what that many threads may hold
/// (65536 / threads a thread): without it, a kernel that must run 512-thread blocks may be given more
/// registers than such a block can have and fail to launch.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class MaxThreadsPerBlockAttribute(int threads) : Attribute
{
    public int Threads { get; } = threads;
}
