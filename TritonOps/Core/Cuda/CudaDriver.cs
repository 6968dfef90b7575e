using System.Runtime.InteropServices;

namespace TritonOps.Cuda;

/// <summary>The few CUDA driver calls ILGPU does not expose: the opt-in for more than 48 KB of dynamic
/// shared memory per block, tensor maps for the copy engine. Resolved from the driver library ILGPU itself runs on.</summary>
internal static unsafe class CudaDriver
{
    private const int DeviceAttributeMaxSharedMemoryPerBlockOptIn = 97; // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    private const int FunctionAttributeSharedSizeBytes = 1;             // CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES
    private const int FunctionAttributeMaxDynamicSharedSizeBytes = 8;   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES

    private static readonly Lazy<IntPtr> s_library = new(() =>
        NativeLibrary.Load(OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1"));

    private static IntPtr Export(string name) => NativeLibrary.GetExport(s_library.Value, name);

    /// <summary>Shared bytes a block may have with the opt-in (227 KB on Hopper, 48 KB without it).</summary>
    public static int MaxSharedBytesPerBlockOptIn(int deviceId)
    {
        var get = (delegate* unmanaged<int*, int, int, int>)Export("cuDeviceGetAttribute");
        int value;
        Check(get(&value, DeviceAttributeMaxSharedMemoryPerBlockOptIn, deviceId), "cuDeviceGetAttribute");
        return value;
    }

    /// <summary>The function's static shared bytes.</summary>
    public static int StaticSharedBytes(IntPtr function)
    {
        var get = (delegate* unmanaged<int*, int, IntPtr, int>)Export("cuFuncGetAttribute");
        int value;
        Check(get(&value, FunctionAttributeSharedSizeBytes, function), "cuFuncGetAttribute");
        return value;
    }

    /// <summary><c>cuOccupancyMaxActiveClusters</c>: how many clusters of <paramref name="function"/> (its cluster shape
    /// from its PTX's <c>.reqnctapercluster</c>) can run at once with these block dimensions and dynamic shared bytes; where
    /// the driver cannot say, minus its CUresult.</summary>
    public static int MaxActiveClusters(IntPtr function, int gridX, int gridY, int blockX, int sharedBytes)
    {
        var query = (delegate* unmanaged<int*, IntPtr, LaunchConfig*, int>)Export("cuOccupancyMaxActiveClusters");
        var config = new LaunchConfig
        {
            GridX = (uint)gridX, GridY = (uint)gridY, GridZ = 1, BlockX = (uint)blockX, BlockY = 1, BlockZ = 1, SharedBytes = (uint)sharedBytes,
        };
        int clusters, result = query(&clusters, function, &config);
        return result == 0 ? clusters : -result;
    }

    public static void SetMaxDynamicSharedBytes(IntPtr function, int bytes)
    {
        var set = (delegate* unmanaged<IntPtr, int, int, int>)Export("cuFuncSetAttribute");
        Check(set(function, FunctionAttributeMaxDynamicSharedSizeBytes, bytes), "cuFuncSetAttribute");
    }

    /// <summary>
    /// <c>cuTensorMapEncodeTiled</c> for a row-major byte matrix of <paramref name="rows"/> rows of
    /// <paramref name="rowBytes"/> (a multiple of 16) at <paramref name="globalAddress"/> (16-byte aligned): boxes of
    /// <paramref name="boxRows"/> rows × 128 bytes, written to shared memory in the 128-byte swizzle, elements
    /// outside the matrix read as zero. <paramref name="map"/>: the 128-byte map.
    /// </summary>
    public static void EncodeSwizzledByteTiles(Span<byte> map, ulong globalAddress, long rowBytes, long rows, int boxRows)
    {
        if (map.Length != 128)
            throw new ArgumentException("A tensor map takes 128 bytes.", nameof(map));
        var encode = (delegate* unmanaged<byte*, int, uint, ulong, ulong*, ulong*, uint*, uint*, int, int, int, int, int>)Export("cuTensorMapEncodeTiled");
        ulong* dims = stackalloc ulong[] { (ulong)rowBytes, (ulong)rows };
        ulong* strides = stackalloc ulong[] { (ulong)rowBytes };
        uint* box = stackalloc uint[] { 128u, (uint)boxRows };
        uint* elementStrides = stackalloc uint[] { 1u, 1u };
        // The map must be 64-byte aligned while it is encoded.
        byte* aligned = stackalloc byte[128 + 64];
        byte* at = (byte*)(((nuint)aligned + 63) & ~(nuint)63);
        const int Uint8 = 0, InterleaveNone = 0, Swizzle128B = 3, L2Promotion256B = 3, OobFillZero = 0;
        Check(encode(at, Uint8, 2, globalAddress, dims, strides, box, elementStrides, InterleaveNone, Swizzle128B, L2Promotion256B, OobFillZero),
            "cuTensorMapEncodeTiled");
        new ReadOnlySpan<byte>(at, 128).CopyTo(map);
    }

    /// <summary><c>CUlaunchConfig</c> (x64, 56 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct LaunchConfig
    {
        public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
        public IntPtr Stream;
        public LaunchAttribute* Attributes;
        public uint AttributeCount;
    }

    /// <summary><c>CUlaunchAttribute</c> (72 bytes): the id, then a 64-byte value union from byte 8.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 72)]
    private struct LaunchAttribute
    {
        [FieldOffset(0)] public int Id;
        [FieldOffset(8)] public int Value;
    }

    private const int LaunchAttributeProgrammaticStreamSerialization = 6; // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION

    /// <summary><c>cuLaunchKernelEx</c> of <paramref name="function"/> with ILGPU's packed argument buffer
    /// (<paramref name="extra"/>, the <c>CU_LAUNCH_PARAM_BUFFER_POINTER</c> form) on <paramref name="stream"/>; with
    /// <paramref name="programmaticStreamSerialization"/>, the launch may begin before the stream's previous kernel ends.</summary>
    public static void LaunchKernelEx(IntPtr function, ILGPU.KernelConfig config, IntPtr stream, bool programmaticStreamSerialization, void** extra)
    {
        var launch = (delegate* unmanaged<LaunchConfig*, IntPtr, void**, void**, int>)s_launchKernelEx.Value;
        var attribute = new LaunchAttribute { Id = LaunchAttributeProgrammaticStreamSerialization, Value = 1 };
        var settings = new LaunchConfig
        {
            GridX = (uint)config.GridDim.X, GridY = (uint)config.GridDim.Y, GridZ = (uint)config.GridDim.Z,
            BlockX = (uint)config.GroupDim.X, BlockY = (uint)config.GroupDim.Y, BlockZ = (uint)config.GroupDim.Z,
            SharedBytes = (uint)config.SharedMemoryConfig.ArraySize, Stream = stream,
            Attributes = &attribute, AttributeCount = programmaticStreamSerialization ? 1u : 0u,
        };
        Check(launch(&settings, function, null, extra), "cuLaunchKernelEx");
    }

    private static readonly Lazy<IntPtr> s_launchKernelEx = new(() => Export("cuLaunchKernelEx"));

    private static void Check(int result, string call)
    {
        if (result != 0)
            throw new DeviceException($"CUDA driver call {call} failed with error {result}.");
    }
}
