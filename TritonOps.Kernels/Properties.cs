using System.Runtime.CompilerServices;

// Kernel types are the library's implementation, not its API: only the op layer, the tests and the benchmark see them.
[assembly: InternalsVisibleTo("TritonOps")]
[assembly: InternalsVisibleTo("TritonOps.Tests")]
[assembly: InternalsVisibleTo("TritonOps.Benchmark")]
// ILGPU's CPU accelerator runs kernels through a dynamic assembly of this name, which must see the internal types.
[assembly: InternalsVisibleTo("ILGPURuntime")]
