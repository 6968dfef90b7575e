namespace TritonOps.Kernels;

/// <summary>
/// Caps the registers per thread of a kernel (the CUDA loader writes PTX <c>.maxnreg</c>), for kernels
/// whose occupancy steps down at a register count ptxas would otherwise exceed: e.g. 128 keeps two
/// 256-thread blocks per SM. ptxas spills what does not fit, so check <c>ptxas -v</c> after setting it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RegisterLimitAttribute(int registers) : Attribute
{
    public int Registers { get; } = registers;
}
