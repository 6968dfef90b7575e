using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests;

/// <summary>fp8_gemm and FP8Linear on every device.</summary>
public class Fp8GemmTests(DeviceKind kind) : OnEveryDevice(kind)
{
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

    [TestCase(1, 40, 40, DType.Float16, false)]     // b contiguous: transposed in two 32-column blocks (the CPU's only such case)
    [TestCase(37, 80, 130, DType.BFloat16, true)]
    [TestCase(5, 72, 9, DType.Float32, true)]
    [TestCase(17, 528, 20, DType.BFloat16, true)]  // decode kernel (wgmma tiles on Hopper): 2 slices, whole 256-wide iterations on both k parts, a tail
    [TestCase(70, 80, 72, DType.Float16, true)]    // wgmma kernel (M > 64): M, N and K tails inside one tile
    [TestCase(130, 400, 136, DType.BFloat16, false)] // wgmma kernel: two M tiles, two N tiles, four k tiles (one past the ring)
    [TestCase(70, 40, 72, DType.Float32, true)]    // K % 16 != 0: the mma.sync tiled kernel
    public void Fp8Gemm_FloatInputs_MatchesFloat64ProductOfDequantizedOperands(int m, int k, int n, DType output, bool bAsTransposedView)
    {
        // CI time (12-07): on the CPU M ≤ 64 takes the decode kernel, which (17, 528, 20) runs in the same form, and the
        // two-tile wgmma case repeats Fp8Gemm_WgmmaTiles' 128-row cases; both run on CUDA.
        if (Kind == DeviceKind.Cpu && (m, k, n) is (37, 80, 130) or (130, 400, 136))
            Assert.Ignore("CUDA only: the CPU runs the same kernels in cheaper cases (CI time).");
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
        float[] aDecoded = HostValues.Decode(aCodes, DType.Float8E4M3), bDecoded = HostValues.Decode(bCodes, DType.Float8E4M3);
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

    /// <summary>The wgmma kernel on a grid smaller than its tile count: each block walks several tiles, the ring running on
    /// from one tile into the next (a three-stage ring over four k tiles, so a tile starts mid-ring); every tile's
    /// arithmetic is the block-a-tile launch's, so the bytes are too. Per tensor and with 128-block scales.</summary>
    [TestCase(128, 3, 70, 400, 264, 2, false)]
    [TestCase(256, 3, 300, 528, 300, 3, true)]
    [TestCase(64, 2, 40, 272, 400, 1, true)]
    public void Fp8Gemm_WgmmaOnFewerBlocksThanTiles_GivesTheBlockATileBytes(int blockM, int stages, int m, int k, int n, int blocks, bool blockScales)
    {
        if (Kind == DeviceKind.Cpu)
            Assert.Ignore("CUDA only: the CPU accelerator walks tiles in the gated MLP's case of the same mainloop (CI time).");
        int seed = Inputs.Seed(blockM, stages, m, k, n, blocks);
        using var a = Tensor.FromArray(Inputs.Normal(m * k, seed, 2.0), [m, k], DType.BFloat16, Device);
        using var w = Tensor.FromArray(Inputs.Normal(n * k, seed + 1, 0.5), [n, k], DType.BFloat16, Device);
        var (aq, aScale) = Ops.QuantizeFp8(a, granularity: blockScales ? ScaleGranularity.PerTokenGroup : ScaleGranularity.PerTensor);
        var (wq, wScale) = Ops.QuantizeFp8(w, granularity: blockScales ? ScaleGranularity.Block : ScaleGranularity.PerTensor);
        using var _ = aq; using var __ = aScale; using var ___ = wq; using var ____ = wScale;
        using var b = wq.Transpose(0, 1);
        using var transposed = blockScales ? wScale.Transpose(0, 1) : null;
        var bScale = transposed ?? wScale;
        var schedule = new Fp8GemmSchedule(blockM, stages, Tiled: true);
        Fp8GemmPlan.For(m, n, k, true, true, true, schedule with { Blocks = blocks }).Should().Match<Fp8GemmPlan>(p => p.Grid == blocks && p.WalksTiles,
            "fewer blocks than tiles: the walking kernel");
        Fp8GemmPlan.For(m, n, k, true, true, true, schedule).WalksTiles.Should().BeFalse("a block a tile: the loop-free kernel");
        using var each = Ops.Fp8Gemm(aq, b, aScale, bScale, DType.BFloat16, null, schedule);
        using var walked = Ops.Fp8Gemm(aq, b, aScale, bScale, DType.BFloat16, null, schedule with { Blocks = blocks });
        walked.ToBytes().Should().Equal(each.ToBytes());
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

        float[] aDecoded = HostValues.Decode(aq.ToBytes(), DType.Float8E4M3), bRows = HostValues.Decode(bq.ToBytes(), DType.Float8E4M3);
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

    /// <summary><c>torch._scaled_mm</c> takes its bias in the output dtype: a 16-bit bias gives the bytes of its exact
    /// float32 widening.</summary>
    [TestCase(DType.BFloat16)]
    [TestCase(DType.Float16)]
    public void Fp8Gemm_SixteenBitBias_IsItsFloat32Widening(DType biasDtype)
    {
        const int m = 5, k = 40, n = 24;
        using var aFloat = Tensor.FromArray(Inputs.Normal(m * k, 65), [m, k], DType.Float32, Device);
        using var bFloat = Tensor.FromArray(Inputs.Normal(k * n, 66, 0.2), [k, n], DType.Float32, Device);
        var (a, aScale) = Ops.QuantizeFp8(aFloat);
        var (b, bScale) = Ops.QuantizeFp8(bFloat);
        using var _a = a; using var _as = aScale; using var _b = b; using var _bs = bScale;
        using var bias16 = Tensor.FromArray(Inputs.Normal(n, 67), [n], biasDtype, Device);
        using var bias32 = Tensor.FromArray(bias16.ToFloatArray(), [n], DType.Float32, Device);
        using var expected = Ops.Fp8Gemm(a, b, aScale, bScale, biasDtype, bias32);
        using var actual = Ops.Fp8Gemm(a, b, aScale, bScale, biasDtype, bias16);
        actual.ToBytes().Should().Equal(expected.ToBytes());
        float[] a8 = a.ToFloatArray(), b8 = b.ToFloatArray(), sa = aScale.ToFloatArray(), sb = bScale.ToFloatArray();
        Compare.AllClose(actual.ToFloatArray(), Reference.Fp8Gemm(a8, sa, b8, sb, m, k, n, bias16.ToFloatArray()), GemmTolerance(biasDtype),
            SumSlack(a8, sa, b8, sb, m, k, n));
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
        float[] wDecoded = HostValues.Decode(wCodes, DType.Float8E4M3), wT = new float[w.Length];
        for (int o = 0; o < layer.OutFeatures; o++) for (int i = 0; i < layer.InFeatures; i++) wT[i * layer.OutFeatures + o] = wDecoded[o * layer.InFeatures + i];
        float[] xDecoded = HostValues.Decode(xCodes, DType.Float8E4M3);
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
        ShouldThrow<ShapeMismatchException>(() => Ops.QuantizeFp8(x3, granularity: ScaleGranularity.PerColumn)).WithMessage("*'x'*rank 2*");
        ShouldThrow<ShapeMismatchException>(() => Ops.QuantizeFp8(x3, granularity: ScaleGranularity.Block)).WithMessage("*'x'*rank 2*");
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

/// <summary><see cref="Fp8GemmPlan.For"/> without a GPU: the kernel, tile rows and ring each call gets on the H200 and
/// elsewhere, and the pinned schedules it refuses.</summary>
public class Fp8GemmPlanTests
{
    [TestCase(8192, 256)]
    [TestCase(1024, 256)]
    [TestCase(1023, 128)]
    [TestCase(65, 128)]
    [TestCase(64, 64)]
    [TestCase(16, 64)]
    public void OnTheH200_TheWgmmaKernelAtEveryM_TileRowsByM(int m, int blockM)
    {
        var plan = Fp8GemmPlan.For(m, 4096, 4096, hasWarpgroupMma: true, aligned16: true, isCuda: true);
        plan.Kernel.Should().Be(Fp8GemmKernelKind.WarpSpecialized);
        plan.BlockM.Should().Be(blockM);
        (plan.MTiles, plan.NTiles, plan.KTiles).Should().Be(((m + blockM - 1) / blockM, 32, 32), "128-column tiles, 128-byte K steps");
        plan.Grid.Should().Be(plan.MTiles * 32);
        plan.Stages.Should().Be(Kernels.Fp8Gemm.Fp8GemmWarpSpecializedKernel.DefaultStages(blockM)).And.BeInRange(2, 8);
        plan.SharedBytes.Should().Be(Kernels.Fp8Gemm.Fp8GemmWarpSpecializedKernel.SharedBytes(blockM, plan.Stages)).And.BeLessThanOrEqualTo(224 * 1024);
    }

    [Test]
    public void OffHopper_DecodeUpTo64Rows_ThenMmaTiles()
    {
        var decode = Fp8GemmPlan.For(16, 14336, 4096, hasWarpgroupMma: false, aligned16: true, isCuda: true);
        (decode.Kernel, decode.MTiles, decode.NTiles, decode.Grid, decode.Threads).Should().Be((Fp8GemmKernelKind.Decode, 1, 448, 448, 256));
        var tiled = Fp8GemmPlan.For(200, 136, 200, hasWarpgroupMma: false, aligned16: true, isCuda: true);
        (tiled.Kernel, tiled.MTiles, tiled.NTiles, tiled.KTiles).Should().Be((Fp8GemmKernelKind.Mma, 2, 3, 4));
        Fp8GemmPlan.For(200, 136, 200, hasWarpgroupMma: true, aligned16: true, isCuda: true).Kernel
            .Should().Be(Fp8GemmKernelKind.Mma, "K not a multiple of 16: no tensor maps");
        Fp8GemmPlan.For(200, 136, 256, hasWarpgroupMma: true, aligned16: false, isCuda: true).Kernel
            .Should().Be(Fp8GemmKernelKind.Mma, "codes not 16-byte aligned");
        Fp8GemmPlan.For(16, 136, 256, hasWarpgroupMma: true, aligned16: true, isCuda: false).Kernel
            .Should().Be(Fp8GemmKernelKind.Decode, "the CPU accelerator decodes (the cheap kernel to emulate)");
    }

    [Test]
    public void PinnedSchedules_AreTakenOrRefused()
    {
        Fp8GemmPlan.For(16, 128, 256, true, true, true, new Fp8GemmSchedule(Decode: true)).Kernel.Should().Be(Fp8GemmKernelKind.Decode);
        Fp8GemmPlan.For(16, 128, 256, true, true, false, new Fp8GemmSchedule(Tiled: true)).Kernel.Should().Be(Fp8GemmKernelKind.WarpSpecialized);
        var pinned = Fp8GemmPlan.For(8192, 8192, 8192, true, true, true, new Fp8GemmSchedule(BlockM: 128, Stages: 3));
        (pinned.BlockM, pinned.Stages).Should().Be((128, 3));
        FluentActions.Invoking(() => Fp8GemmPlan.For(65, 128, 256, true, true, true, new Fp8GemmSchedule(Decode: true)))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*M ≤ 64*65*");
        FluentActions.Invoking(() => Fp8GemmPlan.For(256, 128, 256, true, true, true, new Fp8GemmSchedule(BlockM: 96)))
            .Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => Fp8GemmPlan.For(256, 128, 256, true, true, true, new Fp8GemmSchedule(Stages: 1)))
            .Should().Throw<ArgumentOutOfRangeException>();
    }
}
