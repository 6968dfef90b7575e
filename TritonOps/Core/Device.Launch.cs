using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace TritonOps;

// The typed launch layer: every kernel launch in the library goes through Device.Launch, which infers the launch's
// argument types from the call, checks them once against the kernel's parameters (a mismatch is a library bug, caught
// by the first test that launches the kernel, not a silently reinterpreted argument) and caches the launcher.
// Ops hold no launcher delegates; tensor maps come from TensorMaps (Core/Cuda).
public sealed partial class Device
{
    /// <summary>Launches <paramref name="kernel"/> (an explicitly grouped kernel) on the default stream with the
    /// arguments in its parameter order; their static types must be its parameter types.</summary>
    internal void Launch<T1>(MethodInfo kernel, KernelConfig config, T1 a1)
        where T1 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1>>(kernel)(Accelerator.DefaultStream, config, a1);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2)
        where T1 : struct
        where T2 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2>>(kernel)(Accelerator.DefaultStream, config, a1, a2);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3)
        where T1 : struct
        where T2 : struct
        where T3 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct
        where T11 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11, T12 a12)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct
        where T11 : struct
        where T12 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11, T12 a12, T13 a13)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct
        where T11 : struct
        where T12 : struct
        where T13 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13);

    /// <inheritdoc cref="Launch{T1}(MethodInfo, KernelConfig, T1)"/>
    internal void Launch<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>(MethodInfo kernel, KernelConfig config, T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8, T9 a9, T10 a10, T11 a11, T12 a12, T13 a13, T14 a14)
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct
        where T11 : struct
        where T12 : struct
        where T13 : struct
        where T14 : struct =>
        Launcher<Action<AcceleratorStream, KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>>(kernel)(Accelerator.DefaultStream, config, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14);

}
