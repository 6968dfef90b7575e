using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests;

/// <summary>quantize_fp8 and dequantize_fp8 on every device.</summary>
public class QuantizeFp8Tests(DeviceKind kind) : OnEveryDevice(kind)
{
    [TestCase(DType.BFloat16, DType.Float8E4M3, 17)]
    [TestCase(DType.BFloat16, DType.Float8E4M3, 74_700)]
    [TestCase(DType.Float16, DType.Float8E4M3, 40_001)]
    [TestCase(DType.Float32, DType.Float8E4M3, 74_730)]
    [TestCase(DType.BFloat16, DType.Float8E5M2, 9)]
    public void QuantizePerTensor_ComputedScale_IsBitExact(DType dtype, DType format, int amaxAt)
    {
        // 9 · 8192 + 1003 elements: whole quantize blocks, a partial one and a partial group of eight;
        // on the CPU (8 amax blocks) the amax pass takes its four-pack rounds, then single packs.
        // The amax sits in either kind of round (and at the partial end).
        const int count = 9 * 8192 + 1003;
        float[] values = HostValues.RoundTo(Inputs.Normal(count, 31, 3.0), dtype);
        values[amaxAt] = -41.5f;
        using var x = Tensor.FromArray(values, [count], dtype, Device);

        var (data, scale) = Ops.QuantizeFp8(x, format: format);
        using var _ = data; using var __ = scale;

        ShouldMatchPerTensorReference(data, scale, values, format);
    }

    /// <summary>The single-launch form: (dtype, format, where the amax sits: in the first kept item, in the last
    /// one, in the first streamed item, in the partial last one). The tensor is what the grid keeps, then two and
    /// a half streamed items, so phase 2 takes whole and partial items and every block its kept one.</summary>
    [TestCase(DType.BFloat16, DType.Float8E4M3, 0.0)]
    [TestCase(DType.BFloat16, DType.Float8E4M3, 0.999)]
    [TestCase(DType.Float16, DType.Float8E4M3, 1.2)]
    [TestCase(DType.Float32, DType.Float8E4M3, 2.4)]
    [TestCase(DType.BFloat16, DType.Float8E5M2, 1.0)]
    public void QuantizePerTensor_FusedKernel_IsBitExact(DType dtype, DType format, double amaxAt)
    {
        // CI budget: the CPU accelerator runs two of the five (a 16-bit and the float32 pack width, ~8 s each); CUDA all.
        if (Kind == DeviceKind.Cpu && !(amaxAt is 0.999 or 2.4))
            Assert.Ignore("CUDA only: the CPU accelerator runs two of these cases (CI time).");
        int width = dtype == DType.Float32 ? 4 : 8;
        var kernel = Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.Variant(ElementType(dtype), format == DType.Float8E4M3 ? typeof(E4M3) : typeof(E5M2));
        int grid = Device.Multiprocessors * Device.BlocksPerMultiprocessor(kernel, Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.Threads, Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.SharedBytes);
        long kept = (long)grid * Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.HeldPacks;
        // amaxAt < 1: a fraction into the kept items; ≥ 1: streamed items past them.
        long packs = kept + 5 * Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.StreamPacks / 2;
        int count = checked((int)(packs * width));
        long at = amaxAt < 1 ? (long)(amaxAt * kept) : kept + (long)((amaxAt - 1) * Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.StreamPacks);
        float[] values = HostValues.RoundTo(Inputs.Normal(count, Inputs.Seed(dtype, format, amaxAt), 3.0), dtype);
        values[at * width + width / 2] = -41.5f;
        using var x = Tensor.FromArray(values, [count / 64, 64], dtype, Device);

        var (data, scale) = Ops.QuantizeFp8(x, null, format, ScaleGranularity.PerTensor, QuantizeSchedule.Fused);
        using var _ = data; using var __ = scale;

        ShouldMatchPerTensorReference(data, scale, values, format);
    }

