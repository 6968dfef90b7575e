using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests;

/// <summary>quantize_fp8, dequantize_fp8, fp8_gemm and FP8Linear on every device.</summary>
public class Fp8Tests(DeviceKind kind) : OnEveryDevice(kind)
{
    private static float[] Decode(byte[] codes, DType format)
    {
        var values = new float[codes.Length];
        DTypes.Decode(codes, format, values);
        return values;
    }

    private static float[] RoundTo(float[] values, DType dtype) => values.Select(v => DTypes.Round(v, dtype)).ToArray();

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
        float[] values = RoundTo(Inputs.Normal(count, 31, 3.0), dtype);
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
        var kernel = Kernels.Fp8.Fp8QuantizeFusedKernel.Variant(ElementType(dtype), format == DType.Float8E4M3 ? typeof(E4M3) : typeof(E5M2));
        int grid = Device.Multiprocessors * Device.BlocksPerMultiprocessor(kernel, Kernels.Fp8.Fp8QuantizeFusedKernel.Threads, Kernels.Fp8.Fp8QuantizeFusedKernel.SharedBytes);
        long kept = (long)grid * Kernels.Fp8.Fp8QuantizeFusedKernel.HeldPacks;
        // amaxAt < 1: a fraction into the kept items; ≥ 1: streamed items past them.
        long packs = kept + 5 * Kernels.Fp8.Fp8QuantizeFusedKernel.StreamPacks / 2;
        int count = checked((int)(packs * width));
        long at = amaxAt < 1 ? (long)(amaxAt * kept) : kept + (long)((amaxAt - 1) * Kernels.Fp8.Fp8QuantizeFusedKernel.StreamPacks);
        float[] values = RoundTo(Inputs.Normal(count, Inputs.Seed(dtype, format, amaxAt), 3.0), dtype);
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
        long packs = grid * (long)Kernels.Fp8.Fp8QuantizeFusedKernel.HeldPacks + 3 * Kernels.Fp8.Fp8QuantizeFusedKernel.StreamPacks / 2;
        int count = checked((int)(packs * 8));
        float[] values = RoundTo(Inputs.Normal(count, 77, 3.0), DType.BFloat16);
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
        Decode(data.ToBytes(), DType.Float8E4M3).Should().OnlyContain(v => float.IsNaN(v));
    }

    [TestCase(ScaleGranularity.PerRow)]
    [TestCase(ScaleGranularity.PerColumn)]
    public void QuantizePerRowAndPerColumn_AreBitExact(ScaleGranularity granularity)
    {
        const int rows = 7, cols = 37;
        float[] values = RoundTo(Inputs.Normal(rows * cols, 41, 5.0), DType.Float16);
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
        back.ToFloatArray().Should().Equal(Decode(data.ToBytes(), DType.Float8E4M3).Select(v => DTypes.Round(v * s, dtype)));
    }

    /// <summary>fp8_gemm's error against the float64 product of its own dequantized operands: products
    /// of e4m3 codes are exact; the sum and the final rounding remain. The rounding is this (relative);
    /// the sum's error is <see cref="SumSlack"/>.</summary>
    private static Tolerance GemmTolerance(DType output) => output switch
    {
        DType.Float32 => new(1e-4, 1e-5),
        DType.Float16 => new(1e-4, Math.Pow(2, -11) + 1e-5),
        _ => new(1e-4, Math.Pow(2, -8) + 1e-5),
    };

    /// <summary>
    /// Per output, 2⁻¹⁰ · Σₖ |aₖ·bₖ| (scaled): Hopper's FP8 tensor cores (the wgmma kernel) keep about 14
    /// significant bits while they sum one k tile (128 deep since 11-27 night; 64 before), whose partial
    /// the kernel then adds in float32; measured on the H200, a 64-deep tile's error reached 2⁻¹²·² of Σ|aₖ·bₖ|. The mma.sync
    /// and CPU paths sum in float32 and land far inside it. A layout or indexing bug is off by the size
    /// of the output itself, far outside it.
    /// </summary>
    private static double[] SumSlack(float[] aDecoded, float[] aScales, float[] bDecoded, float[] bScales, int m, int k, int n) =>
        Reference.Fp8Gemm(aDecoded.Select(MathF.Abs).ToArray(), aScales, bDecoded.Select(MathF.Abs).ToArray(), bScales, m, k, n)
            .Select(sum => Math.Pow(2, -10) * sum).ToArray();

    [TestCase(1, 40, 24, DType.Float16, false)]
    [TestCase(37, 80, 130, DType.BFloat16, true)]
    [TestCase(5, 72, 9, DType.Float32, true)]
    [TestCase(17, 528, 20, DType.BFloat16, true)]  // decode kernel (wgmma tiles on Hopper): 2 slices, whole 256-wide iterations on both k parts, a tail
    [TestCase(70, 80, 72, DType.Float16, true)]    // wgmma kernel (M > 64): M, N and K tails inside one tile
    [TestCase(130, 400, 136, DType.BFloat16, false)] // wgmma kernel: two M tiles, two N tiles, four k tiles (one past the ring)
    [TestCase(70, 40, 72, DType.Float32, true)]    // K % 16 != 0: the mma.sync tiled kernel
    public void Fp8Gemm_FloatInputs_MatchesFloat64ProductOfDequantizedOperands(int m, int k, int n, DType output, bool bAsTransposedView)
    {
        float[] aValues = Inputs.Normal(m * k, m + k, 2.0), bValues = Inputs.Normal(k * n, k + n, 0.5);
        using var a = Tensor.FromArray(aValues, [m, k], DType.BFloat16, Device);
        float[] aRounded = a.ToFloatArray();
        // b [K, N]: either contiguous, or the transposed view of a contiguous [N, K] buffer.
        float[] bTransposed = new float[n * k];
        for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) bTransposed[j * k + i] = bValues[i * n + j];
        using var bStorage = bAsTransposedView ? Tensor.FromArray(bTransposed, [n, k], DType.Float32, Device) : Tensor.FromArray(bValues, [k, n], DType.Float32, Device);
        using var b = bAsTransposedView ? bStorage.Transpose(0, 1) : bStorage.Reshape(k, n);

        using var result = Ops.Fp8Gemm(a, b, outputDtype: output);

        result.Shape.Should().Equal(m, n);
        result.DType.Should().Be(output);
        var (aCodes, aScale) = Reference.QuantizeFp8(aRounded, DType.Float8E4M3, 1, _ => 0);
        var (bCodes, bScale) = Reference.QuantizeFp8(bValues, DType.Float8E4M3, 1, _ => 0);
        float[] aDecoded = Decode(aCodes, DType.Float8E4M3), bDecoded = Decode(bCodes, DType.Float8E4M3);
        var expected = Reference.Fp8Gemm(aDecoded, aScale, bDecoded, bScale, m, k, n);
        Compare.AllClose(result.ToFloatArray(), expected, GemmTolerance(output), SumSlack(aDecoded, aScale, bDecoded, bScale, m, k, n));
    }

    /// <summary>The wgmma kernel with its tile rows and ring depth pinned: rings shorter than the k loop, so the
    /// producer waits for stages to come back (two and three rounds of the barriers' phases), 128- and 256-row
    /// tiles, tails in M, N and K, the op's own ring depth (0), and M = 1 and 40 (the decode kernel's rows) in a tile.</summary>
    [TestCase(128, 2, 150, 720, 136)]
    [TestCase(256, 3, 270, 784, 120)]
    [TestCase(256, 4, 70, 528, 72)]
    [TestCase(128, 0, 90, 272, 264)]
    [TestCase(128, 3, 1, 400, 136)]
    [TestCase(128, 0, 40, 144, 72)]
    [TestCase(64, 0, 37, 400, 200)]
    [TestCase(64, 2, 64, 272, 136)]
    [TestCase(64, 3, 130, 144, 72)]
    public void Fp8Gemm_WgmmaTiles_MatchFloat64ProductOfDequantizedOperands(int blockM, int stages, int m, int k, int n)
    {
        // 64-row tiles (the consumers split N; the op's choice for M ≤ 64): a partial tile and N tail with the op's ring,
        // a full tile with two stages, and three tiles along M.
        // CI budget: the CPU accelerator emulates four (all tile heights, a pinned and the op's ring); CUDA all.
        if (Kind == DeviceKind.Cpu && !((blockM, stages, m) is (256, 3, 270) or (128, 0, 90) or (128, 3, 1) or (64, 0, 37)))
            Assert.Ignore("CUDA only: the CPU accelerator emulates three of these cases (CI time).");
        PreQuantizedGemmShouldMatchReference(m, k, n, new Fp8GemmSchedule(blockM, stages, Tiled: true));
    }

    /// <summary>The decode kernel pinned: on Hopper the wgmma kernel takes these shapes, so without the pin the
    /// H200 would never run what other GPUs take for M ≤ 64. One row with a whole 256-wide k step in each of the
    /// two K halves and a tail; two 16-row slices (the second one row deep) and two 32-wide N blocks, the second
    /// partial; the largest M (four slices) with K shorter than one step.</summary>
    [TestCase(1, 528, 20)]
    [TestCase(17, 272, 40)]
    [TestCase(64, 144, 24)]
    public void Fp8Gemm_DecodeKernel_MatchesFloat64ProductOfDequantizedOperands(int m, int k, int n) =>
        PreQuantizedGemmShouldMatchReference(m, k, n, new Fp8GemmSchedule(Decode: true));

    /// <summary>bf16 a [m, k] and b [n, k] quantized per tensor, b passed as its transposed view, the product with
    /// <paramref name="schedule"/> against the float64 product of the dequantized codes.</summary>
    private void PreQuantizedGemmShouldMatchReference(int m, int k, int n, Fp8GemmSchedule schedule)
    {
        int seed = Inputs.Seed(schedule.BlockM, schedule.Stages, m, k, n);
        float[] aValues = Inputs.Normal(m * k, seed, 2.0), bValues = Inputs.Normal(n * k, seed + 1, 0.5);
        using var a = Tensor.FromArray(aValues, [m, k], DType.BFloat16, Device);
        using var bStorage = Tensor.FromArray(bValues, [n, k], DType.BFloat16, Device);
        var (aq, aScale) = Ops.QuantizeFp8(a);
        var (bq, bScale) = Ops.QuantizeFp8(bStorage);
        using var _ = aq; using var __ = aScale; using var ___ = bq; using var ____ = bScale;
        using var b = bq.Transpose(0, 1);

        using var result = Ops.Fp8Gemm(aq, b, aScale, bScale, DType.BFloat16, null, schedule);

        float[] aDecoded = Decode(aq.ToBytes(), DType.Float8E4M3), bRows = Decode(bq.ToBytes(), DType.Float8E4M3);
        float[] bDecoded = new float[k * n];
        for (int j = 0; j < n; j++) for (int i = 0; i < k; i++) bDecoded[i * n + j] = bRows[j * k + i];
        float[] aS = aScale.ToFloatArray(), bS = bScale.ToFloatArray();
        var expected = Reference.Fp8Gemm(aDecoded, aS, bDecoded, bS, m, k, n);
        Compare.AllClose(result.ToFloatArray(), expected, GemmTolerance(DType.BFloat16), SumSlack(aDecoded, aS, bDecoded, bS, m, k, n));
    }

    [Test]
    public void Fp8Gemm_PreQuantizedWithPerRowAndPerColumnScales_AndBias()
    {
        const int m = 9, k = 48, n = 20;
        using var aFloat = Tensor.FromArray(Inputs.Normal(m * k, 61, 3.0), [m, k], DType.Float32, Device);
        using var bFloat = Tensor.FromArray(Inputs.Normal(k * n, 62, 0.2), [k, n], DType.Float32, Device);
        var (aq, aScale) = Ops.QuantizeFp8(aFloat, granularity: ScaleGranularity.PerRow);
        var (bq, bScale) = Ops.QuantizeFp8(bFloat, granularity: ScaleGranularity.PerColumn);
        float[] biasValues = Inputs.Normal(n, 63);
        using var bias = Tensor.FromArray(biasValues, [n], DType.Float32, Device);
        using var _ = aq; using var __ = aScale; using var ___ = bq; using var ____ = bScale;

        using var result = Ops.Fp8Gemm(aq, bq, aScale, bScale, DType.Float32, bias);

        float[] aDecoded = aq.ToFloatArray(), aScales = aScale.ToFloatArray(), bDecoded = bq.ToFloatArray(), bScales = bScale.ToFloatArray();
        var expected = Reference.Fp8Gemm(aDecoded, aScales, bDecoded, bScales, m, k, n, biasValues);
        Compare.AllClose(result.ToFloatArray(), expected, GemmTolerance(DType.Float32), SumSlack(aDecoded, aScales, bDecoded, bScales, m, k, n));
    }

    [Test]
    public void Fp8Linear_CachesTheQuantizedWeight_AndRequantizesAfterChanges()
    {
        const int inFeatures = 40, outFeatures = 24;
        using var layer = new Fp8Linear(inFeatures, outFeatures, bias: true, DType.BFloat16, Device, seed: 3);
        layer.WeightFp8.Should().BeNull("nothing is quantized before the first forward");
        using var x = Tensor.FromArray(Inputs.Normal(2 * 3 * inFeatures, 71), [2, 3, inFeatures], DType.BFloat16, Device);

        using var first = layer.Forward(x);
        first.Shape.Should().Equal(2, 3, outFeatures);
        first.DType.Should().Be(DType.BFloat16);
        var cached = layer.WeightFp8;
        layer.WeightFp8T!.Shape.Should().Equal(inFeatures, outFeatures);
        CheckAgainstReference(layer, x, first);

        using var second = layer.Forward(x);
        layer.WeightFp8.Should().BeSameAs(cached, "a second forward reuses the cache");
        second.ToBytes().Should().Equal(first.ToBytes());

        long version = layer.WeightVersion;
        layer.LoadWeight(Inputs.Uniform(outFeatures * inFeatures, 72, -0.5, 0.5));
        layer.WeightVersion.Should().Be(version + 1);
        using var third = layer.Forward(x);
        layer.WeightFp8.Should().NotBeSameAs(cached, "a new weight version re-quantizes");
        CheckAgainstReference(layer, x, third);

        var beforeInvalidate = layer.WeightFp8;
        layer.InvalidateCache();
        layer.WeightFp8.Should().BeNull();
        using var fourth = layer.Forward(x);
        layer.WeightFp8.Should().NotBeSameAs(beforeInvalidate);
        fourth.ToBytes().Should().Equal(third.ToBytes());
    }

    private static void CheckAgainstReference(Fp8Linear layer, Tensor x, Tensor y)
    {
        int m = (int)(x.ElementCount / layer.InFeatures);
        float[] xs = x.ToFloatArray(), w = layer.Weight!.ToFloatArray();
        var (xCodes, xScale) = Reference.QuantizeFp8(xs, DType.Float8E4M3, 1, _ => 0);
        var (wCodes, wScale) = Reference.QuantizeFp8(w, DType.Float8E4M3, 1, _ => 0);
        float[] wDecoded = Decode(wCodes, DType.Float8E4M3), wT = new float[w.Length];
        for (int o = 0; o < layer.OutFeatures; o++) for (int i = 0; i < layer.InFeatures; i++) wT[i * layer.OutFeatures + o] = wDecoded[o * layer.InFeatures + i];
        float[] xDecoded = Decode(xCodes, DType.Float8E4M3);
        var expected = Reference.Fp8Gemm(xDecoded, xScale, wT, wScale, m, layer.InFeatures, layer.OutFeatures, layer.Bias!.ToFloatArray());
        Compare.AllClose(y.ToFloatArray(), expected, GemmTolerance(DType.BFloat16), SumSlack(xDecoded, xScale, wT, wScale, m, layer.InFeatures, layer.OutFeatures));
    }
}

