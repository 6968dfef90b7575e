namespace TritonOps.Kernels.Elements;

/// <summary>The dtypes every non-GEMM kernel is instantiated with.</summary>
internal static class ElementTypes
{
    public static readonly Type[] Floats = [typeof(Float32Element), typeof(Float16Element), typeof(BFloat16Element)];
}

/// <summary>A storage dtype as kernels see it: raw element bits, their widening and narrowing,
/// and 16-byte packs. Kernels are generic over this, so one body serves every dtype.</summary>
internal interface IElementType
{
    /// <summary>Elements in one 16-byte pack.</summary>
    static abstract int PackWidth { get; }

    /// <summary>The raw bits of element <paramref name="index"/>, zero-extended.</summary>
    static abstract uint LoadBits(ArrayView<byte> data, long index);

    static abstract void StoreBits(ArrayView<byte> data, long index, uint bits);

    static abstract float Widen(uint bits);

    static abstract uint Narrow(float value);

    /// <summary>The first <see cref="PackWidth"/> lanes of the result hold the pack's elements.</summary>
    static abstract Vec8F Unpack(Vec4U pack);

    static abstract Vec4U Pack(in Vec8F values);

    /// <summary>The largest |element| of a pack (zero bits count as 0), by bit pattern: a NaN wins, as the amax of
    /// FP8 scaling wants. On the raw bits, without unpacking: 16-bit packs take four <c>and</c> and three
    /// <c>max.u16x2</c> for eight elements (unpack, abs and compare-select took four instructions an element).</summary>
    static abstract float AbsMaxOfPack(Vec4U pack);
}

/// <summary>A dtype the tensor cores multiply: <c>mma … .f16</c>, <c>.bf16</c> (16-bit, m16n8k16) or
/// <c>.e4m3</c> (8-bit, m16n8k32).</summary>
internal interface IMmaElement : IElementType
{
    static abstract bool IsBFloat16 { get; }

    static abstract int BitsPerElement { get; }
}

/// <summary>float32: four to a pack.</summary>
internal struct Float32Element : IElementType
{
    public static int PackWidth => 4;

    public static uint LoadBits(ArrayView<byte> data, long index) => data.Cast<uint>()[index];

    public static void StoreBits(ArrayView<byte> data, long index, uint bits) => data.Cast<uint>()[index] = bits;

    public static float Widen(uint bits) => Bits.ToFloat(bits);

    public static uint Narrow(float value) => Bits.Of(value);

    public static Vec8F Unpack(Vec4U p) => new()
    {
        E0 = Bits.ToFloat(p.X), E1 = Bits.ToFloat(p.Y), E2 = Bits.ToFloat(p.Z), E3 = Bits.ToFloat(p.W),
    };

    public static Vec4U Pack(in Vec8F v) => new(Bits.Of(v.E0), Bits.Of(v.E1), Bits.Of(v.E2), Bits.Of(v.E3));

    public static float AbsMaxOfPack(Vec4U p) =>
        Bits.ToFloat(Math.Max(Math.Max(p.X & 0x7FFF_FFFFu, p.Y & 0x7FFF_FFFFu), Math.Max(p.Z & 0x7FFF_FFFFu, p.W & 0x7FFF_FFFFu)));
}

/// <summary>IEEE float16: eight to a pack, widened and narrowed by <see cref="PtxConvert"/>.</summary>
internal struct Float16Element : IMmaElement
{
    public static bool IsBFloat16 => false;

    public static int BitsPerElement => 16;

    public static int PackWidth => 8;

    public static uint LoadBits(ArrayView<byte> data, long index) => data.Cast<ushort>()[index];

    public static void StoreBits(ArrayView<byte> data, long index, uint bits) => data.Cast<ushort>()[index] = (ushort)bits;

    public static float Widen(uint bits)
    {
        PtxConvert.Float16x2ToFloats(bits, out float value, out _);
        return value;
    }

    public static uint Narrow(float value) => PtxConvert.FloatsToFloat16x2(value, 0f) & 0xFFFFu;

    public static Vec8F Unpack(Vec4U p)
    {
        Vec8F v;
        PtxConvert.Float16x2ToFloats(p.X, out v.E0, out v.E1);
        PtxConvert.Float16x2ToFloats(p.Y, out v.E2, out v.E3);
        PtxConvert.Float16x2ToFloats(p.Z, out v.E4, out v.E5);
        PtxConvert.Float16x2ToFloats(p.W, out v.E6, out v.E7);
        return v;
    }

    public static Vec4U Pack(in Vec8F v) => new(
        PtxConvert.FloatsToFloat16x2(v.E0, v.E1), PtxConvert.FloatsToFloat16x2(v.E2, v.E3),
        PtxConvert.FloatsToFloat16x2(v.E4, v.E5), PtxConvert.FloatsToFloat16x2(v.E6, v.E7));

    public static float AbsMaxOfPack(Vec4U p)
    {
        uint m = AbsMax16x2(p);
        return Widen(Math.Max(m & 0xFFFFu, m >> 16)); // widening is monotone; a NaN half widens to a NaN
    }