    /// <summary>More blocks than the device keeps resident (the CPU accelerator runs them one after another):
    /// the first block claims every item, keeps one held-size item and requeues the others for phase 2,
    /// and the blocks that start late find no work and the wait already over.</summary>
    [Test]
    public void QuantizePerTensor_FusedKernel_WithBlocksThatStartLate_IsBitExact()
    {
        const int grid = 5;
        long packs = grid * (long)Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.HeldPacks + 3 * Kernels.QuantizeFp8.Fp8QuantizeFusedKernel.StreamPacks / 2;
        int count = checked((int)(packs * 8));
        float[] values = HostValues.RoundTo(Inputs.Normal(count, 77, 3.0), DType.BFloat16);
        values[count - 5] = 39.25f;
        using var x = Tensor.FromArray(values, [count], DType.BFloat16, Device);

        var (data, scale) = Ops.QuantizeFp8(x, null, DType.Float8E4M3, ScaleGranularity.PerTensor, QuantizeSchedule.Fused, fusedGrid: grid);
        using var _ = data; using var __ = scale;

        ShouldMatchPerTensorReference(data, scale, values, DType.Float8E4M3);
    }

    /// <summary>Codes and the computed per-tensor scale, bit for bit against the reference quantizer.</summary>
    private static void ShouldMatchPerTensorReference(Tensor data, Tensor scale, float[] values, DType format)
    {
        var (codes, scales) = Reference.QuantizeFp8(values, format, 1, _ => 0);
        scale.Shape.Should().Equal(1);
        scale.ToFloatArray()[0].Should().Be(scales[0]);
        data.DType.Should().Be(format);
        data.ToBytes().Should().Equal(codes);
    }

    private static Type ElementType(DType dtype) => dtype switch
    {
        DType.Float32 => typeof(Kernels.Elements.Float32Element),
        DType.Float16 => typeof(Kernels.Elements.Float16Element),
        _ => typeof(Kernels.Elements.BFloat16Element),
    };

    [TestCase(DType.Float8E4M3)]
    [TestCase(DType.Float8E5M2)]
    public void QuantizeWithScaleOne_EdgeValues_EncodeBitExact(DType format)
    {
        float max = format == DType.Float8E4M3 ? 448f : 57344f;
        float[] values =
        [
            0f, -0f, MathF.Pow(2, -9), -MathF.Pow(2, -9), MathF.Pow(2, -10), 3 * MathF.Pow(2, -11), MathF.Pow(2, -16), MathF.Pow(2, -17),
            1.0625f, 1.1875f, -1.0625f, 0.3125f, max, -max, max * 1.03f, max * 1.1f, -max * 4, 1e9f, float.PositiveInfinity,
            float.NegativeInfinity, float.NaN, 464f, 480f, 1f, -2.5f, 1e-30f,
        ];
        using var x = Tensor.FromArray(values, [values.Length], DType.Float32, Device);
        using var one = Tensor.Full([1], 1f, DType.Float32, Device);

        var (data, scale) = Ops.QuantizeFp8(x, one, format);
        using var _ = data;

        scale.Should().BeSameAs(one);
        byte[] expected = values.Select(v => format == DType.Float8E4M3 ? E4M3.Encode(v) : E5M2.Encode(v)).ToArray();
        data.ToBytes().Should().Equal(expected);
        data.ToBytes()[20].Should().Be(0x7F, "every NaN (.NET's float.NaN has the sign bit set) encodes as the canonical NaN");
        data.ToBytes()[1].Should().Be(0x80, "−0 keeps its sign");
    }