/// <summary>Every contract violation of the FP8 ops, caught before allocation.</summary>
public class Fp8ErrorTests
{
    private static Device Device => TestDevices.Cpu;
    private static Tensor T(DType dtype, params int[] shape) => Tensor.Full(shape, 0.5f, dtype, Device);

    private static FluentAssertions.Specialized.ExceptionAssertions<TException> ShouldThrow<TException>(Action call) where TException : Exception =>
        Validation.ThrowsBeforeAllocating<TException>(Device, () => call());

    [Test]
    public void Fp8InputWithoutScale_ThrowsArgumentNull()
    {
        using var a = T(DType.Float8E4M3, 4, 8); using var b = T(DType.Float32, 8, 4);
        ShouldThrow<ArgumentNullException>(() => Ops.Fp8Gemm(a, b)).Which.ParamName.Should().Be("aScale");
        using var bq = T(DType.Float8E4M3, 8, 4); using var af = T(DType.Float32, 4, 8);
        ShouldThrow<ArgumentNullException>(() => Ops.Fp8Gemm(af, bq)).Which.ParamName.Should().Be("bScale");
    }

    [Test]
    public void ScaleOnAnotherDevice_ThrowsDeviceException()
    {
        using var other = Device.Cpu();
        using var a = T(DType.Float8E4M3, 4, 8); using var b = T(DType.Float32, 8, 4);
        using var scale = Tensor.Full([1], 1f, DType.Float32, other);
        ShouldThrow<DeviceException>(() => Ops.Fp8Gemm(a, b, scale)).WithMessage("*'aScale'*");
    }

