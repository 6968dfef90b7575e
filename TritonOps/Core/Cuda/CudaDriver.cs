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

    private static void Check(int result, string call)
    {
        if (result != 0)
            throw new DeviceException($"CUDA driver call {call} failed with error {result}.");
    }
}