    [TestCase(DType.Float8E4M3)]
    [TestCase(DType.Float8E5M2)]
    public void QuantizeWithScaleOne_EveryTieAndRandomFloats_MatchTheHostEncoder(DType format)
    {
        // On CUDA this runs the hardware cvt.rn.satfinite pair conversion; it must equal the host codec bit for bit.
        Func<float, byte> encode = format == DType.Float8E4M3 ? E4M3.Encode : E5M2.Encode;
        Func<uint, float> decode = format == DType.Float8E4M3 ? c => E4M3.Decode(c) : c => E5M2.Decode(c);
        byte maxCode = format == DType.Float8E4M3 ? (byte)0x7E : (byte)0x7B;
        var values = new List<float>();
        for (uint code = 0; code < maxCode; code++)
        {
            double mid = ((double)decode(code) + decode(code + 1)) / 2;
            foreach (double v in new[] { mid, Math.BitDecrement(mid), Math.BitIncrement(mid) })
            {
                values.Add((float)v);
                values.Add(-(float)v);
            }
        }
        var random = new Random(99);
        while (values.Count < 100_000)
            values.Add((float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-24, 20))));
        float[] input = values.ToArray();
        using var x = Tensor.FromArray(input, [input.Length], DType.Float32, Device);
        using var one = Tensor.Full([1], 1f, DType.Float32, Device);

        var (data, _) = Ops.QuantizeFp8(x, one, format);
        using var __ = data;

        byte[] actual = data.ToBytes();
        int mismatches = 0;
        for (int i = 0; i < input.Length; i++)
        {
            if (actual[i] != encode(input[i]) && mismatches++ < 5)
                TestContext.Out.WriteLine($"{input[i]:R}: expected 0x{encode(input[i]):X2}, got 0x{actual[i]:X2}");
        }
        mismatches.Should().Be(0);
    }

    /// <summary>Quotients on and beside the ties between codes, with scales that are not powers of two: every granularity
    /// divides by its scale correctly rounded (x / scale, as PyTorch does), not by a rounded reciprocal, whose last-bit error
    /// picks the other code at a tie.</summary>
    [TestCase(ScaleGranularity.PerTensor)]
    [TestCase(ScaleGranularity.PerRow)]
    [TestCase(ScaleGranularity.PerTokenGroup)]
    [TestCase(ScaleGranularity.Block)]
    public void Quantize_QuotientsAtCodeTies_DivideExactlyByTheScale(ScaleGranularity granularity)
    {
        const int rows = 6, cols = 256;
        var random = new Random(17);
        var values = new float[rows * cols];
        // Each row (and 128-group) leads with its amax, so the computed scale is amax · fl(1/448) (not a power of two); the
        // rest are code midpoints times that scale, and their neighbours a float32 step away.
        float[] rowAmax = Enumerable.Range(0, rows).Select(r => 300.7f + 13.37f * r).ToArray();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                float amax = granularity == ScaleGranularity.Block ? rowAmax[0] : rowAmax[r];
                float scale = granularity == ScaleGranularity.PerTensor ? 0.6712053f : amax * (1f / 448f);
                if (c % 128 == 0)
                {
                    values[r * cols + c] = amax;
                    continue;
                }
                uint code = (uint)random.Next(0, 0x7E);
                double mid = ((double)E4M3.Decode(code) + E4M3.Decode(code + 1)) / 2;
                float v = (float)(mid * scale);
                v = random.Next(3) switch { 0 => v, 1 => MathF.BitIncrement(v), _ => MathF.BitDecrement(v) };
                values[r * cols + c] = random.Next(2) == 0 ? v : -v;
            }
        }
        using var x = Tensor.FromArray(values, [rows, cols], DType.Float32, Device);
        using var given = granularity == ScaleGranularity.PerTensor ? Tensor.Full([1], 0.6712053f, DType.Float32, Device) : null;

        var (data, scales) = Ops.QuantizeFp8(x, given, granularity: granularity);
        using var _ = data;
        using var __ = granularity == ScaleGranularity.PerTensor ? null : scales;

        var (expectedCodes, expectedScales) = Reference.QuantizeFp8(x, given, granularity: granularity);
        scales.ToFloatArray().Should().Equal(expectedScales);
        byte[] actual = data.ToBytes();
        int differ = Enumerable.Range(0, actual.Length).Count(i => actual[i] != expectedCodes[i]);
        differ.Should().Be(0, "every code is encode(x / scale) with the quotient correctly rounded");
        // The reference itself divides: a reciprocal-multiplying quantizer would disagree with it here.
        float ScaleOf(int i) => granularity switch
        {
            ScaleGranularity.PerTensor => expectedScales[0],
            ScaleGranularity.PerRow => expectedScales[i / cols],
            ScaleGranularity.PerTokenGroup => expectedScales[i / cols * (cols / 128) + i % cols / 128],
            _ => expectedScales[i % cols / 128],
        };
        Enumerable.Range(0, values.Length).Count(i => E4M3.Encode(values[i] * (1f / ScaleOf(i))) != E4M3.Encode(values[i] / ScaleOf(i)))
            .Should().BeGreaterThan(0, "the test's values include ties that x · (1/scale) rounds the other way");
    }

    /// <summary>Groups whose scale is not a finite nonzero number: an infinity in the group (scale ∞: finite values
    /// give ±0, the infinity NaN, as x / ∞ and ∞ / ∞ do in PyTorch), a NaN (everything NaN), subnormal values whose
    /// amax · fl(1/448) underflows (the computed scale's floor, 2⁻⁶⁴, then), values near 10⁻³⁷ (1 / scale would
    /// overflow without the floor), beside ordinary groups: the kernels' division gives the codes of x / scale.</summary>
    [TestCase(ScaleGranularity.PerRow)]
    [TestCase(ScaleGranularity.PerTokenGroup)]
    [TestCase(ScaleGranularity.Block)]
    [TestCase(ScaleGranularity.PerTensor)]
    public void Quantize_InfiniteNaNAndUnderflowingScales_DivideLikePyTorch(ScaleGranularity granularity)
    {
        const int rows = 5, cols = 136;
        float[] values = Inputs.Normal(rows * cols, 61, 2.0);
        values[0 * cols + 5] = float.PositiveInfinity;
        values[0 * cols + 6] = -0f;
        values[1 * cols + 9] = float.NaN;
        for (int c = 0; c < cols; c++)
            values[2 * cols + c] = c % 3 == 0 ? 0f : (c % 3 == 1 ? float.Epsilon : -float.Epsilon);
        values[3 * cols + 130] = float.NegativeInfinity; // the row's second group
        for (int c = 0; c < 128; c++)
            values[4 * cols + c] *= 3e-38f; // amax ~1e-37: scale ~2e-40 unclamped
        using var x = Tensor.FromArray(values, [rows, cols], DType.Float32, Device);

        var (data, scales) = Ops.QuantizeFp8(x, granularity: granularity);
        using var _ = data;
        using var __ = scales;

        var (expectedCodes, expectedScales) = Reference.QuantizeFp8(x, null, granularity: granularity);
        scales.ToFloatArray().Should().Equal(expectedScales, (a, b) => BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b) || float.IsNaN(a) && float.IsNaN(b));
        data.ToBytes().Should().Equal(expectedCodes);
        if (granularity == ScaleGranularity.PerTokenGroup)
        {
            expectedScales[2 * 2].Should().Be(Kernels.Numerics.ScaleDivisor.TwoToMinus64, "the subnormal group's amax / 448 is below the floor");
            expectedScales[4 * 2].Should().Be(Kernels.Numerics.ScaleDivisor.TwoToMinus64);
            expectedCodes.Skip(4 * cols).Take(128).Should().NotContain((byte)0x7F, "no NaN codes from an overflowing reciprocal");
            expectedScales[0].Should().Be(float.PositiveInfinity);
            expectedCodes[0 * cols + 5].Should().Be(0x7F, "∞ / ∞ is NaN");
            expectedCodes[0 * cols + 6].Should().Be(0x80, "−0 / ∞ is −0");
        }
    }

    /// <summary>Given scales far from 1 (subnormal, tiny, huge, negative): the codes of x / scale as float32 division
    /// gives them, signed zeros included (the divisor prescales by a power of two outside [2⁻⁶⁴, 2¹²⁰]).</summary>
    [TestCase(1e-40f)]
    [TestCase(3e-30f)]
    [TestCase(-0.37f)]
    [TestCase(2e36f)]
    [TestCase(float.Epsilon)]
    public void GivenScalesFarFromOne_DivideLikeFloat32(float scale)
    {
        var random = new Random(43);
        const int count = 8192 + 300; // the vectorized path (whole blocks of 8192) and the scalar tail
        float spread = MathF.Min(500f, 1e38f / MathF.Abs(scale)); // finite values (huge scales times 500 overflow)
        float[] values = Enumerable.Range(0, count).Select(i => (i % 4096) switch
        {
            0 => 0f,
            1 => -0f,
            2 => float.PositiveInfinity,
            _ => (float)(random.NextDouble() * 2 - 1) * scale * spread,
        }).ToArray();
        using var x = Tensor.FromArray(values, [count], DType.Float32, Device);
        using var given = Tensor.Full([1], scale, DType.Float32, Device);
        var (data, _) = Ops.QuantizeFp8(x, given);
        using var __ = data;
        data.ToBytes().Should().Equal(values.Select(v => E4M3.Encode(v / scale)), "encode(x / scale) with float32's own division");
    }

    [Test]
    public void QuantizeAllZeros_GivesScaleOneAndZeroCodes()
    {
        using var x = Tensor.Full([64], 0f, DType.BFloat16, Device);
        var (data, scale) = Ops.QuantizeFp8(x);
        using var _ = data; using var __ = scale;
        scale.ToFloatArray().Should().Equal(1f);
        data.ToBytes().Should().OnlyContain(b => b == 0);
    }

    [Test]
    public void QuantizeWithNaN_PropagatesNaNLikePyTorch()
    {
        float[] values = Inputs.Normal(40, 3);
        values[7] = float.NaN;
        using var x = Tensor.FromArray(values, [40], DType.Float32, Device);
        var (data, scale) = Ops.QuantizeFp8(x);
        using var _ = data; using var __ = scale;
        float.IsNaN(scale.ToFloatArray()[0]).Should().BeTrue("amax over a NaN is NaN");
        HostValues.Decode(data.ToBytes(), DType.Float8E4M3).Should().OnlyContain(v => float.IsNaN(v));
    }

    [TestCase(ScaleGranularity.PerRow)]
    [TestCase(ScaleGranularity.PerColumn)]
    public void QuantizePerRowAndPerColumn_AreBitExact(ScaleGranularity granularity)
    {
        const int rows = 7, cols = 37;
        float[] values = HostValues.RoundTo(Inputs.Normal(rows * cols, 41, 5.0), DType.Float16);
        for (int c = 0; c < cols; c++) values[3 * cols + c] = 0f; // an all-zero row
        using var x = Tensor.FromArray(values, [rows, cols], DType.Float16, Device);

        var (data, scale) = Ops.QuantizeFp8(x, granularity: granularity);
        using var _ = data; using var __ = scale;

        bool perRow = granularity == ScaleGranularity.PerRow;
        var (codes, scales) = Reference.QuantizeFp8(values, DType.Float8E4M3, perRow ? rows : cols, i => (int)(perRow ? i / cols : i % cols));
        scale.Shape.Should().Equal(perRow ? new[] { rows, 1 } : new[] { 1, cols });
        scale.ToFloatArray().Should().Equal(scales);
        data.ToBytes().Should().Equal(codes);
    }

    /// <summary>Per-token scales of x <c>[..., K]</c> (vLLM's <c>per_token_group_quant_fp8</c> takes any leading dims): the
    /// leading dims are rows, the scales <c>[..., 1]</c> or <c>[..., ceil(K / G)]</c>, the codes those of the flattened
    /// <c>[rows, K]</c> call and of the float64 reference, computed or given; DequantizeFp8 reads the same shapes back.</summary>
    [TestCase(ScaleGranularity.PerRow, new[] { 2, 3, 40 })]
    [TestCase(ScaleGranularity.PerTokenGroup, new[] { 3, 1, 2, 136 })]
    [TestCase(ScaleGranularity.PerTokenGroup, new[] { 72 })]
    [TestCase(ScaleGranularity.PerRow, new[] { 1, 1, 40 })]        // one row: a one-element scale of the token shape
    [TestCase(ScaleGranularity.PerTokenGroup, new[] { 1, 1, 40 })] // one row of one group
    public void PerTokenScales_OfLeadingDims_AreThoseOfTheFlattenedRows(ScaleGranularity granularity, int[] shape)
    {
        const int groupSize = 64;
        int cols = shape[^1], rows = shape.Aggregate(1, (a, b) => a * b) / cols;
        float[] values = HostValues.RoundTo(Inputs.Normal(rows * cols, 53, 4.0), DType.BFloat16);
        using var x = Tensor.FromArray(values, shape, DType.BFloat16, Device);
        using var flat = Tensor.FromArray(values, [rows, cols], DType.BFloat16, Device);
        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : (cols + groupSize - 1) / groupSize;
        int[] scaleShape = [.. shape[..^1], scaleCols];

        var (data, scale) = Ops.QuantizeFp8(x, granularity: granularity, groupSize: groupSize);
        var (flatData, flatScale) = Ops.QuantizeFp8(flat, granularity: granularity, groupSize: groupSize);
        using var _d = data; using var _s = scale; using var _fd = flatData; using var _fs = flatScale;
        data.Shape.Should().Equal(shape);
        scale.Shape.Should().Equal(scaleShape);
        data.ToBytes().Should().Equal(flatData.ToBytes());
        scale.ToFloatArray().Should().Equal(flatScale.ToFloatArray());
        var (codes, scales) = Reference.QuantizeFp8(x, null, DType.Float8E4M3, granularity, groupSize);
        data.ToBytes().Should().Equal(codes);
        scale.ToFloatArray().Should().Equal(scales);

        var (given, sameScale) = Ops.QuantizeFp8(x, scale, granularity: granularity, groupSize: groupSize);
        using var _g = given;
        sameScale.Should().BeSameAs(scale, "given scales are returned as they came");
        given.ToBytes().Should().Equal(data.ToBytes());

        using var back = Ops.DequantizeFp8(data, scale, DType.Float32, groupSize);
        using var flatBack = Ops.DequantizeFp8(flatData, flatScale, DType.Float32, groupSize);
        back.Shape.Should().Equal(shape);
        back.ToFloatArray().Should().Equal(flatBack.ToFloatArray());
        // 16-bit scales (compressed-tensors stores bf16 ones) read as their exact float32 widening.
        using var scale16 = Tensor.FromArray(scale.ToFloatArray(), scaleShape, DType.BFloat16, Device);
        using var scale16Wide = Tensor.FromArray(scale16.ToFloatArray(), scaleShape, DType.Float32, Device);
        using var back16 = Ops.DequantizeFp8(data, scale16, DType.Float32, groupSize);
        using var expected16 = Ops.DequantizeFp8(data, scale16Wide, DType.Float32, groupSize);
        back16.ToFloatArray().Should().Equal(expected16.ToFloatArray());

        int[] wrong = [.. shape[..^1], scaleCols + 1];
        using var wrongScale = Tensor.Full(wrong, 1f, DType.Float32, Device);
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.QuantizeFp8(x, wrongScale, granularity: granularity, groupSize: groupSize))
            .WithMessage($"*'scale'*[{string.Join(", ", scaleShape)}]*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.DequantizeFp8(data, wrongScale, DType.Float32, groupSize))
            .WithMessage("*'scale'*per row*per group of 64*");
    }

    /// <summary>One scale of any rank (<c>[1, 1, 1]</c> beside x <c>[2, 3, K]</c>) is one scale for the tensor, given to
    /// the quantizer or the dequantizer, per row or per group: the bytes of the <c>[1]</c> form.</summary>
    [Test]
    public void OneElementScalesOfAnyRank_ArePerTensor()
    {
        float[] values = HostValues.RoundTo(Inputs.Normal(2 * 3 * 40, 57, 4.0), DType.BFloat16);
        using var x = Tensor.FromArray(values, [2, 3, 40], DType.BFloat16, Device);
        using var one = Tensor.Full([1], 0.03f, DType.Float32, Device);
        using var oneRank3 = Tensor.Full([1, 1, 1], 0.03f, DType.Float32, Device);
        foreach (var granularity in new[] { ScaleGranularity.PerTensor, ScaleGranularity.PerRow, ScaleGranularity.PerTokenGroup })
        {
            var (expected, _) = Ops.QuantizeFp8(x, one, granularity: granularity);
            var (actual, _) = Ops.QuantizeFp8(x, oneRank3, granularity: granularity);
            using (expected) using (actual)
                actual.ToBytes().Should().Equal(expected.ToBytes(), granularity.ToString());
        }
        var (codes, _) = Ops.QuantizeFp8(x, one);
        using var _c = codes;
        using var back = Ops.DequantizeFp8(codes, oneRank3);
        using var backOne = Ops.DequantizeFp8(codes, one);
        back.ToBytes().Should().Equal(backOne.ToBytes());
    }

    [TestCase(DType.Float32)]
    [TestCase(DType.BFloat16)]
    public void DequantizeOfQuantize_IsWithinHalfAnE4M3Step(DType dtype)
    {
        float[] values = Inputs.Normal(300, 51, 2.0);
        using var x = Tensor.FromArray(values, [300], DType.Float32, Device);
        var (data, scale) = Ops.QuantizeFp8(x);
        using var _ = data; using var __ = scale;
        using var back = Ops.DequantizeFp8(data, scale, dtype);

        back.DType.Should().Be(dtype);
        float s = scale.ToFloatArray()[0];
        // E4M3 keeps 3 mantissa bits: relative error ≤ 2⁻⁴ for normals; subnormals (below 2⁻⁶·s) within half a 2⁻⁹·s step.
        var expected = values.Select(v => (double)v).ToArray();
        Compare.AllClose(back.ToFloatArray(), expected, new Tolerance(Math.Pow(2, -10) * s, Math.Pow(2, -4) + (dtype == DType.BFloat16 ? Math.Pow(2, -8) : 0)));
        // And it is exactly code · scale rounded into the dtype.
        back.ToFloatArray().Should().Equal(HostValues.Decode(data.ToBytes(), DType.Float8E4M3).Select(v => DTypes.Round(v * s, dtype)));
    }
}

