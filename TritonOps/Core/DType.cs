using TritonOps.Kernels.Numerics;

namespace TritonOps;

/// <summary>Element types a <see cref="Tensor"/> can hold.</summary>
public enum DType
{
    /// <summary>IEEE binary32, four bytes.</summary>
    Float32,
    /// <summary>IEEE binary16, two bytes.</summary>
    Float16,
    /// <summary>bfloat16 (the upper half of a float32), two bytes.</summary>
    BFloat16,
    /// <summary>OCP FP8 E4M3 ("fn", max 448), one byte per element, bit-identical to torch.float8_e4m3fn.</summary>
    Float8E4M3,
    /// <summary>OCP FP8 E5M2 (max 57344), one byte per element, bit-identical to torch.float8_e5m2.</summary>
    Float8E5M2,
    /// <summary>Signed 32-bit integer (positions, indices), four bytes.</summary>
    Int32,
    /// <summary>Signed 64-bit integer (torch.long positions), eight bytes.</summary>
    Int64,
    /// <summary>Unsigned byte (torch.uint8), one byte.</summary>
    UInt8,
}

/// <summary>Sizes, names and exact host conversions of each <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>The kernels' element operator struct for a float dtype (library-internal: the ops' and
    /// <see cref="Tensor.To(DType)"/>'s kernel variants).</summary>
    internal static Type ElementTypeOf(DType dtype) => dtype switch
    {
        DType.Float32 => typeof(TritonOps.Kernels.Elements.Float32Element),
        DType.Float16 => typeof(TritonOps.Kernels.Elements.Float16Element),
        DType.BFloat16 => typeof(TritonOps.Kernels.Elements.BFloat16Element),
        _ => throw new UnsupportedDtypeException($"No kernel element type for {Name(dtype)}."),
    };

    /// <summary>Bytes per element.</summary>
    public static int SizeOf(DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float16 or DType.BFloat16 => 2,
        DType.Float8E4M3 or DType.Float8E5M2 or DType.UInt8 => 1,
        DType.Int32 => 4,
        DType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The name PyTorch uses, for messages.</summary>
    public static string Name(DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float16 => "float16",
        DType.BFloat16 => "bfloat16",
        DType.Float8E4M3 => "float8_e4m3fn",
        DType.Float8E5M2 => "float8_e5m2",
        DType.Int32 => "int32",
        DType.Int64 => "int64",
        DType.UInt8 => "uint8",
        _ => dtype.ToString(),
    };

    /// <summary>Rounds each value to the nearest <paramref name="dtype"/> value (ties to even;
    /// FP8 saturates to its largest finite value) and writes its raw little-endian bytes.</summary>
    public static void Encode(ReadOnlySpan<float> values, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.Float32:
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(destination);
                break;
            case DType.Float16:
                for (int i = 0; i < values.Length; i++)
                    WriteUInt16(destination, i, HalfBits.FromFloat(values[i]));
                break;
            case DType.BFloat16:
                for (int i = 0; i < values.Length; i++)
                    WriteUInt16(destination, i, BFloat16Bits.FromFloat(values[i]));
                break;
            case DType.Float8E4M3:
                for (int i = 0; i < values.Length; i++)
                    destination[i] = E4M3.Encode(values[i]);
                break;
            case DType.Float8E5M2:
                for (int i = 0; i < values.Length; i++)
                    destination[i] = E5M2.Encode(values[i]);
                break;
            case DType.Int32:
                for (int i = 0; i < values.Length; i++)
                    System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(destination[(4 * i)..], ToInteger<int>(values[i]));
                break;
            case DType.Int64:
                for (int i = 0; i < values.Length; i++)
                    System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(destination[(8 * i)..], ToInteger<long>(values[i]));
                break;
            case DType.UInt8:
                for (int i = 0; i < values.Length; i++)
                    destination[i] = ToInteger<byte>(values[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
    }

    /// <summary>Exact widening of raw <paramref name="dtype"/> bytes to float.</summary>
    public static void Decode(ReadOnlySpan<byte> source, DType dtype, Span<float> values)
    {
        switch (dtype)
        {
            case DType.Float32:
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(source).CopyTo(values);
                break;
            case DType.Float16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = HalfBits.ToFloat(ReadUInt16(source, i));
                break;
            case DType.BFloat16:
                for (int i = 0; i < values.Length; i++)
                    values[i] = BFloat16Bits.ToFloat(ReadUInt16(source, i));
                break;
            case DType.Float8E4M3:
                for (int i = 0; i < values.Length; i++)
                    values[i] = E4M3.Decode(source[i]);
                break;
            case DType.Float8E5M2:
                for (int i = 0; i < values.Length; i++)
                    values[i] = E5M2.Decode(source[i]);
                break;
            case DType.Int32:
                for (int i = 0; i < values.Length; i++)
                    values[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(source[(4 * i)..]);
                break;
            case DType.Int64:
                for (int i = 0; i < values.Length; i++)
                    values[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(source[(8 * i)..]);
                break;
            case DType.UInt8:
                for (int i = 0; i < values.Length; i++)
                    values[i] = source[i];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype");
        }
    }

    /// <summary>The value <paramref name="value"/> becomes when stored as <paramref name="dtype"/>.</summary>
    public static float Round(float value, DType dtype)
    {
        Span<byte> bytes = stackalloc byte[8];
        Span<float> result = stackalloc float[1];
        bytes = bytes[..SizeOf(dtype)];
        Encode([value], dtype, bytes);
        Decode(bytes, dtype, result);
        return result[0];
    }

    /// <summary>Whether <paramref name="dtype"/> holds integers (no float op takes it).</summary>
    public static bool IsInteger(DType dtype) => dtype is DType.Int32 or DType.Int64 or DType.UInt8;

    /// <summary>A float that must be a whole number in range when it becomes an integer element.</summary>
    private static T ToInteger<T>(float value) where T : System.Numerics.INumber<T>, System.Numerics.IMinMaxValue<T>
    {
        if (float.IsNaN(value) || value != MathF.Round(value) || (double)value < double.CreateTruncating(T.MinValue) || (double)value > double.CreateTruncating(T.MaxValue))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"expected a whole number in [{T.MinValue}, {T.MaxValue}], got {value}.");
        return T.CreateTruncating(value);
    }

    private static void WriteUInt16(Span<byte> destination, int index, ushort value) =>
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * index)..], value);

    private static ushort ReadUInt16(ReadOnlySpan<byte> source, int index) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * index)..]);
}
