using System.Reflection;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TritonOps.Cuda;

/// <summary>
/// Loads an explicitly grouped kernel on a CUDA accelerator through <see cref="PtxRewriter"/>:
/// compile with ILGPU's backend, rewrite the PTX, then rebuild the compiled kernel (its
/// constructor and entry point are internal to ILGPU, hence the reflection, kept to this class).
/// </summary>
internal static class CudaKernelLoader
{
    private static readonly ConstructorInfo s_compiledKernel = typeof(PTXCompiledKernel)
        .GetConstructors(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
        .Single(c => c.GetParameters().Length == 4);

    private static readonly PropertyInfo s_entryPoint = typeof(CompiledKernel)
        .GetProperty("EntryPoint", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!;

    public static Kernel Load(CudaAccelerator accelerator, MethodInfo kernel)
    {
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)accelerator.Backend.Compile(entry, KernelSpecialization.Empty);
        string ptx = Rewrite(compiled.PTXAssembly, accelerator.Architecture, kernel);
        var rebuilt = (CompiledKernel)s_compiledKernel.Invoke(
            [compiled.Context, s_entryPoint.GetValue(compiled), compiled.Info, ptx]);
        var loaded = accelerator.LoadKernel(rebuilt);
        if (ptx.Contains(PtxRewriter.DynamicSharedSymbol, StringComparison.Ordinal))
            AllowDynamicSharedMemory((CudaKernel)loaded, accelerator.DeviceId);
        return loaded;
    }

    /// <summary>Lets the kernel launch with up to the device's opt-in maximum of dynamic shared memory
    /// (227 KB on Hopper, less what the kernel allocates statically): without this a launch above 48 KB fails.</summary>
    private static void AllowDynamicSharedMemory(CudaKernel kernel, int deviceId) =>
        CudaDriver.SetMaxDynamicSharedBytes(kernel.FunctionPtr,
            CudaDriver.MaxSharedBytesPerBlockOptIn(deviceId) - CudaDriver.StaticSharedBytes(kernel.FunctionPtr));

    /// <summary>The PTX the driver gets for <paramref name="kernel"/>: local slots promoted; generic accesses
    /// made global where the kernel says they all are (<see cref="TritonOps.Kernels.GlobalMemoryOnlyAttribute"/>);
    /// its thread and register limits (<see cref="TritonOps.Kernels.MaxThreadsPerBlockAttribute"/>,
    /// <see cref="TritonOps.Kernels.MaxRegistersAttribute"/>); on Hopper, the sm_90a target.</summary>
    public static string Rewrite(string ptx, CudaArchitecture? architecture, MethodInfo kernel)
    {
        ptx = Rewrite(ptx, architecture, kernel.IsDefined(typeof(TritonOps.Kernels.GlobalMemoryOnlyAttribute), inherit: false),
            kernel.GetCustomAttribute<TritonOps.Kernels.MaxThreadsPerBlockAttribute>()?.Threads ?? 0,
            kernel.GetCustomAttribute<TritonOps.Kernels.MaxRegistersAttribute>()?.Registers ?? 0);
        int cluster = ClusterY(kernel);
        return cluster > 1 ? PtxRewriter.RequireClusterY(ptx, cluster) : ptx;
    }

    /// <summary>The cluster a kernel's <see cref="TritonOps.Kernels.Ptx.IClusterShape"/> type argument asks for (1: none).</summary>
    public static int ClusterY(MethodInfo kernel) =>
        kernel.IsGenericMethod
            ? kernel.GetGenericArguments().Where(t => typeof(TritonOps.Kernels.Ptx.IClusterShape).IsAssignableFrom(t))
                .Select(t => (int)t.GetProperty(nameof(TritonOps.Kernels.Ptx.IClusterShape.Count), BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!)
                .DefaultIfEmpty(1).Max()
            : 1;

    /// <summary><see cref="Rewrite(string, CudaArchitecture?, MethodInfo)"/> with the kernel's traits spelled out
    /// (<paramref name="maxThreadsPerBlock"/>, <paramref name="maxRegisters"/> 0: no limit).</summary>
    public static string Rewrite(string ptx, CudaArchitecture? architecture, bool globalMemoryOnly, int maxThreadsPerBlock = 0, int maxRegisters = 0)
    {
        ptx = PtxRewriter.PromoteLocalSlots(ptx);
        ptx = PtxRewriter.AlignDynamicShared(ptx);
        if (globalMemoryOnly)
            ptx = PtxRewriter.GenericToGlobal(ptx);
        if (maxThreadsPerBlock > 0)
            ptx = PtxRewriter.LimitThreads(ptx, maxThreadsPerBlock);
        if (maxRegisters > 0)
            ptx = PtxRewriter.LimitRegisters(ptx, maxRegisters);
        if (!(architecture is { } target && target >= CudaArchitecture.SM_90))
            ptx = PtxRewriter.DropGridDependency(ptx); // griddepcontrol is sm_90's: a no-op without its launch attribute, absent before
        return architecture == CudaArchitecture.SM_90 ? PtxRewriter.Retarget(ptx, "sm_90a") : ptx;
    }
}