/// <summary>The host half of <see cref="TritonOps.Kernels.Ptx.PtxMath.Fma"/> (the CPU accelerator's path; CUDA emits
/// <c>fma.rn.f32</c>): one rounding of a · b + c, equal to <see cref="MathF.FusedMultiplyAdd"/> bit for bit, including the
/// remainders <see cref="TritonOps.Kernels.Numerics.ScaleDivisor"/> forms and sums that sit near float32 ties.</summary>
public class HostFmaTests
{
    [Test]
    public void PtxMathFma_OffTheGpu_RoundsOnceLikeFusedMultiplyAdd()
    {
        var random = new Random(29);
        int naiveWrong = 0;
        // Double rounding's trap: exact sums a hair below a float midpoint whose even neighbour lies above (c = 1 + 2⁻²³,
        // a · b = 2⁻²⁴ − 2⁻⁷⁰): to double they round onto the midpoint, and then to the wrong float.
        float oddOne = 1f + MathF.ScaleB(1f, -23), belowHalfUlp = MathF.ScaleB(1f - MathF.ScaleB(1f, -23), -24); // their product: 2⁻²⁴ − 2⁻⁷⁰
        var hard = new (float A, float B, float C)[]
        {
            (oddOne, belowHalfUlp, oddOne), (-oddOne, belowHalfUlp, -oddOne), (oddOne, -belowHalfUlp, -oddOne), (belowHalfUlp, oddOne, oddOne),
        };
        for (int i = 0; i < 200_000 + hard.Length; i++)
        {
            if (i >= 200_000)
            {
                var (ha, hb, hc) = hard[i - 200_000];
                Check(ha, hb, hc);
                continue;
            }
            float a = (float)(random.NextDouble() * 2 - 1) * MathF.Pow(2, random.Next(-30, 30));
            float b = (float)(random.NextDouble() * 2 - 1) * MathF.Pow(2, random.Next(-30, 30));
            float c = (i % 4) switch
            {
                0 => -a * b,                                                            // cancels to the product's rounding error
                1 => MathF.BitIncrement(a * b) * (random.Next(2) == 0 ? -1 : 1),
                2 => (float)(random.NextDouble() * 2 - 1) * MathF.Pow(2, random.Next(-60, 60)),
                _ => (float)((double)a * b * (1 + Math.ScaleB(1, -25 - random.Next(0, 30)))) // near a tie of the sum
            };
            Check(a, b, c);
        }
        naiveWrong.Should().BeGreaterThan(0, "the inputs include sums where rounding to double and then to float (no round-to-odd) gives the wrong float");

        void Check(float a, float b, float c)
        {
            uint actual = BitConverter.SingleToUInt32Bits(TritonOps.Kernels.Ptx.PtxMath.Fma(a, b, c));
            uint expected = BitConverter.SingleToUInt32Bits(MathF.FusedMultiplyAdd(a, b, c));
            if (actual != expected)
                Assert.Fail($"Fma({a:R}, {b:R}, {c:R}) = {BitConverter.UInt32BitsToSingle(actual):R}, expected {BitConverter.UInt32BitsToSingle(expected):R}");
            if (BitConverter.SingleToUInt32Bits((float)((double)a * b + c)) != expected)
                naiveWrong++;
        }
    }
}

