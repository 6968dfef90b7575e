using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests.Numerics;

/// <summary>The portable binary16 and bfloat16 codecs, over every code and every tie.</summary>
public class HalfAndBFloat16Tests
{
    [Test]
    public void HalfToFloat_AllCodes_MatchSystemHalf()
    {
        for (uint code = 0; code <= 0xFFFF; code++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)code);
            float actual = HalfBits.ToFloat(code);
            if (float.IsNaN(expected))
                float.IsNaN(actual).Should().BeTrue($"code 0x{code:X4} is NaN");
            else
                BitConverter.SingleToUInt32Bits(actual).Should().Be(BitConverter.SingleToUInt32Bits(expected), $"code 0x{code:X4}");
        }
    }

    [Test]
    public void HalfFromFloat_AllCodes_RoundTripExactly()
    {
        for (uint code = 0; code <= 0xFFFF; code++)
        {
            float value = HalfBits.ToFloat(code);
            ushort back = HalfBits.FromFloat(value);
            if (float.IsNaN(value))
                ((back & 0x7C00) == 0x7C00 && (back & 0x3FF) != 0).Should().BeTrue($"NaN code 0x{code:X4} stays NaN");
            else
                back.Should().Be((ushort)code);
        }
    }

    [Test]
    public void HalfFromFloat_MidpointsOfAllNeighbours_TieToEvenLikeSystemHalf()
    {
        // Every midpoint between adjacent finite halves is exact in float32 (12 significant bits).
        int checkedTies = 0;
        for (uint code = 0; code < 0x7C00; code++)
        {
            foreach (uint sign in new uint[] { 0, 0x8000 })
            {
                double lo = (double)HalfBits.ToFloat(sign | code), hi = (double)HalfBits.ToFloat(sign | (code + 1));
                float mid = (float)((lo + hi) / 2);
                ((double)mid).Should().Be((lo + hi) / 2);
                ushort expected = BitConverter.HalfToUInt16Bits((Half)mid);
                HalfBits.FromFloat(mid).Should().Be(expected, $"tie between 0x{sign | code:X4} and its successor");
                (expected & 1).Should().Be(0, "ties go to the even code");
                checkedTies++;
            }
        }
        checkedTies.Should().Be(2 * 0x7C00);
    }

    [Test]
    public void HalfFromFloat_RandomFloatsOverEveryBinade_MatchSystemHalf()
    {
        var random = new Random(20261126);
        for (int i = 0; i < 200_000; i++)
        {
            // Exponents from 2⁻³⁰ (below the smallest subnormal) to 2¹⁸ (overflow).
            float value = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-30, 18)));
            HalfBits.FromFloat(value).Should().Be(BitConverter.HalfToUInt16Bits((Half)value), $"value {value:R}");
        }
        HalfBits.FromFloat(65519.996f).Should().Be(0x7BFF);
        HalfBits.FromFloat(65520f).Should().Be(0x7C00, "65520 is the tie above 65504 and rounds to Inf");
        HalfBits.FromFloat(float.NegativeInfinity).Should().Be(0xFC00);
    }

    [Test]
    public void BFloat16ToFloat_AllCodes_AreTheUpperHalfOfAFloat()
    {
        for (uint code = 0; code <= 0xFFFF; code++)
            BitConverter.SingleToUInt32Bits(BFloat16Bits.ToFloat(code)).Should().Be(code << 16);
    }

    [Test]
    public void BFloat16FromFloat_AllCodesRoundTrip_AndTiesGoToEven()
    {
        for (uint code = 0; code <= 0xFFFF; code++)
        {
            float value = BFloat16Bits.ToFloat(code);
            if (float.IsNaN(value))
            {
                float.IsNaN(BFloat16Bits.ToFloat(BFloat16Bits.FromFloat(value))).Should().BeTrue();
                continue;
            }
            BFloat16Bits.FromFloat(value).Should().Be((ushort)code);
            if ((code & 0x7FFF) >= 0x7F80)
                continue;
            // The midpoint to the next code (away from zero) is exact in float32: bit 15 set.
            float tie = BitConverter.UInt32BitsToSingle((code << 16) | 0x8000);
            BFloat16Bits.FromFloat(tie).Should().Be(ReferenceBFloat16(tie), $"tie above 0x{code:X4}");
            float above = BitConverter.UInt32BitsToSingle((code << 16) | 0x8001);
            BFloat16Bits.FromFloat(above).Should().Be(ReferenceBFloat16(above));
        }
    }

    [Test]
    public void BFloat16FromFloat_RandomBits_MatchNearestByDistance()
    {
        var random = new Random(7);
        for (int i = 0; i < 200_000; i++)
        {
            float value = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            if (float.IsNaN(value))
                continue;
            BFloat16Bits.FromFloat(value).Should().Be(ReferenceBFloat16(value), $"value {value:R}");
        }
    }

    /// <summary>Nearest bf16 by float64 distance, ties to the even code, Inf beyond the largest
    /// finite value plus half an ulp. Independent of the bit trick under test.</summary>
    private static ushort ReferenceBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint down = bits >> 16, up = down + 1;
        double lo = BitConverter.UInt32BitsToSingle(down << 16);
        double hi = (up & 0x7FFF) == 0x7F80 ? Math.CopySign(Math.Pow(2, 128), value) : BitConverter.UInt32BitsToSingle(up << 16);
        double dLo = Math.Abs(value - lo), dHi = Math.Abs(hi - value);
        if (dLo < dHi || (dLo == dHi && (down & 1) == 0))
            return (ushort)down;
        return (ushort)up;
    }
}
