using TritonOps.Cuda;

namespace TritonOps;

/// <summary>One operand of a copy-engine GEMM: a row-major byte matrix of <paramref name="Rows"/> rows of
/// <paramref name="RowBytes"/> at <paramref name="Address"/>, read in boxes of <paramref name="BoxRows"/> rows × 128
/// bytes, written to shared memory in the 128-byte swizzle, zeros past the edges.</summary>
internal readonly record struct SwizzledTiles(ulong Address, long RowBytes, long Rows, int BoxRows);

/// <summary>
/// The tensor maps of the warp-specialized GEMMs' operands (<c>cuTensorMapEncodeTiled</c>), the one place the ops get
/// them from: made and uploaded on first use and kept (<see cref="Device.WithConstantBytes"/>: no queued kernel sees
/// them rewritten), 128 bytes each, consecutive. A device without a copy engine (the CPU accelerator) gets address 0
/// for each map, and the kernels' producer warpgroup copies with its threads instead.
/// </summary>
internal static class TensorMaps
{
    public static void With(Device device, SwizzledTiles first, SwizzledTiles second, Action<ulong, ulong> launch)
    {
        if (device.Kind != DeviceKind.Cuda)
        {
            launch(0, 0);
            return;
        }
        device.WithConstantBytes((first, second), key => Encode(key.first, key.second), maps => launch(maps, maps + 128));
    }

    public static void With(Device device, SwizzledTiles first, SwizzledTiles second, SwizzledTiles third, Action<ulong, ulong, ulong> launch)
    {
        if (device.Kind != DeviceKind.Cuda)
        {
            launch(0, 0, 0);
            return;
        }
        device.WithConstantBytes((first, second, third), key => Encode(key.first, key.second, key.third), maps => launch(maps, maps + 128, maps + 256));
    }

    private static byte[] Encode(params SwizzledTiles[] operands)
    {
        byte[] bytes = new byte[128 * operands.Length];
        for (int i = 0; i < operands.Length; i++)
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(128 * i, 128), operands[i].Address, operands[i].RowBytes, operands[i].Rows, operands[i].BoxRows);
        return bytes;
    }
}