/// <summary><see cref="QuantizePlan.For"/> without a GPU: the kernel and launch each granularity gets.</summary>
public class QuantizePlanTests
{
    [Test]
    public void PerTokenGroup_Vectorized_OneBlockRowPerChunkOf1024Runs()
    {
        var plan = QuantizePlan.For(8192L * 8192, 8192, 8192, 2, ScaleGranularity.PerTokenGroup, false, 128, true);
        (plan.Kernel, plan.GridX, plan.GridY, plan.Threads, plan.GroupLanes).Should().Be((QuantizeKernelKind.Groups, 8192, 1, 256, 16),
            "1024 runs of eight a row in one chunk; 16 lanes a 128-group");
        QuantizePlan.For(4096L * 14336, 4096, 14336, 2, ScaleGranularity.PerTokenGroup, false, 128, true).GridY.Should().Be(2, "1792 runs: two chunks");
    }

    [TestCase(204, 128, true, "GroupsScalar", "a row not whole runs of eight")]
    [TestCase(256, 96, true, "GroupsScalar", "12 lanes: not a power of two")]
    [TestCase(256, 512, true, "GroupsScalar", "64 lanes: more than a warp")]
    [TestCase(256, 128, false, "GroupsScalar", "x off the 16-byte grid")]
    [TestCase(256, 64, true, "Groups", "8 lanes")]
    public void PerTokenGroup_FallsBackToOneThreadAGroup(int cols, int groupSize, bool aligned, string expected, string why)
    {
        var plan = QuantizePlan.For(7L * cols, 7, cols, 2, ScaleGranularity.PerTokenGroup, false, groupSize, aligned);
        plan.Kernel.ToString().Should().Be(expected, why);
        if (plan.Kernel == QuantizeKernelKind.GroupsScalar)
            plan.GridX.Should().Be((7 * ((cols + groupSize - 1) / groupSize) + 255) / 256);
    }

