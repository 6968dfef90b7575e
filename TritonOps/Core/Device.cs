using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using CudaKernelLoader = TritonOps.Cuda.CudaKernelLoader;

namespace TritonOps;

/// <summary>Where tensors live and kernels run.</summary>
public enum DeviceKind
{
    /// <summary>ILGPU's CPU accelerator (warp-32 preset): runs the same kernels, slowly, for tests and CI.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through ILGPU's CUDA backend.</summary>
    Cuda,
}

/// <summary>
/// One ILGPU context and accelerator. Kernels are compiled once per device and cached;
/// thread-safe. <see cref="Default"/> is CUDA when a GPU is present, otherwise the CPU accelerator.
/// </summary>
public sealed partial class Device : IDisposable
{
    private static readonly Lazy<Device> s_default = new(CreateDefault, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<bool> s_cudaAvailable = new(ProbeCuda, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly ConcurrentDictionary<MethodInfo, Lazy<LoadedKernel>> _kernels = new();
    private readonly ConcurrentDictionary<(MethodInfo Kernel, int GroupSize, int DynamicBytes), int> _occupancy = new();
    private readonly ConcurrentDictionary<MethodInfo, int> _maxGroupSize = new();
    private readonly ConcurrentDictionary<long, ConcurrentBag<MemoryBuffer1D<byte, Stride1D.Dense>>> _cache = new();
    private long _cachedBytes;
    private readonly bool _isProcessDefault;
    private int _disposed;
    private long _allocations;
    private static int s_nextId;

    /// <summary>Held while a thread issues work (an op's allocations and launches, a copy, a synchronize) and
    /// while the device is disposed: ILGPU's CPU accelerator runs one launch at a time and a CUDA context
    /// must be current on the issuing thread, so one lock per device makes every entry safe from any thread.</summary>
    private readonly object _gate;

    /// <summary>The one issue lock of every CPU-accelerator device: ILGPU's CPU runtime keeps the launch's grid and group
    /// dimensions in process-wide state, so two CPU devices launching from two threads at once corrupt each other's
    /// launch (seen: a fused add-norm writing zeros when test fixtures ran side by side, each on its own CPU device).</summary>
    private static readonly object s_cpuGate = new();

    private Device(Context context, Accelerator accelerator, DeviceKind kind, bool poisonAllocations, bool isProcessDefault)
    {
        _context = context;
        _accelerator = accelerator;
        Kind = kind;
        PoisonAllocations = poisonAllocations;
        _isProcessDefault = isProcessDefault;
        _gate = kind == DeviceKind.Cpu ? s_cpuGate : new object();
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>A number unique to this device in the process (devices of one kind and name differ by it in messages).</summary>
    public int Id { get; }

    /// <summary>The process-wide device: the first CUDA GPU if there is one, else the CPU accelerator.
    /// It lives until the process exits; <see cref="Dispose"/> on it does nothing.</summary>
    public static Device Default => s_default.Value;

    /// <summary>Whether ILGPU finds a CUDA GPU on this machine that TritonOps runs on (its first, sm_80 or later).</summary>
    public static bool IsCudaAvailable => s_cudaAvailable.Value;

    /// <summary>CPU accelerator or CUDA GPU.</summary>
    public DeviceKind Kind { get; }

    /// <summary>The accelerator's name, e.g. "NVIDIA H200".</summary>
    public string Name => _accelerator.Name;

    /// <summary>When set, every new buffer is filled with 0xFF bytes (NaN in every float dtype), so
    /// an output element a kernel failed to write shows up as NaN. Meant for tests.</summary>
    public bool PoisonAllocations { get; }

    /// <summary>True once <see cref="Dispose"/> ran; tensors on a disposed device raise <see cref="DeviceException"/>.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    internal Accelerator Accelerator
    {
        get
        {
            if (IsDisposed)
                throw new DeviceException($"The device {this} has been disposed.");
            return _accelerator;
        }
    }

    /// <summary>A new CPU-accelerator device with 32-lane warps (the layout CUDA kernels assume).</summary>
    public static Device Cpu(bool poisonAllocations = false)
    {
        var context = CreateCpuContext();
        return new Device(context, context.CreateCPUAccelerator(0), DeviceKind.Cpu, poisonAllocations, isProcessDefault: false);
    }

    /// <summary>A new device on CUDA GPU <paramref name="ordinal"/>.</summary>
    /// <exception cref="DeviceException">No such GPU, or CUDA is not usable here.</exception>
    public static Device Cuda(int ordinal = 0, bool poisonAllocations = false) =>
        CreateCuda(ordinal, poisonAllocations, isProcessDefault: false);

    /// <summary>Waits until all work queued on this device has finished.</summary>
    public void Synchronize()
    {
        using var _ = Enter();
        _accelerator.Synchronize();
    }

    /// <summary>"Kind:Name #Id", e.g. "Cuda:NVIDIA H200 #1".</summary>
    public override string ToString() => $"{Kind}:{_accelerator.Name} #{Id}";

    /// <summary>Frees the accelerator, its kernels and every buffer on it (a no-op on <see cref="Default"/>).
    /// Waits for any call another thread is issuing on this device; calls after it raise <see cref="DeviceException"/>.</summary>
    public void Dispose()
    {
        if (_isProcessDefault)
            return;
        lock (_gate)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            _accelerator.Bind();
            _accelerator.Dispose();
            _context.Dispose();
        }
    }

    /// <summary>The device's issue lock, taken with this device's context current on the calling thread; reentrant
    /// (an op that calls another takes it twice). Throws <see cref="DeviceException"/> on a disposed device.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal Gate Enter()
    {
        Monitor.Enter(_gate);
        if (IsDisposed)
        {
            Monitor.Exit(_gate);
            throw new DeviceException($"The device {this} has been disposed.");
        }
        _accelerator.Bind();
        return new Gate(_gate);
    }

    /// <summary>The held issue lock; disposing releases it.</summary>
    internal readonly struct Gate(object gate) : IDisposable
    {
        public void Dispose() => Monitor.Exit(gate);
    }

    /// <summary>The launcher of <paramref name="kernel"/> (an explicitly grouped kernel), compiled on
    /// first use and cached for the device's lifetime. On CUDA the PTX goes through
    /// <see cref="CudaKernelLoader"/>.</summary>
    private TLauncher Launcher<TLauncher>(MethodInfo kernel) where TLauncher : Delegate =>
        (TLauncher)Load(kernel).Launcher<TLauncher>();

    /// <summary>Whether the mma.sync GEMM kernels take their emulated flavour here (the CPU accelerator): see
    /// <c>TritonOps.Kernels.Ptx.IMmaFlavour</c>.</summary>
    internal bool EmulatesMma => Kind == DeviceKind.Cpu;

    /// <summary>Thread blocks of <paramref name="groupSize"/> threads that fit on one multiprocessor at
    /// once (registers and shared memory permitting): sizes persistent grids.</summary>
    internal int BlocksPerMultiprocessor(MethodInfo kernel, int groupSize, int dynamicSharedBytes = 0) =>
        _occupancy.TryGetValue((kernel, groupSize, dynamicSharedBytes), out int blocks) ? blocks
            : _occupancy.GetOrAdd((kernel, groupSize, dynamicSharedBytes), key => Math.Max(1,
                Accelerator.EstimateMaxActiveGroupsPerMultiprocessor(Load(key.Kernel).Kernel, key.GroupSize, key.DynamicBytes)));

    /// <summary>The largest group (a multiple of 32) that can launch given the kernel's register and
    /// shared-memory use.</summary>
    internal int MaxGroupSize(MethodInfo kernel) =>
        _maxGroupSize.TryGetValue(kernel, out int size) ? size : _maxGroupSize.GetOrAdd(kernel, k =>
        {
            for (int size = Accelerator.MaxNumThreadsPerGroup / 32 * 32; size > 32; size -= 32)
                if (Accelerator.EstimateMaxActiveGroupsPerMultiprocessor(Load(k).Kernel, size, 0) > 0)
                    return size;
            return 32;
        });

    /// <summary>Whether kernels built on Hopper's warpgroup instructions (<c>wgmma</c>, sm_90a) run here:
    /// on an sm_90 GPU, or emulated on the CPU accelerator.</summary>
    internal bool HasWarpgroupMma => Architecture is not { } a || a == CudaArchitecture.SM_90;

    /// <summary>Whether kernels that stage through <c>cp.async</c> (sm_80+) run here; the CPU accelerator copies at once.</summary>
    internal bool HasAsyncCopy => Architecture is not { } a || a >= CudaArchitecture.SM_80;

    /// <summary>The oldest GPU the library runs on: bfloat16 conversions, the 16-bit m16n8k16 <c>mma.sync</c> and <c>cp.async</c>.</summary>
    internal static readonly CudaArchitecture MinimumArchitecture = CudaArchitecture.SM_80;

    /// <summary>Whether the FP8 kernels run here: E4M3/E5M2 conversions (<c>cvt … e4m3x2</c>) and FP8 <c>mma</c> need sm_89 or
    /// later; the CPU accelerator emulates them.</summary>
    internal bool HasFp8 => Architecture is not { } a || a >= CudaArchitecture.SM_89;

    /// <summary>The GPU architecture the capability queries answer for: the CUDA device's; on the CPU accelerator none (it
    /// emulates everything), or the one a test asked it to stand in for (<see cref="CpuStandingInFor"/>).</summary>
    internal CudaArchitecture? Architecture => _standsInFor ?? (Accelerator is CudaAccelerator cuda ? cuda.Architecture : null);

    private CudaArchitecture? _standsInFor;

    /// <summary>"sm_90", or "the CPU accelerator", for messages.</summary>
    internal string ArchitectureName => Architecture is { } a
        ? $"sm_{a.Major}{a.Minor}{(Kind == DeviceKind.Cpu ? " (simulated on the CPU accelerator)" : "")}" : "the CPU accelerator";

    /// <summary>A CPU-accelerator device whose capability queries answer as <paramref name="architecture"/> does (kernel
    /// choices, shared-memory limits, the FP8 and architecture checks), so tests reach the paths of GPUs we do not have.</summary>
    internal static Device CpuStandingInFor(CudaArchitecture architecture, bool poisonAllocations = true)
    {
        var device = Cpu(poisonAllocations);
        device._standsInFor = architecture;
        return device;
    }

    /// <summary>Whether the 16-bit <c>mma.sync</c> shapes the tensor-core kernels use (m16n8k16 f16/bf16, sm_80+) run here;
    /// the CPU accelerator emulates them.</summary>
    internal bool HasMmaSync => HasAsyncCopy;

    /// <summary>The shared memory one block may opt in to (227 KB on Hopper, 163 KB on A100, 99 KB on sm_86/89); on the CPU
    /// accelerator, Hopper's, or the stood-in GPU's (the CUDA guide's table).</summary>
    internal int MaxSharedBytesPerBlock => Kind == DeviceKind.Cpu
        ? Architecture is not { } a ? 227 * 1024 : (a.Major, a.Minor) switch
        {
            (9, 0) or (10, _) => 227 * 1024,
            (8, 0) or (8, 7) => 163 * 1024,
            (8, 6) or (8, 9) or (12, _) => 99 * 1024,
            (7, 5) => 64 * 1024,
            _ => 48 * 1024,
        }
        : _maxSharedBytesPerBlock ??= TritonOps.Cuda.CudaDriver.MaxSharedBytesPerBlockOptIn(((CudaAccelerator)Accelerator).DeviceId);

    private int? _maxSharedBytesPerBlock;

    /// <summary>Multiprocessors on the device (1 on the CPU accelerator's warp-32 preset).</summary>
    internal int Multiprocessors => Accelerator.NumMultiprocessors;

    /// <summary>Every launch comes through here: the lookup-first path allocates nothing (the
    /// GetOrAdd factory closure is built only on a miss).</summary>
    private LoadedKernel Load(MethodInfo kernel)
    {
        if (_kernels.TryGetValue(kernel, out var loaded) && !IsDisposed)
            return loaded.Value;
        Accelerator accelerator = Accelerator;
        return _kernels.GetOrAdd(kernel, k => new Lazy<LoadedKernel>(
            () => new LoadedKernel(k, accelerator is CudaAccelerator cuda ? CudaKernelLoader.Load(cuda, k) : accelerator.LoadKernel(k)),
            LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    /// <summary>CUDA: how many clusters of <paramref name="kernel"/> (a kernel with a cluster shape) can run at once with
    /// blocks of <paramref name="threads"/> threads and <paramref name="sharedBytes"/> of dynamic shared memory, asked of the
    /// driver once a kernel and size; 0 off CUDA, minus the CUresult where the driver cannot say.</summary>
    internal int MaxActiveClusters(MethodInfo kernel, int gridX, int gridY, int threads, int sharedBytes)
    {
        if (Kind != DeviceKind.Cuda)
            return 0;
        // Every decode launch asks: the lookup first, so a hit allocates no closure.
        if (_clusterOccupancy.TryGetValue((kernel, threads, sharedBytes), out int known))
            return known;
        int clusters = Load(kernel).Kernel is ILGPU.Runtime.Cuda.CudaKernel cuda
            ? TritonOps.Cuda.CudaDriver.MaxActiveClusters(cuda.FunctionPtr, gridX, gridY, threads, sharedBytes)
            : 0;
        return _clusterOccupancy.GetOrAdd((kernel, threads, sharedBytes), clusters);
    }

    private readonly ConcurrentDictionary<(MethodInfo Kernel, int Threads, int SharedBytes), int> _clusterOccupancy = new();

    /// <summary>Swapped decode launches whose K splits met in a thread-block cluster (where the clusters do not fit, the op
    /// falls back to the workspace meeting without a word: tests read this to see which meeting ran).</summary>
    internal long ClusterMeetings;

    /// <summary>A loaded kernel and its launcher delegate, made once.</summary>
    private sealed class LoadedKernel(MethodInfo method, Kernel kernel)
    {
        private Delegate? _launcher;

        public Kernel Kernel { get; } = kernel;

        public T Launcher<T>() where T : Delegate =>
            Volatile.Read(ref _launcher) as T ?? Create<T>();

        private T Create<T>() where T : Delegate
        {
            // The launch's argument types, after the stream and the config, must be the kernel's parameter types:
            // ILGPU's launcher would otherwise pass the bytes of one type as another.
            var given = typeof(T).GetMethod("Invoke")!.GetParameters().Skip(2).Select(p => p.ParameterType).ToArray();
            var expected = method.GetParameters().Select(p => p.ParameterType).ToArray();
            if (!given.SequenceEqual(expected))
                throw new InvalidOperationException($"Launch of {method.DeclaringType?.Name}.{method.Name} with ({string.Join(", ", given.Select(t => t.Name))}); " +
                    $"it takes ({string.Join(", ", expected.Select(t => t.Name))}).");
            // Another thread may have made the launcher since this one looked: take it.
            var made = Volatile.Read(ref _launcher) ?? Interlocked.CompareExchange(ref _launcher, MakeLauncher<T>(), null) ?? _launcher!;
            return made as T ?? throw new InvalidOperationException(
                $"{method.DeclaringType?.Name}.{method.Name} launched as {typeof(T).Name} after {made.GetType().Name}.");
        }

        /// <summary>ILGPU's launcher, or on CUDA for a kernel marked <see cref="TritonOps.Kernels.ProgrammaticLaunchAttribute"/>
        /// one that packs the arguments as ILGPU does and launches through <c>cuLaunchKernelEx</c> with programmatic stream
        /// serialization.</summary>
        private T MakeLauncher<T>() where T : Delegate
        {
            if (Kernel is not ILGPU.Runtime.Cuda.CudaKernel cuda || !method.IsDefined(typeof(TritonOps.Kernels.ProgrammaticLaunchAttribute), inherit: false)
                || ((CudaAccelerator)cuda.Accelerator).Architecture < CudaArchitecture.SM_90)
                return Kernel.CreateLauncherDelegate<T>();
            var accelerator = (CudaAccelerator)cuda.Accelerator;
            return (T)TritonOps.Cuda.ExLauncher.Create(typeof(T), accelerator.Context, accelerator.Backend.ArgumentMapper,
                TritonOps.Cuda.ExLauncher.EntryPointOf(cuda.CompiledKernel), new TritonOps.Cuda.ExLauncher.CudaTarget(cuda, programmaticStreamSerialization: true),
                typeof(TritonOps.Cuda.ExLauncher).GetMethod(nameof(TritonOps.Cuda.ExLauncher.LaunchCuda))!);
        }
    }

    /// <summary>
    /// Runs <paramref name="launch"/> with the device address of bytes that depend only on <paramref name="key"/>
    /// (tensor maps, say): made and uploaded on the first request, then kept, so no queued kernel ever sees
    /// them rewritten. Past 4096 entries the cache is emptied after the queued work finishes. The launch runs
    /// under the cache's lock, so no other thread can empty it between the lookup and the launch.
    /// </summary>
    internal void WithConstantBytes<TKey>(TKey key, Func<TKey, byte[]> make, Action<ulong> launch) where TKey : notnull =>
        WithConstantTensor(key, make, bytes => launch(bytes.DeviceAddress));

    /// <summary>As <see cref="WithConstantBytes"/>, handing over the kept buffer itself (a kernel that writes it must
    /// leave it as it found it: the split-K arrival counters).</summary>
    internal void WithConstantTensor<TKey>(TKey key, Func<TKey, byte[]> make, Action<Tensor> launch) where TKey : notnull
    {
        using var _ = Enter();
        lock (_constants)
        {
            if (!_constants.TryGetValue(key, out var bytes))
            {
                if (_constants.Count >= 4096)
                {
                    Accelerator.Synchronize();
                    foreach (var t in _constants.Values)
                        t.Dispose();
                    _constants.Clear();
                    Interlocked.Exchange(ref _constantBytes, 0);
                }
                byte[] content = make(key);
                bytes = Tensor.FromBytes(content, [content.Length], DType.Float8E4M3, this);
                _constants.Add(key, bytes);
                Interlocked.Add(ref _constantBytes, RoundedSize(content.Length));
            }
            launch(bytes);
        }
    }

    private readonly Dictionary<object, Tensor> _constants = new();
    private long _constantBytes;

    /// <summary>Bytes of <see cref="WithConstantBytes"/>'s kept buffers (part of <see cref="BytesInUse"/>).</summary>
    internal long ConstantBytes => Interlocked.Read(ref _constantBytes);

    /// <summary>Buffers the calling thread has allocated on this device so far; lets tests prove validation runs
    /// before allocation (per thread, so tests running in parallel on one device do not see each other's).</summary>
    internal long AllocationCount => _threadAllocations.Value;

    private readonly ThreadLocal<long> _threadAllocations = new();

    /// <summary>
    /// A buffer of at least <paramref name="bytes"/>, from the cache of freed buffers when one of the
    /// same rounded size is there (like PyTorch's caching allocator: cuMemAlloc is slow and cuMemFree
    /// synchronizes the device). Reuse is safe because all of the library's work goes through the
    /// accelerator's one in-order default stream.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal MemoryBuffer1D<byte, Stride1D.Dense> Allocate(long bytes)
    {
        using var _ = Enter();
        Interlocked.Increment(ref _allocations);
        _threadAllocations.Value++;
        long size = RoundedSize(bytes);
        if (!(_cache.TryGetValue(size, out var bag) && bag.TryTake(out var buffer)))
            buffer = Accelerator.Allocate1D<byte>(size);
        else
            Interlocked.Add(ref _cachedBytes, -size);
        Interlocked.Add(ref _bytesInUse, size);
        if (PoisonAllocations)
            buffer.MemSet(0xFF);
        return buffer;
    }

    /// <summary>Takes back a buffer no tensor uses any more, for reuse.</summary>
    internal void Return(MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        Interlocked.Add(ref _bytesInUse, -buffer.Length);
        if (IsDisposed)
            return;
        _cache.GetOrAdd(buffer.Length, _ => new ConcurrentBag<MemoryBuffer1D<byte, Stride1D.Dense>>()).Add(buffer);
        Interlocked.Add(ref _cachedBytes, buffer.Length);
    }

    private long _bytesInUse;

    /// <summary>Bytes of the buffers live tensors hold (rounded sizes): back where it was once every tensor made
    /// since is disposed, so tests can prove that no call leaks a buffer.</summary>
    internal long BytesInUse => Interlocked.Read(ref _bytesInUse);

    /// <summary>Bytes held by freed tensors' buffers, kept for reuse.</summary>
    public long CachedBytes => Interlocked.Read(ref _cachedBytes);

    /// <summary>Frees the buffers kept for reuse (waits for queued work first).</summary>
    public void ReleaseCachedMemory()
    {
        using var _ = Enter();
        _accelerator.Synchronize();
        foreach (var bag in _cache.Values)
            while (bag.TryTake(out var buffer))
            {
                Interlocked.Add(ref _cachedBytes, -buffer.Length);
                buffer.Dispose();
            }
    }

    /// <summary>Sizes round up to 512 bytes below 1 MiB and to 1/8 of their power of two above, so
    /// buffers of similar tensors are interchangeable.</summary>
    private static long RoundedSize(long bytes)
    {
        bytes = Math.Max(bytes, 1);
        if (bytes <= 1 << 20)
            return (bytes + 511) / 512 * 512;
        long step = (1L << (63 - (int)long.LeadingZeroCount(bytes))) / 8;
        return (bytes + step - 1) / step * step;
    }

    private static Device CreateDefault()
    {
        if (IsCudaAvailable)
            return CreateCuda(0, poisonAllocations: false, isProcessDefault: true);
        var context = CreateCpuContext();
        return new Device(context, context.CreateCPUAccelerator(0), DeviceKind.Cpu, false, isProcessDefault: true);
    }

    /// <summary>The CPU accelerator compiles each kernel into one .NET method; with ILGPU's default inlining
    /// every emulated mma and ldmatrix is pasted in (hundreds in the wide gated kernel), and the .NET JIT
    /// spent minutes on such a method. Conservative inlining keeps the big helpers as calls.</summary>
    private static Context CreateCpuContext() =>
        Context.Create(builder => builder.CPU(CPUDevice.Nvidia).EnableAlgorithms().Inlining(InliningMode.Conservative));

    private static Device CreateCuda(int ordinal, bool poisonAllocations, bool isProcessDefault)
    {
        Context? context = null;
        try
        {
            // Profiling lets streams record CUDA events (ProfilingMarker), which the benchmark times with.
            context = Context.Create(builder => builder.Cuda().EnableAlgorithms().Profiling());
            var devices = context.GetCudaDevices();
            if (ordinal < 0 || ordinal >= devices.Count)
                throw new DeviceException(
                    $"Argument 'ordinal': expected a CUDA device index in [0, {devices.Count}), got {ordinal}" +
                    (devices.Count == 0 ? " (no CUDA GPU found on this machine)." : "."));
            if (devices[ordinal] is CudaDevice cudaDevice && cudaDevice.Architecture is { } architecture && architecture < MinimumArchitecture)
                throw new DeviceException($"CUDA device {ordinal} ({cudaDevice.Name}) is sm_{architecture.Major}{architecture.Minor}; TritonOps needs " +
                    $"sm_{MinimumArchitecture.Major}{MinimumArchitecture.Minor} or later (bfloat16 conversions, 16-bit mma.sync, cp.async).");
            var accelerator = devices[ordinal].CreateAccelerator(context);
            return new Device(context, accelerator, DeviceKind.Cuda, poisonAllocations, isProcessDefault);
        }
        catch (Exception e) when (e is not DeviceException)
        {
            context?.Dispose();
            throw new DeviceException($"CUDA device {ordinal} could not be opened: {e.Message}", e);
        }
        catch
        {
            context?.Dispose();
            throw;
        }
    }

    private static bool ProbeCuda()
    {
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            var devices = context.GetCudaDevices();
            return devices.Count > 0 && devices[0] is CudaDevice { Architecture: { } architecture } && architecture >= MinimumArchitecture;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
