using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.IL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TritonOps.Cuda;

/// <summary>
/// Launches a kernel through <c>cuLaunchKernelEx</c> with launch attributes (programmatic dependent launch), its
/// arguments packed by ILGPU's own PTX argument mapper exactly as ILGPU's launcher packs them: a launcher method with
/// ILGPU's parameter layout (target, stream, config, the kernel's arguments) whose last call is a sink's
/// instead of ILGPU's <c>cuLaunchKernel</c>. See docs/log/2026-12-07-launch-ex-research.md.
/// </summary>
internal static class ExLauncher
{
    /// <summary>A delegate of type <paramref name="delegateType"/> (<c>Action&lt;AcceleratorStream, KernelConfig, T1, …&gt;</c>)
    /// bound to <paramref name="target"/>: it packs the arguments for <paramref name="entryPoint"/> and calls
    /// <paramref name="sink"/> (<c>static void S&lt;TArgs&gt;(TTarget, AcceleratorStream, KernelConfig, ref TArgs, int)</c>).</summary>
    public static Delegate Create(Type delegateType, Context context, PTXArgumentMapper mapper, EntryPoint entryPoint, object target, MethodInfo sink)
    {
        var invoke = delegateType.GetMethod("Invoke")!;
        Type[] signature = [target.GetType(), .. invoke.GetParameters().Select(p => p.ParameterType)];
        MethodInfo method;
        using (context.RuntimeSystem.DefineRuntimeMethod(typeof(void), signature, out var methodEmitter))
        {
            var emitter = new ILEmitter(methodEmitter.ILGenerator);
            var (arguments, size) = mapper.Map(emitter, entryPoint);
            emitter.Emit(ArgumentOperation.Load, 0);
            emitter.Emit(ArgumentOperation.Load, 1);
            emitter.Emit(ArgumentOperation.Load, 2);
            emitter.Emit(LocalOperation.LoadAddress, arguments);
            emitter.EmitConstant(size);
            emitter.EmitCall(sink.MakeGenericMethod(arguments.VariableType));
            emitter.Emit(OpCodes.Ret);
            emitter.Finish();
            method = methodEmitter.Finish();
        }
        return method.CreateDelegate(delegateType, target);
    }

    /// <summary>The entry point ILGPU compiled a kernel for (internal to ILGPU, as in <see cref="CudaKernelLoader"/>).</summary>
    public static EntryPoint EntryPointOf(CompiledKernel compiled) =>
        (EntryPoint)typeof(CompiledKernel).GetProperty("EntryPoint", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)!.GetValue(compiled)!;

    /// <summary>A CUDA launch with attributes: the loaded function and whether it may start before the previous kernel on its
    /// stream ends (programmatic stream serialization; the kernel must execute <c>griddepcontrol.wait</c> before it reads
    /// what that kernel writes).</summary>
    public sealed class CudaTarget(CudaKernel kernel, bool programmaticStreamSerialization)
    {
        public CudaKernel Kernel { get; } = kernel;

        public bool ProgrammaticStreamSerialization { get; } = programmaticStreamSerialization;
    }

    /// <summary>The sink for <see cref="CudaTarget"/>: <c>cuLaunchKernelEx</c> with ILGPU's packed argument buffer.</summary>
    public static unsafe void LaunchCuda<TArgs>(CudaTarget target, AcceleratorStream stream, KernelConfig config, ref TArgs arguments, int size)
        where TArgs : struct
    {
        void* packed = Unsafe.AsPointer(ref arguments); // a local of the launcher's frame: it stays put through the call
        nint bytes = size;
        void** extra = stackalloc void*[5];
        extra[0] = (void*)1; // CU_LAUNCH_PARAM_BUFFER_POINTER
        extra[1] = packed;
        extra[2] = (void*)2; // CU_LAUNCH_PARAM_BUFFER_SIZE
        extra[3] = &bytes;
        extra[4] = null;     // CU_LAUNCH_PARAM_END
        using var binding = stream.BindScoped();
        CudaDriver.LaunchKernelEx(target.Kernel.FunctionPtr, config, ((CudaStream)stream).StreamPtr, target.ProgrammaticStreamSerialization, extra);
    }
}