    [Test]
    public void OtherGranularities_AndGivenScales()
    {
        QuantizePlan.For(300L * 200, 300, 200, 2, ScaleGranularity.Block, false, 128, true)
            .Should().Match<QuantizePlan>(p => p.Kernel == QuantizeKernelKind.Blocks && p.GridX == 3 * 2, "ceil(300/128) · ceil(200/128) blocks");
        QuantizePlan.For(70L * 37, 70, 37, 4, ScaleGranularity.PerRow, false, 128, true)
            .Should().Match<QuantizePlan>(p => p.Kernel == QuantizeKernelKind.Rows && p.GridX == 70);
        QuantizePlan.For(70L * 600, 70, 600, 4, ScaleGranularity.PerColumn, false, 128, true)
            .Should().Match<QuantizePlan>(p => p.Kernel == QuantizeKernelKind.Columns && p.GridX == 3 && p.QuantizeBlocks == 6,
                "600 columns in blocks of 256; 42 000 elements in blocks of 8192");
        QuantizePlan.For(70L * 600, 70, 600, 2, ScaleGranularity.PerTokenGroup, true, 128, true).Kernel.Should().Be(QuantizeKernelKind.GivenScales);
        QuantizePlan.For(8192L * 8192, 1, 1, 2, ScaleGranularity.PerTensor, false, 128, true)
            .Should().Match<QuantizePlan>(p => p.Kernel == QuantizeKernelKind.PerTensor && p.QuantizeBlocks == 8192);
    }
}

public class ScaleDivisorConstantsTests
{
    [Test]
    public void PowerOfTwoConstants_AreExactlyThosePowers()
    {
        Kernels.Numerics.ScaleDivisor.TwoToMinus64.Should().Be(MathF.ScaleB(1f, -64));
        Kernels.Numerics.ScaleDivisor.TwoTo64.Should().Be(MathF.ScaleB(1f, 64));
        Kernels.Numerics.ScaleDivisor.TwoTo120.Should().Be(MathF.ScaleB(1f, 120));
    }
}
