using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests.Numerics;

/// <summary>The kernels' pack conversions (PTX <c>cvt</c> on CUDA, bit code on the CPU) against
/// the host codecs: every 16-bit code widened, and ties plus random floats narrowed.</summary>
public class DeviceConversionTests(DeviceKind kind) : OnEveryDevice(kind)
{

    /// <summary>Thread i widens pack i of <paramref name="codes"/> and narrows pack i of <paramref name="toNarrow"/>.</summary>
    internal static void RoundTrip<TElement>(ArrayView<byte> codes, ArrayView<byte> widened, ArrayView<byte> toNarrow, ArrayView<byte> narrowed, int packs)
        where TElement : struct, IElementType
    {
        int i = Grid.GlobalIndex.X;
        if (i >= packs)
            return;
        Vec8F v = TElement.Unpack(codes.Cast<Vec4U>()[i]);
        var wide = widened.Cast<float>();
        wide[8 * i] = v.E0; wide[8 * i + 1] = v.E1; wide[8 * i + 2] = v.E2; wide[8 * i + 3] = v.E3;
        wide[8 * i + 4] = v.E4; wide[8 * i + 5] = v.E5; wide[8 * i + 6] = v.E6; wide[8 * i + 7] = v.E7;
        var source = toNarrow.Cast<float>();
        var n = new Vec8F
        {
            E0 = source[8 * i], E1 = source[8 * i + 1], E2 = source[8 * i + 2], E3 = source[8 * i + 3],
            E4 = source[8 * i + 4], E5 = source[8 * i + 5], E6 = source[8 * i + 6], E7 = source[8 * i + 7],
        };
        narrowed.Cast<Vec4U>()[i] = TElement.Pack(n);
    }

    [TestCase(DType.Float16)]
    [TestCase(DType.BFloat16)]
    public void Packs_AllCodesWiden_AndTiesNarrow_LikeTheHostCodec(DType dtype)
    {
        const int count = 65536;
        byte[] codes = new byte[2 * count];
        for (int c = 0; c < count; c++)
            BitConverter.TryWriteBytes(codes.AsSpan(2 * c), (ushort)c);

        // To narrow: the midpoint above every code (ties), its float neighbours, and random floats.
        float[] toNarrow = new float[count];
        var random = new Random(3);
        for (int c = 0; c < count; c++)
        {
            float lo = dtype == DType.Float16 ? HalfBits.ToFloat((uint)c) : BFloat16Bits.ToFloat((uint)c);
            float hi = dtype == DType.Float16 ? HalfBits.ToFloat((uint)c + 1) : BFloat16Bits.ToFloat((uint)c + 1);
            float mid = (float)(((double)lo + hi) / 2);
            toNarrow[c] = (c % 4) switch
            {
                0 or 1 => float.IsFinite(mid) ? mid : lo,
                2 => MathF.BitIncrement(float.IsFinite(mid) ? mid : lo),
                _ => (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-26, 17))),
            };
        }

        using var codesT = Tensor.FromBytes(codes, [count], dtype, Device);
        using var wideT = Tensor.Empty([count], DType.Float32, Device);
        using var narrowT = Tensor.FromArray(toNarrow, [count], DType.Float32, Device);
        using var outT = Tensor.Empty([count], dtype, Device);
        var element = dtype == DType.Float16 ? typeof(Float16Element) : typeof(BFloat16Element);
        var method = GetType().GetMethod(nameof(RoundTrip), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(element);
        Device.Launch(method, new KernelConfig(count / 8 / 128, 128),
            codesT.Bytes, wideT.Bytes, narrowT.Bytes, outT.Bytes, count / 8);

        float[] widened = wideT.ToFloatArray();
        float[] expectedWide = new float[count];
        DTypes.Decode(codes, dtype, expectedWide);
        for (int c = 0; c < count; c++)
        {
            if (float.IsNaN(expectedWide[c]))
                float.IsNaN(widened[c]).Should().BeTrue($"code 0x{c:X4}");
            else
                BitConverter.SingleToUInt32Bits(widened[c]).Should().Be(BitConverter.SingleToUInt32Bits(expectedWide[c]), $"code 0x{c:X4}");
        }

        byte[] narrowed = outT.ToBytes();
        byte[] expectedNarrow = new byte[2 * count];
        DTypes.Encode(toNarrow, dtype, expectedNarrow);
        int mismatches = 0;
        for (int c = 0; c < count; c++)
        {
            if (float.IsNaN(toNarrow[c]))
                continue;
            if (BitConverter.ToUInt16(narrowed, 2 * c) != BitConverter.ToUInt16(expectedNarrow, 2 * c) && mismatches++ < 5)
                TestContext.Out.WriteLine($"{toNarrow[c]:R}: expected 0x{BitConverter.ToUInt16(expectedNarrow, 2 * c):X4}, got 0x{BitConverter.ToUInt16(narrowed, 2 * c):X4}");
        }
        mismatches.Should().Be(0);
    }
}
