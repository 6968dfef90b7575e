namespace TritonOps.Kernels;

/// <summary>
/// The most registers a thread of this kernel may use. The CUDA loader writes it into the PTX entry as
/// <c>.maxnreg</c>, so ptxas fits the kernel in that many (spilling what does not fit): more blocks an SM where a
/// kernel's latency, not its instruction count, bounds it. Blocks must then stay within 65536 / registers threads.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class MaxRegistersAttribute(int registers) : Attribute
{
    public int Registers { get; } = registers;
}