    [Test]
    public void ScaleOfWrongShapeOrDtype_Throws()
    {
        using var a = T(DType.Float8E4M3, 4, 8); using var b = T(DType.Float32, 8, 4);
        using var wrongShape = Tensor.Full([3, 1], 1f, DType.Float32, Device);
        using var wrongDtype = Tensor.Full([1], 1f, DType.Float16, Device);
        ShouldThrow<ShapeMismatchException>(() => Ops.Fp8Gemm(a, b, wrongShape)).WithMessage("*'aScale'*one element, [4, 1]*[3, 1]*");
        ShouldThrow<UnsupportedDtypeException>(() => Ops.Fp8Gemm(a, b, wrongDtype)).WithMessage("*'aScale'*float32*float16*");
    }

    [Test]
    public void InnerDimensionsDiffer_ThrowsShapeMismatch()
    {
        using var a = T(DType.Float32, 4, 8); using var b = T(DType.Float32, 9, 4);
        ShouldThrow<ShapeMismatchException>(() => Ops.Fp8Gemm(a, b)).WithMessage("*'b'*dimension 0*K, from a*8*got 9*");
    }

    [TestCase(DType.Float8E4M3)]
    [TestCase(DType.Float8E5M2)]
    public void Fp8OutputDtype_ThrowsUnsupportedDtype(DType output)
    {
        using var a = T(DType.Float32, 4, 8); using var b = T(DType.Float32, 8, 4);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.Fp8Gemm(a, b, outputDtype: output)).WithMessage("*'outputDtype'*");
    }

    [Test]
    public void E5M2Operand_ThrowsUnsupportedDtype()
    {
        using var a = T(DType.Float8E5M2, 4, 8); using var b = T(DType.Float32, 8, 4);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.Fp8Gemm(a, b)).WithMessage("*'a'*float8_e5m2*");
    }

    [Test]
    public void PerColumnScaleWithFloatB_ThrowsShapeMismatch()
    {
        using var a = T(DType.Float32, 4, 8); using var b = T(DType.Float32, 8, 4); using var s = Tensor.Full([1, 4], 1f, DType.Float32, Device);
        ShouldThrow<ShapeMismatchException>(() => Ops.Fp8Gemm(a, b, bScale: s)).WithMessage("*'bScale'*already quantized*");
    }

    [Test]
    public void QuantizeErrors_AreTyped()
    {
        using var x3 = T(DType.Float32, 2, 3, 4);
        ShouldThrow<ShapeMismatchException>(() => Ops.QuantizeFp8(x3, granularity: ScaleGranularity.PerRow)).WithMessage("*'x'*rank 2*");
        ShouldThrow<UnsupportedDtypeException>(() => Ops.QuantizeFp8(x3, format: DType.BFloat16)).WithMessage("*'format'*float8_e4m3fn or float8_e5m2*bfloat16*");
        using var q = T(DType.Float8E4M3, 4);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.QuantizeFp8(q)).WithMessage("*'x'*float8_e4m3fn*");
        using var scale = Tensor.Full([2], 1f, DType.Float32, Device);
        ShouldThrow<ShapeMismatchException>(() => Ops.DequantizeFp8(q, scale)).WithMessage("*'scale'*one element*[2]*");
    }

    [Test]
    public void Fp8LinearWithWrongInputWidth_ThrowsShapeMismatch()
    {
        using var layer = new Fp8Linear(8, 4, device: Device);
        using var x = T(DType.Float32, 2, 7);
        ShouldThrow<ShapeMismatchException>(() => layer.Forward(x)).WithMessage("*'x'*in = 8*[2, 7]*");
    }
}