    /// <summary>Per half, the largest magnitude's bits of a pack of 16-bit floats.</summary>
    internal static uint AbsMax16x2(Vec4U p) =>
        PtxMath.MaxU16x2(PtxMath.MaxU16x2(p.X & 0x7FFF_7FFFu, p.Y & 0x7FFF_7FFFu), PtxMath.MaxU16x2(p.Z & 0x7FFF_7FFFu, p.W & 0x7FFF_7FFFu));
}

/// <summary>bfloat16: eight to a pack; widening is a shift, narrowing rounds to nearest even.</summary>
internal struct BFloat16Element : IMmaElement
{
    public static bool IsBFloat16 => true;

    public static int BitsPerElement => 16;

    public static int PackWidth => 8;

    public static uint LoadBits(ArrayView<byte> data, long index) => data.Cast<ushort>()[index];

    public static void StoreBits(ArrayView<byte> data, long index, uint bits) => data.Cast<ushort>()[index] = (ushort)bits;

    public static float Widen(uint bits) => Bits.ToFloat(bits << 16);

    public static uint Narrow(float value) => PtxConvert.FloatsToBFloat16x2(value, 0f) & 0xFFFFu;

    public static Vec8F Unpack(Vec4U p) => new()
    {
        E0 = Bits.ToFloat(p.X << 16), E1 = Bits.ToFloat(p.X & 0xFFFF_0000u),
        E2 = Bits.ToFloat(p.Y << 16), E3 = Bits.ToFloat(p.Y & 0xFFFF_0000u),
        E4 = Bits.ToFloat(p.Z << 16), E5 = Bits.ToFloat(p.Z & 0xFFFF_0000u),
        E6 = Bits.ToFloat(p.W << 16), E7 = Bits.ToFloat(p.W & 0xFFFF_0000u),
    };

    public static Vec4U Pack(in Vec8F v) => new(
        PtxConvert.FloatsToBFloat16x2(v.E0, v.E1), PtxConvert.FloatsToBFloat16x2(v.E2, v.E3),
        PtxConvert.FloatsToBFloat16x2(v.E4, v.E5), PtxConvert.FloatsToBFloat16x2(v.E6, v.E7));

    public static float AbsMaxOfPack(Vec4U p)
    {
        uint m = Float16Element.AbsMax16x2(p);
        return Bits.ToFloat(Math.Max(m << 16, m & 0xFFFF_0000u));
    }
}

/// <summary>OCP FP8 E4M3 codes: sixteen to a pack; the tensor cores take them as <c>.e4m3</c>.
/// Only the raw-bit members are used by kernels (GEMM tiles); widening decodes exactly.</summary>
internal struct Float8E4M3Element : IMmaElement
{
    public static bool IsBFloat16 => false;

    public static int BitsPerElement => 8;

    public static int PackWidth => 16;

    public static uint LoadBits(ArrayView<byte> data, long index) => data[index];

    public static void StoreBits(ArrayView<byte> data, long index, uint bits) => data[index] = (byte)bits;

    public static float Widen(uint bits) => E4M3.Decode(bits);

    public static uint Narrow(float value) => E4M3.Encode(value);

    /// <summary>Only the first eight codes fit a <see cref="Vec8F"/>; FP8 kernels work on raw words.</summary>
    public static Vec8F Unpack(Vec4U p) => new()
    {
        E0 = E4M3.Decode(p.X & 0xFF), E1 = E4M3.Decode((p.X >> 8) & 0xFF), E2 = E4M3.Decode((p.X >> 16) & 0xFF), E3 = E4M3.Decode(p.X >> 24),
        E4 = E4M3.Decode(p.Y & 0xFF), E5 = E4M3.Decode((p.Y >> 8) & 0xFF), E6 = E4M3.Decode((p.Y >> 16) & 0xFF), E7 = E4M3.Decode(p.Y >> 24),
    };

    public static Vec4U Pack(in Vec8F v) => new(
        E4M3.Encode(v.E0) | ((uint)E4M3.Encode(v.E1) << 8) | ((uint)E4M3.Encode(v.E2) << 16) | ((uint)E4M3.Encode(v.E3) << 24),
        E4M3.Encode(v.E4) | ((uint)E4M3.Encode(v.E5) << 8) | ((uint)E4M3.Encode(v.E6) << 16) | ((uint)E4M3.Encode(v.E7) << 24), 0, 0);

    public static float AbsMaxOfPack(Vec4U p)
    {
        float amax = 0f;
        for (int i = 0; i < 16; i++)
        {
            uint word = i < 4 ? p.X : i < 8 ? p.Y : i < 12 ? p.Z : p.W;
            amax = Bits.ToFloat(Math.Max(Bits.Of(amax), Bits.Of(E4M3.Decode((word >> (8 * (i & 3))) & 0xFFu)) & 0x7FFF_FFFFu));
        }
        return amax;
    }
}
