namespace TritonOps.Kernels;

/// <summary>
/// The kernel is launched on CUDA with programmatic stream serialization (<c>cuLaunchKernelEx</c>): it may start while the
/// previous kernel on the stream ends. It must call <see cref="Ptx.PtxGridDependency.Wait"/> (or
/// <see cref="Ptx.PtxGridDependency.AtEntry"/>) before it reads anything an earlier kernel writes.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ProgrammaticLaunchAttribute : Attribute;
