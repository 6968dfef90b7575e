// Fixtures run two at a time (CI has two cores): the PTX codegen fixtures compile on their own ILGPU contexts
// while the CPU-accelerator fixtures run; fixtures that share a device only meet at its issue lock, and
// allocation counts are per thread (Device.AllocationCount). Fixtures that measure a whole device opt out.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(2)]
// ILGPU's CPU accelerator runs the test kernels (OneMma, OneTile, RoundTrip: internal) through its dynamic assembly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ILGPURuntime")]
