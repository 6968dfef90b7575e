// One fixture at a time. The CPU accelerator runs a thread block as one OS thread a simulated thread, meeting at each
// barrier and warp shuffle, and every CPU device issues through one lock, so the suite's wall time is its launches,
// one after another; a second fixture beside them (the PTX codegen, a float64 reference) only took the cores their
// barriers wait for. Measured 2026-12-07 on a 2-core machine: the staged norm+RoPE walk 1.4 s alone, 13.5 s beside the
// codegen fixture; the whole `dotnet test` 287 s with one worker against 320–347 s with two (three runs). On 12-05's
// machine the two had tied.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(1)]
// ILGPU's CPU accelerator runs the test kernels (OneMma, OneTile, RoundTrip: internal) through its dynamic assembly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ILGPURuntime")]
