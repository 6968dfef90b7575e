using System.Runtime.InteropServices;

namespace TritonOps.Cuda;

/// <summary>The few CUDA driver calls ILGPU does not expose: the opt-in for more than 48 KB of dynamic
/// shared memory per block. Resolved from the driver library ILGPU itself runs on.</summary>
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

    public static void SetMaxDynamicSharedBytes(IntPtr function, int bytes)
    {
        var set = (delegate* unmanaged<IntPtr, int, int, int>)Export("cuFuncSetAttribute");
        Check(set(function, FunctionAttributeMaxDynamicSharedSizeBytes, bytes), "cuFuncSetAttribute");
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
            throw new DeviceException($"CUDA driver call {call} failed with error {result}.");
    }
}
