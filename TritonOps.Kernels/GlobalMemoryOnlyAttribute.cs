namespace TritonOps.Kernels;

/// <summary>
/// Marks a kernel whose every generic-address load and store reaches global memory (its views are
/// all kernel arguments; shared memory is addressed through SharedMemory). The CUDA loader may
/// then rewrite ILGPU's generic <c>ld</c>/<c>st</c> as <c>ld.global</c>/<c>st.global</c>, which the
/// hardware serves without the generic-address check.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class GlobalMemoryOnlyAttribute : Attribute;
