using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests.Numerics;

/// <summary>FP8 codecs against an independent reference: decoding from the OCP definition
/// (sign, exponent, mantissa, bias), encoding as the nearest finite code by float64 distance.</summary>
public class Float8Tests
{
    private sealed record Format(string Name, int MantissaBits, int Bias, bool HasInfinity, byte MaxCode,
        Func<uint, float> Decode, Func<float, byte> Encode)
    {
        public double Reference(uint code)
        {
            double sign = (code & 0x80) != 0 ? -1 : 1;
            int exponent = (int)((code & 0x7F) >> MantissaBits);
            int mantissa = (int)(code & ((1u << MantissaBits) - 1));
            int maxExponent = (1 << (7 - MantissaBits)) - 1;
            if (exponent == maxExponent && (HasInfinity || mantissa == (1 << MantissaBits) - 1))
                return HasInfinity && mantissa == 0 ? sign * double.PositiveInfinity : double.NaN;
            double fraction = (double)mantissa / (1 << MantissaBits);
            return exponent == 0
                ? sign * fraction * Math.Pow(2, 1 - Bias)
                : sign * (1 + fraction) * Math.Pow(2, exponent - Bias);
        }

        /// <summary>Saturating round-to-nearest-even by exhaustive search over the finite codes.</summary>
        public byte ReferenceEncode(float value)
        {
            if (float.IsNaN(value))
                return 0x7F; // canonical NaN, whatever the sign
            uint sign = float.IsNegative(value) ? 0x80u : 0u;
            double magnitude = Math.Abs((double)value);
            if (magnitude >= Reference(MaxCode))
                return (byte)(sign | MaxCode);
            uint best = 0;
            double bestDistance = double.PositiveInfinity;
            for (uint code = 0; code <= MaxCode; code++)
            {
                double distance = Math.Abs(Reference(code) - magnitude);
                if (distance < bestDistance || (distance == bestDistance && (code & 1) == 0))
                {
                    best = code;
                    bestDistance = distance;
                }
            }
            return (byte)(sign | best);
        }
    }

    private static readonly Format E4M3Format = new("e4m3", 3, 7, false, 0x7E, c => E4M3.Decode(c), E4M3.Encode);
    private static readonly Format E5M2Format = new("e5m2", 2, 15, true, 0x7B, c => E5M2.Decode(c), E5M2.Encode);

    private static IEnumerable<TestCaseData> Formats()
    {
        yield return new TestCaseData(E4M3Format).SetArgDisplayNames("E4M3");
        yield return new TestCaseData(E5M2Format).SetArgDisplayNames("E5M2");
    }

    [TestCaseSource(nameof(Formats))]
    public void Decode_All256Codes_MatchTheOcpDefinition(object format)
    {
        var f = (Format)format;
        for (uint code = 0; code < 256; code++)
        {
            double expected = f.Reference(code);
            float actual = f.Decode(code);
            if (double.IsNaN(expected))
                float.IsNaN(actual).Should().BeTrue($"{f.Name} code 0x{code:X2} is NaN");
            else
            {
                ((double)actual).Should().Be(expected, $"{f.Name} code 0x{code:X2}");
                float.IsNegative(actual).Should().Be((code & 0x80) != 0, $"sign of code 0x{code:X2}");
            }
        }
    }

    [Test]
    public void E4M3_KnownCodes_MatchTorchFloat8E4M3Fn()
    {
        E4M3.Decode(0x7E).Should().Be(448f);
        E4M3.Decode(0x01).Should().Be(MathF.Pow(2, -9));
        E4M3.Decode(0x08).Should().Be(MathF.Pow(2, -6));
        E4M3.Decode(0x38).Should().Be(1f);
        float.IsNaN(E4M3.Decode(0x7F)).Should().BeTrue();
        float.IsNaN(E4M3.Decode(0xFF)).Should().BeTrue();
        E4M3.Decode(0xF8).Should().Be(-256f, "0xF8 is S.1111.000, a normal number in the fn variant");
    }

    [TestCaseSource(nameof(Formats))]
    public void Encode_AllCodes_RoundTrip(object format)
    {
        var f = (Format)format;
        for (uint code = 0; code < 256; code++)
        {
            float value = f.Decode(code);
            byte expected = float.IsNaN(value) ? (byte)0x7F
                : float.IsInfinity(value) ? (byte)((code & 0x80) | f.MaxCode)
                : (byte)code;
            f.Encode(value).Should().Be(expected, $"{f.Name} code 0x{code:X2}");
        }
    }

    [TestCaseSource(nameof(Formats))]
    public void Encode_MidpointsAndNeighboursOfEveryCode_MatchReference(object format)
    {
        var f = (Format)format;
        for (uint code = 0; code < f.MaxCode; code++)
        {
            double lo = f.Reference(code), hi = f.Reference(code + 1);
            foreach (double probe in new[] { (lo + hi) / 2, Math.BitDecrement((lo + hi) / 2), Math.BitIncrement((lo + hi) / 2) })
            {
                foreach (float value in new[] { (float)probe, -(float)probe })
                    f.Encode(value).Should().Be(f.ReferenceEncode(value), $"{f.Name} value {value:R} near code 0x{code:X2}");
            }
        }
    }

    [TestCaseSource(nameof(Formats))]
    public void Encode_EdgeValues_SaturateAndKeepSignsAndNaN(object format)
    {
        var f = (Format)format;
        float max = f.Name == "e4m3" ? 448f : 57344f;
        var edges = new[]
        {
            0f, -0f, float.Epsilon, -float.Epsilon, 1e-30f, -1e-30f, max, -max, max * 1.0001f, max * 1.1f,
            max * 2f, -max * 2f, 1e30f, -1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN,
            464f, 480f, 479.9f, 1f, -1f, 0.5f, MathF.Pow(2, -9), MathF.Pow(2, -10), MathF.Pow(2, -10) * 1.0001f,
        };
        foreach (float value in edges)
            f.Encode(value).Should().Be(f.ReferenceEncode(value), $"{f.Name} value {value:R}");
        f.Encode(float.PositiveInfinity).Should().Be(f.MaxCode, "saturating: +Inf → largest finite");
        f.Encode(-0f).Should().Be(0x80, "−0 keeps its sign");
    }

    [TestCaseSource(nameof(Formats))]
    public void Encode_RandomValues_MatchReference(object format)
    {
        var f = (Format)format;
        var random = new Random(448);
        for (int i = 0; i < 20_000; i++)
        {
            float value = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-20, 18)));
            f.Encode(value).Should().Be(f.ReferenceEncode(value), $"{f.Name} value {value:R}");
        }
    }
}
