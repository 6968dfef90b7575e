namespace TritonOps.Tests;

/// <summary>Linear = x · Wᵀ (+ bias) (+ residual), on every accelerator, against the float64 reference: every kernel
/// (the warp-specialized, wide, register-staged and decode tensor-core ones, which the CPU accelerator emulates, and the
/// general one), misaligned operands, tails
/// in M, N and K, M = 1, leading dims, bias and residual, K = 0, every error path.</summary>
public class LinearTests(DeviceKind kind) : OnEveryDevice(kind)
{
    /// <summary>One rounding of a float32 sum of O(1) terms into the dtype; the absolute term covers the sum's
    /// float32 error (and the tensor cores' accumulation order) over K ≤ a few hundred.</summary>
    private static Tolerance For(DType dtype) => dtype switch
    {
        DType.Float32 => new(2e-5, 2e-5),
        DType.Float16 => new(1e-4, Math.Pow(2, -11) + 2e-5),
        _ => new(1e-4, Math.Pow(2, -8) + 2e-5),
    };

    private Tensor Random(int seed, DType dtype, double scale, params int[] shape) =>
        Tensor.FromArray(Inputs.Normal(shape.Aggregate(1, (a, b) => a * b), seed, scale), shape, dtype, Device);

    /// <summary>(kernel, dtype, leading dims, in, out, bias, residual). WarpSpecialized: a 128 × 256 tile whose second
    /// half is partly (N = 200) or wholly (N = 72) past N, K tails inside a 64-wide k step (K = 136), two M tiles
    /// (M = 130), M = 1; Rows: float32, K not a multiple of 8, K = 0; RegisterStaged (the kernel for rows that are not
    /// 16-byte aligned): K = 37, two M tiles, a second 128-column tile whose second half lies wholly past N; Wide (the
    /// cp.async ring before Hopper): a whole 128 × 256 tile (the copies without checks) and an edge one, walked by the CPU
    /// accelerator's one block (K tails: the gated MLP's wide case, the same loads).</summary>
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return Case("WarpSpecialized", DType.BFloat16, [2, 65], 136, 200, true, true);
        yield return Case("WarpSpecialized", DType.Float16, [1], 64, 72, false, false);
        yield return Case("WarpSpecialized", DType.BFloat16, [3, 1, 1], 8, 264, true, false);
        yield return Case("Auto", DType.Float16, [5], 40, 24, false, true);
        yield return Case("Rows", DType.Float32, [2, 3], 37, 19, true, true);
        yield return Case("Auto", DType.BFloat16, [4], 13, 11, true, false);
        yield return Case("Auto", DType.Float32, [3], 0, 5, true, true);
        yield return Case("Auto", DType.BFloat16, [0, 4], 16, 8, true, false);
        yield return Case("Decode", DType.BFloat16, [17], 136, 200, true, true);
        yield return Case("Decode", DType.Float16, [1, 1], 72, 40, false, false);
        yield return Case("SwappedDecode", DType.BFloat16, [3], 136, 300, true, true);
        yield return Case("SwappedDecode", DType.Float16, [2, 8], 64, 72, false, false);
        yield return Case("SwappedDecode", DType.BFloat16, [2, 20], 72, 264, true, true);
        yield return Case("RegisterStaged", DType.BFloat16, [2, 65], 37, 150, true, true);
        yield return Case("Wide", DType.Float16, [128], 64, 300, false, true);
    }

    private static TestCaseData Case(string kernel, DType dtype, int[] lead, int inFeatures, int outFeatures, bool bias, bool residual) =>
        new TestCaseData(kernel, dtype, lead, inFeatures, outFeatures, bias, residual)
            .SetArgDisplayNames(kernel, DTypes.Name(dtype), $"[{string.Join(",", lead)}]", $"in {inFeatures}", $"out {outFeatures}", bias ? "bias" : "no bias", residual ? "residual" : "no residual");

    [TestCaseSource(nameof(Cases))]
    public void Forward_MatchesFloat64Reference(string kernel, DType dtype, int[] lead, int inFeatures, int outFeatures, bool withBias, bool withResidual)
    {
        if (Kind == DeviceKind.Cpu && kernel == "WarpSpecialized" && lead.Aggregate(1, (a, b) => a * b) > 128 && outFeatures > 128)
            TestContext.Out.WriteLine("two M tiles of the emulated tensor-core kernel: slow on the CPU accelerator, kept for coverage");
        int seed = Inputs.Seed(kernel, dtype, string.Join(",", lead), inFeatures, outFeatures, withBias, withResidual);
        int[] xShape = [.. lead, inFeatures], outShape = [.. lead, outFeatures];
        using var x = Random(seed, dtype, 1.0, xShape);
        using var weight = Random(seed + 1, dtype, 1 / Math.Sqrt(Math.Max(1, inFeatures)), outFeatures, inFeatures);
        using var bias = withBias ? Random(seed + 2, dtype, 1.0, outFeatures) : null;
        using var residual = withResidual ? Random(seed + 3, dtype, 1.0, outShape) : null;

        using var y = Ops.Linear(x, weight, bias, residual, null, Enum.Parse<LinearKernelChoice>(kernel));

        y.Shape.Should().Equal(outShape);
        y.DType.Should().Be(dtype);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, bias, residual), For(dtype));
    }

    /// <summary>Operands that do not start on 16 bytes (views one element into their storage) with in a multiple of 8: the
    /// register-staged kernel (M = 70) and the decode kernel (M = 5) must load them element by element (a 16-byte load
    /// from such an address faults on a GPU; on the CPU accelerator it read the wrong bytes).</summary>
    [TestCase(70)]
    [TestCase(5)]
    public void MisalignedOperands_LoadElementByElement_AndMatchFloat64Reference(int m)
    {
        const int inFeatures = 64, outFeatures = 72;
        int seed = Inputs.Seed(m, inFeatures, outFeatures);
        using var xStorage = Random(seed, DType.BFloat16, 1.0, 1 + m * inFeatures);
        using var wStorage = Random(seed + 1, DType.BFloat16, 1 / Math.Sqrt(inFeatures), 1 + outFeatures * inFeatures);
        using var x = xStorage.Narrow(0, 1, m * inFeatures).Reshape(m, inFeatures);
        using var weight = wStorage.Narrow(0, 1, outFeatures * inFeatures).Reshape(outFeatures, inFeatures);
        (x.DeviceAddress % 16).Should().NotBe(0, "the case is about misaligned operands");
        using var y = Ops.Linear(x, weight);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, null, null), For(DType.BFloat16));
    }

    /// <summary>The decode kernel split along K (the last block of each tile adds the splits): K a multiple of 8 but
    /// not of a split's 128 granule, and K unaligned (the checked tail loads); two M slices, an N tail, bias and
    /// residual. A second call gives the same bits (the arrival counters were left at zero).</summary>
    [TestCase(DType.BFloat16, 17, 264, 72, 2)]   // two 16-row slices, an N tail; the last split is 8 of K
    [TestCase(DType.Float16, 5, 301, 40, 3)]     // K unaligned: the checked tail loop in every split
    [TestCase(DType.BFloat16, 2, 520, 16, 5)]    // more splits asked than 128-granules fill: 5 → 5 of 128, the last 8
    public void DecodeSplitK_MatchesFloat64Reference_AndRepeats(DType dtype, int m, int inFeatures, int outFeatures, int splits)
    {
        int seed = Inputs.Seed(dtype, m, inFeatures, outFeatures, splits);
        using var x = Random(seed, dtype, 1.0, m, inFeatures);
        using var weight = Random(seed + 1, dtype, 1 / Math.Sqrt(inFeatures), outFeatures, inFeatures);
        using var bias = Random(seed + 2, dtype, 1.0, outFeatures);
        using var residual = Random(seed + 3, dtype, 1.0, m, outFeatures);

        using var y = Ops.Linear(x, weight, bias, residual, null, LinearKernelChoice.Decode, splits);
        using var again = Ops.Linear(x, weight, bias, residual, null, LinearKernelChoice.Decode, splits);

        var tolerance = For(dtype);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, bias, residual),
            tolerance with { Absolute = tolerance.Absolute + inFeatures * 1e-7 });
        again.ToBytes().Should().Equal(y.ToBytes(), "split sums are added in split order whichever block finishes last");
    }

    /// <summary>The swapped decode kernel (Hopper's, M ≤ 64; Linear's one-box tiles) split along K: on the CPU the splits meet
    /// through the workspace, on CUDA in a cluster of 2–5 or 8 blocks (counted: the op falls back silently where clusters
    /// do not fit) or through the workspace (six splits); a K tail in the last split (K = 264: five 64-deep k tiles, the
    /// last 8 deep), an N tile partly past N, M = 16 and M = 3 (x rows past M read as zeros), M = 37 (four slices). A
    /// second call gives the same bits. The cases whose point is a CUDA meeting (clusters of 4 and 8 over several tiles, the
    /// six-split workspace) run there only (<paramref name="onCpu"/> false, ~19 s of the CPU accelerator): the CPU meets
    /// every split count through the workspace, and its batches of four splits' loads are the 5- and 8-split cases.</summary>
    [TestCase(DType.BFloat16, 3, 264, 300, 2, true)]
    [TestCase(DType.Float16, 16, 520, 72, 3, true)]     // on CUDA a cluster of 3
    [TestCase(DType.BFloat16, 37, 200, 40, 2, true)]    // four x slices, the third partial and the fourth empty
    [TestCase(DType.BFloat16, 7, 520, 72, 5, true)]     // five splits (four of two k tiles, then the 8-deep tail): a batch of four splits' loads, then one
    [TestCase(DType.BFloat16, 33, 968, 40, 8, true)]    // eight splits of two k tiles, the last one and an 8-deep tail: two batches of four
    [TestCase(DType.Float16, 20, 1032, 256, 4, false)]  // on CUDA the splits meet in a cluster of 4 (2, 3, 5 and 8 above and below)
    [TestCase(DType.BFloat16, 40, 2048, 264, 8, false)] // eight splits of four k tiles, three N tiles: three clusters of 8 on CUDA
    [TestCase(DType.BFloat16, 9, 1536, 136, 6, false)]  // six splits: the workspace meeting on CUDA too (no cluster of 6)
    public void SwappedDecodeSplitK_MatchesFloat64Reference_AndRepeats(DType dtype, int m, int inFeatures, int outFeatures, int splits, bool onCpu)
    {
        if (!Device.HasWarpgroupMma)
            Assert.Ignore("No wgmma on this device.");
        if (Kind == DeviceKind.Cpu && !onCpu)
            Assert.Ignore("A CUDA meeting's case; the CPU's workspace meeting runs in the smaller cases.");
        // Splits are whole k tiles, as many as the asked count's length needs (K = 1032 asked for 8 runs 6 of 3): the
        // case's label must be what runs.
        DecodeSplit.ForSwapped(1, Ops.Tiles(inFeatures, TritonOps.Kernels.Gemm.SwappedDecodeGemmKernel.BlockK), 132, splits).Splits.Should().Be(splits);
        int seed = Inputs.Seed("swapped", dtype, m, inFeatures, outFeatures, splits);
        using var x = Random(seed, dtype, 1.0, m, inFeatures);
        using var weight = Random(seed + 1, dtype, 1 / Math.Sqrt(inFeatures), outFeatures, inFeatures);
        using var bias = Random(seed + 2, dtype, 1.0, outFeatures);
        using var residual = Random(seed + 3, dtype, 1.0, m, outFeatures);

        long meetings = Interlocked.Read(ref Device.ClusterMeetings);
        using var y = Ops.Linear(x, weight, bias, residual, Tensor.Full([m, outFeatures], float.NaN, dtype, Device), LinearKernelChoice.SwappedDecode, splits);
        using var again = Ops.Linear(x, weight, bias, residual, null, LinearKernelChoice.SwappedDecode, splits);
        (Interlocked.Read(ref Device.ClusterMeetings) - meetings).Should().Be(Device.Kind == DeviceKind.Cuda && splits is not 6 ? 2 : 0,
            "on CUDA these few tiles' clusters all fit, so the splits meet in one (six: no cluster of 6)");

        var tolerance = For(dtype);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(x, weight, bias, residual),
            tolerance with { Absolute = tolerance.Absolute + inFeatures * 1e-7 });
        again.ToBytes().Should().Equal(y.ToBytes(), "split sums are added in split order whichever block finishes last");
    }

    /// <summary><see cref="ResidualRounding.PerOp"/> is PyTorch eager's <c>residual + linear(x)</c>: the op's own product
    /// (+ bias), rounded into the dtype, plus the residual, rounded again; bit for bit on every kernel (the general one,
    /// decode with and without a K split, and the warp-specialized one where the device runs wgmma; the register-staged and
    /// wide kernels end in the same epilogue).</summary>
    [TestCase(DType.BFloat16, "Rows", 1)]
    [TestCase(DType.Float16, "Decode", 1)]
    [TestCase(DType.BFloat16, "Decode", 3)]
    [TestCase(DType.BFloat16, "WarpSpecialized", 0)]
    [TestCase(DType.BFloat16, "SwappedDecode", 2)]
    public void PerOpResidualRounding_IsTheRoundedProductPlusTheResidual_BitForBit(DType dtype, string kernel, int splits)
    {
        var choice = Enum.Parse<LinearKernelChoice>(kernel);
        if (choice is LinearKernelChoice.WarpSpecialized or LinearKernelChoice.SwappedDecode && !Device.HasWarpgroupMma)
            Assert.Ignore("No wgmma on this device.");
        const int inFeatures = 136, outFeatures = 72; // K and N tails
        int m = choice == LinearKernelChoice.SwappedDecode ? 13 : 19; // two 16-row slices where the kernel takes them
        using var x = Random(51, dtype, 1.0, m, inFeatures);
        using var weight = Random(52, dtype, 1 / Math.Sqrt(inFeatures), outFeatures, inFeatures);
        using var bias = Random(53, dtype, 1.0, outFeatures);
        using var residual = Random(54, dtype, 4.0, m, outFeatures);
        using var product = Ops.Linear(x, weight, bias, null, null, choice, splits);
        float[] r = residual.ToFloatArray();
        float[] expected = product.ToFloatArray().Select((v, i) => DTypes.Round(v + r[i], dtype)).ToArray();
        using var y = Ops.Linear(x, weight, bias, residual, null, choice, splits, ResidualRounding.PerOp);
        y.ToFloatArray().Should().Equal(expected, "round(round(x · Wᵀ + b) + residual)");
        using var once = Ops.Linear(x, weight, bias, residual, null, choice, splits);
        once.ToFloatArray().Should().NotEqual(expected, "one rounding differs from two somewhere in a thousand values");
    }

    /// <summary>The warp-specialized kernel on a grid smaller than its tiles: each block walks several, the ring running on
    /// from one tile into the next; every tile's arithmetic is the one-block-a-tile launch's, so the bytes are too.</summary>
    [Test]
    public void WarpSpecialized_OnFewerBlocksThanTiles_GivesTheSameBytes()
    {
        if (!Device.HasWarpgroupMma)
            Assert.Ignore("No wgmma on this device.");
        // CI time: the tile walk is WarpSpecializedMainloop's, which the CPU accelerator runs in FusedGatedMlpTests.
        if (Kind == DeviceKind.Cpu)
            Assert.Ignore("CUDA only: the CPU accelerator walks tiles in the gated MLP's case of the same mainloop (CI time).");
        const int m = 19, inFeatures = 72, outFeatures = 300; // two 256-column tiles (the second a tail), two K steps (a tail)
        using var x = Random(61, DType.BFloat16, 1.0, m, inFeatures);
        using var weight = Random(62, DType.BFloat16, 1 / Math.Sqrt(inFeatures), outFeatures, inFeatures);
        using var residual = Random(63, DType.BFloat16, 1.0, m, outFeatures);
        using var each = Ops.Linear(x, weight, null, residual, null, LinearKernelChoice.WarpSpecialized);
        using var walked = Ops.Linear(x, weight, null, residual, Tensor.Full([m, outFeatures], float.NaN, DType.BFloat16, Device),
            LinearKernelChoice.WarpSpecialized, blocks: 1);
        walked.ToBytes().Should().Equal(each.ToBytes());
        Compare.AllClose(each.ToFloatArray(), Reference.Linear(x, weight, null, residual), For(DType.BFloat16));
    }

    [Test]
    public void UndefinedResidualRounding_ThrowsInvalidArgument()
    {
        using var x = Random(1, DType.BFloat16, 1.0, 2, 8);
        using var w = Random(2, DType.BFloat16, 1.0, 8, 8);
        FluentActions.Invoking(() => Ops.Linear(x, w, rounding: (ResidualRounding)5))
            .Should().Throw<InvalidArgumentException>().WithMessage("*rounding*");
    }

    [Test]
    public void DownProjection_CompletesTheMlp_WithTheResidual()
    {
        const int hidden = 64, intermediate = 96;
        using var x = Random(1, DType.BFloat16, 1.0, 1, 3, hidden);
        using var mlp = new FusedGatedMlp(hidden, intermediate, Activation.Silu, DType.BFloat16, Device, seed: 2);
        using var down = new Linear(intermediate, hidden, bias: false, DType.BFloat16, Device, seed: 3);
        using var h = mlp.Forward(x);
        using var y = down.Forward(h, residual: x);
        Compare.AllClose(y.ToFloatArray(), Reference.Linear(h, down.Weight, null, x), For(DType.BFloat16));

        // The modules pass the rounding options through: PerOp is the ops' PerOp, bit for bit.
        using var hEager = mlp.Forward(x, ActivationRounding.PerOp);
        using var hOp = Ops.FusedGatedMlp(x, mlp.GateWeight, mlp.UpWeight, Activation.Silu, rounding: ActivationRounding.PerOp);
        hEager.ToBytes().Should().Equal(hOp.ToBytes());
        using var yEager = down.Forward(hEager, x, ResidualRounding.PerOp);
        using var yOp = Ops.Linear(hEager, down.Weight, null, x, rounding: ResidualRounding.PerOp);
        yEager.ToBytes().Should().Equal(yOp.ToBytes());
        using var yOnce = down.Forward(hEager, x);
        yOnce.ToBytes().Should().NotEqual(yEager.ToBytes(), "the module did not drop the option: one rounding differs from two somewhere");
    }

    [Test]
    public void Module_InitializesLikeNnLinear_AndIsSeedable()
    {
        using var a = new Linear(50, 7, bias: true, DType.Float32, Device, seed: 9);
        using var b = new Linear(50, 7, bias: true, DType.Float32, Device, seed: 9);
        float[] w = a.Weight.ToFloatArray();
        w.Should().OnlyContain(v => Math.Abs(v) <= 1 / Math.Sqrt(50));
        w.Should().Equal(b.Weight.ToFloatArray());
        a.Bias!.ToFloatArray().Should().OnlyContain(v => Math.Abs(v) <= 1 / Math.Sqrt(50));
    }

    [Test]
    public void Errors_AreTyped_AndComeBeforeAnyAllocation()
    {
        using var x = Random(5, DType.BFloat16, 1, 2, 16);
        using var w = Random(6, DType.BFloat16, 1, 8, 16);
        using var wrongIn = Random(7, DType.BFloat16, 1, 8, 15);
        using var wrongDtype = Random(8, DType.Float16, 1, 8, 16);
        using var bias = Random(9, DType.BFloat16, 1, 9);
        using var residual = Random(10, DType.BFloat16, 1, 2, 9);
        using var strided = Random(11, DType.BFloat16, 1, 16, 2);
        using var view = strided.Transpose(0, 1);
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.Linear(x, wrongIn)).WithMessage("*'weight'*in, from x*16*15*");
        Validation.ThrowsBeforeAllocating<UnsupportedDtypeException>(Device, () => Ops.Linear(x, wrongDtype)).WithMessage("*'weight'*bfloat16*float16*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.Linear(x, w, bias)).WithMessage("*'bias'*[out = 8]*");
        Validation.ThrowsBeforeAllocating<ShapeMismatchException>(Device, () => Ops.Linear(x, w, null, residual)).WithMessage("*'residual'*[2, 8]*");
        Validation.ThrowsBeforeAllocating<NonContiguousTensorException>(Device, () => Ops.Linear(view, w)).WithMessage("*'x'*");
    }
}

/// <summary><see cref="LinearPlan.For"/> without a GPU: the kernel each call gets on a Hopper-class device and elsewhere,
/// its tiles, split and launch shape, and the pinned choices it refuses.</summary>
public class LinearPlanTests
{
    private const int H200DecodeResident = 132 * 4, H200Shared = 227 * 1024, A100Shared = 163 * 1024, Ada4090Shared = 99 * 1024;

    [Test]
    public void Square8192Bf16_OnHopper_TakesTheWarpSpecializedKernel_In128x256Tiles()
    {
        var plan = LinearPlan.For(8192, 8192, 8192, 2, hasWarpgroupMma: true, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0);
        plan.Kernel.Should().Be(LinearKernelChoice.WarpSpecialized);
        (plan.MTiles, plan.NTiles, plan.KTiles).Should().Be((64, 32, 128), "128-row x tiles, 2 × 128-row W tiles, 128-byte K steps of 2-byte elements");
        (plan.GridX, plan.GridY, plan.BlockX).Should().Be((64 * 32, 1, 384), "one block a tile: a producer and two consumer warpgroups");
        plan.WalksTiles.Should().BeFalse("a block a tile: the loop-free kernel");
        LinearPlan.For(8192, 8192, 8192, 2, true, true, true, H200Shared, H200DecodeResident, 0, blocks: 132).Should().Match<LinearPlan>(p => p.GridX == 132 && p.WalksTiles,
            "asked: 132 blocks walk 2048 tiles");
        FluentActions.Invoking(() => LinearPlan.For(8192, 8192, 8192, 2, true, true, true, H200Shared, H200DecodeResident, 0, blocks: 0))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*blocks*");
        plan.Depth.Should().BeInRange(2, 8);
        plan.SharedBytes.Should().Be(Kernels.Gemm.WarpSpecializedGemmKernel.SharedBytes(plan.Depth)).And.BeLessThanOrEqualTo(224 * 1024);
        (plan.Depth == 8 || Kernels.Gemm.WarpSpecializedGemmKernel.SharedBytes(plan.Depth + 1) > 224 * 1024).Should().BeTrue("as many stages as fit, at most 8");
    }

    [Test]
    public void DownProjectionDecode_M16_Swapped_SplitsKOverEverySm()
    {
        // Llama's down projection at M 16 on an H200: 16 tiles of 256 weight rows, 224 k tiles of 64: eight splits of 28
        // tiles (1792 elements), 128 blocks, one an SM.
        var plan = LinearPlan.For(16, 4096, 14336, 2, hasWarpgroupMma: true, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0,
            multiprocessors: 132);
        plan.Kernel.Should().Be(LinearKernelChoice.Decode, "at 16 rows the strip kernel stays (H100: 51.9 against 55.0 µs)");
        plan = LinearPlan.For(16, 4096, 14336, 2, hasWarpgroupMma: true, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0,
            LinearKernelChoice.SwappedDecode, multiprocessors: 132);
        // One 128-row weight box a tile: 32 tiles, four splits of 56 k tiles, 256 threads.
        (plan.MTiles, plan.NTiles, plan.KTiles).Should().Be((1, 32, 224));
        plan.Split.Should().Be(new DecodeSplit(4, 3584));
        (plan.GridX, plan.GridY, plan.BlockX).Should().Be((32, 4, 256));
        plan.SharedBytes.Should().Be(Kernels.Gemm.SwappedDecodeGemmKernel.SharedBytes(plan.Depth, 1, 1)).And.BeLessThanOrEqualTo(224 * 1024);
        const LinearKernelChoice Swapped = LinearKernelChoice.SwappedDecode;
        LinearPlan.For(16, 4096, 8, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132).Split.Should().Be(DecodeSplit.None,
            "one k tile: nothing to split");
        LinearPlan.For(1, 14336, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132).Split.Splits.Should().Be(1,
            "112 one-box tiles for 132 SMs: no split");
        var four = LinearPlan.For(17, 4096, 14336, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132);
        four.SharedBytes.Should().Be(Kernels.Gemm.SwappedDecodeGemmKernel.SharedBytes(four.Depth, 4, 1)).And.BeLessThanOrEqualTo(224 * 1024);
        LinearPlan.For(65, 4096, 14336, 2, true, true, true, H200Shared, H200DecodeResident, 0).Kernel.Should().Be(LinearKernelChoice.WarpSpecialized,
            "past 64 rows: the tiled kernel");
    }

    /// <summary>The swapped kernel's ring depth as the benchmark pins it: the shared bytes follow it, and a depth below two
    /// or past what a block may hold is refused, naming the argument.</summary>
    [Test]
    public void SwappedDecode_PinnedStages_SizeTheRing_AndAreChecked()
    {
        const LinearKernelChoice Swapped = LinearKernelChoice.SwappedDecode;
        var shallow = LinearPlan.For(64, 4096, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, 8, multiprocessors: 132, stages: 4);
        (shallow.Depth, shallow.Split.Splits).Should().Be((4, 8));
        shallow.SharedBytes.Should().Be(Kernels.Gemm.SwappedDecodeGemmKernel.SharedBytes(4, 4, 1)).And.BeLessThan(H200Shared / 2,
            "four stages leave room for a second block an SM");
        LinearPlan.For(64, 4096, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132).Depth
            .Should().Be(Kernels.Gemm.SwappedDecodeGemmKernel.DefaultStages(4, 1), "no pin: the default ring");
        var tooFew = () => LinearPlan.For(64, 4096, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132, stages: 1);
        tooFew.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("stages");
        var tooMany = () => LinearPlan.For(64, 4096, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, Swapped, multiprocessors: 132, stages: 12);
        tooMany.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("stages").And.Contain(H200Shared.ToString());
    }

    [TestCase(64, 4096, 14336, true, "SwappedDecode")] // Llama's down projection at decode M 64
    [TestCase(17, 4096, 4096, true, "SwappedDecode")]  // the shortest K, the fewest columns and rows it takes
    [TestCase(64, 4096, 4088, true, "Decode")]         // K below the bar: the strip kernel
    [TestCase(64, 4088, 14336, true, "Decode")]        // N below the bar: the strip kernel
    [TestCase(64, 1024, 4096, true, "Decode")]         // k/v-sized: the strip kernel
    [TestCase(64, 4096, 4096, true, "SwappedDecode")]  // q/o-sized
    [TestCase(64, 6144, 4096, true, "SwappedDecode")]  // the decoder layer's one q/k/v product (out 6144, in 4096)
    [TestCase(16, 4096, 14336, true, "Decode")]        // one slice of rows: the strip kernel
    [TestCase(64, 4096, 14336, false, "Decode")]       // no wgmma
    [TestCase(65, 4096, 14336, true, "WarpSpecialized")]
    public void Auto_TakesTheSwappedDecodeKernel_OnlyForFourSlicesOfRowsAndALongK(int m, int n, int k, bool hopper, string expected) =>
        LinearPlan.For(m, n, k, 2, hasWarpgroupMma: hopper, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0,
            multiprocessors: 132).Kernel.Should().Be(Enum.Parse<LinearKernelChoice>(expected));

    [Test]
    public void DownProjectionDecode_M16_OffHopper_SplitsKToFillTheChip()
    {
        // Llama's down projection at M 16 without wgmma: 64 tiles of 64 columns for 528 resident blocks: eight splits of 1792.
        var plan = LinearPlan.For(16, 4096, 14336, 2, hasWarpgroupMma: false, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0);
        plan.Kernel.Should().Be(LinearKernelChoice.Decode);
        (plan.MTiles, plan.NTiles).Should().Be((1, 64));
        plan.Split.Should().Be(new DecodeSplit(8, 1792));
        (plan.GridX, plan.GridY, plan.BlockX).Should().Be((64, 8, 256));
        (plan.Split.Length % 128).Should().Be(0, "ranges are whole K granules (2 parts × 64)");
    }

    [TestCase(64, 8, 1)]      // enough tiles already: no split
    [TestCase(16, 512, 1)]    // K too short to split (ranges of at least 512)
    [TestCase(16, 1000, 1)]   // one 512 range
    [TestCase(1, 14336, 28)]  // 1 × 16 tiles for 528 blocks: capped at K / 512
    public void DecodeSplit_IsBoundedByTheChipAndBy512LongRanges(int m, int k, int expectedSplits)
    {
        int n = m == 64 ? 14336 : 1024;
        var plan = LinearPlan.For(m, n, k, 2, hasWarpgroupMma: false, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0);
        plan.Kernel.Should().Be(LinearKernelChoice.Decode);
        plan.Split.Splits.Should().Be(expectedSplits);
        if (expectedSplits > 1)
            ((long)plan.Split.Splits * plan.Split.Length).Should().BeGreaterThanOrEqualTo(k).And.BeLessThan(k + (long)plan.Split.Length);
    }

    [TestCase(4, 100, 256, true, true, true, 227, "Rows", "float32 takes the general kernel")]
    [TestCase(2, 100, 250, true, true, true, 227, "RegisterStaged", "in not a multiple of 8: no tensor maps, no cp.async rows")]
    [TestCase(2, 100, 256, true, true, false, 227, "RegisterStaged", "misaligned operands")]
    [TestCase(2, 100, 256, false, true, true, 163, "Wide", "no wgmma, the 162-KB ring fits a block (A100): the cp.async ring")]
    [TestCase(2, 100, 256, false, true, true, 99, "RegisterStaged", "no wgmma and 99 KB a block (sm_86, sm_89): no room for the ring")]
    [TestCase(2, 100, 256, false, false, true, 64, "Rows", "no sm_80 mma.sync (Volta, Turing): no 16-bit m16n8k16")]
    [TestCase(2, 16, 256, false, false, true, 64, "Rows", "no sm_80 mma.sync: not the decode kernel either")]
    [TestCase(2, 100, 256, true, true, true, 227, "WarpSpecialized", "Hopper, 16-bit, aligned")]
    [TestCase(2, 64, 256, false, true, true, 99, "Decode", "M ≤ 64 decodes on any GPU with mma.sync")]
    [TestCase(2, 16, 256, true, true, true, 227, "Decode", "Hopper, M ≤ 16: the strip kernel (the swapped one takes 17–64 rows with K and N ≥ 4096)")]
    [TestCase(2, 65, 256, true, true, true, 227, "WarpSpecialized", "past 64 rows")]
    [TestCase(2, 100, 0, true, true, true, 227, "Rows", "in = 0: nothing to multiply (the bias and residual alone)")]
    public void Auto_PicksByDtypeDeviceAlignmentAndRows(int elementBytes, int m, int k, bool wgmma, bool mmaSync, bool aligned, int sharedKb,
        string expected, string why) =>
        LinearPlan.For(m, 512, k, elementBytes, wgmma, mmaSync, aligned, sharedKb * 1024, H200DecodeResident, 108).Kernel.ToString().Should().Be(expected, why);

    [Test]
    public void OffHopper_TheWideKernel_OneWaveWalks128x256Tiles_AndTheRegisterStagedOne128x128()
    {
        // A100: 108 SMs, one wide block an SM.
        var wide = LinearPlan.For(8192, 8192, 8192, 2, hasWarpgroupMma: false, hasMmaSync: true, aligned16: true, A100Shared, 0, 108);
        (wide.Kernel, wide.MTiles, wide.NTiles, wide.KTiles, wide.GridX, wide.BlockX).Should().Be((LinearKernelChoice.Wide, 64, 32, 128, 108, 256));
        wide.SharedBytes.Should().Be(LinearPlan.WideSharedBytes).And.BeLessThanOrEqualTo(227 * 1024);
        LinearPlan.For(200, 300, 72, 2, false, true, true, A100Shared, 0, 108).GridX.Should().Be(4, "2 × 2 tiles: no more blocks than tiles");
        var staged = LinearPlan.For(200, 300, 37, 2, hasWarpgroupMma: true, hasMmaSync: true, aligned16: true, H200Shared, 0, 0);
        (staged.Kernel, staged.MTiles, staged.NTiles, staged.KTiles, staged.GridX, staged.BlockX, staged.SharedBytes)
            .Should().Be((LinearKernelChoice.RegisterStaged, 2, 3, 2, 6, 256, 0));
    }

    [Test]
    public void RowsKernel_CoversTheOutputIn16x16Blocks()
    {
        var plan = LinearPlan.For(33, 17, 5, 4, hasWarpgroupMma: true, hasMmaSync: true, aligned16: true, H200Shared, H200DecodeResident, 0);
        (plan.Kernel, plan.GridX, plan.GridY, plan.BlockX, plan.BlockY).Should().Be((LinearKernelChoice.Rows, 2, 3, 16, 16));
    }

    [Test]
    public void PinnedKernelsThatCannotRun_AreRefused()
    {
        FluentActions.Invoking(() => LinearPlan.For(128, 128, 128, 4, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.WarpSpecialized))
            .Should().Throw<InvalidOperationException>();
        FluentActions.Invoking(() => LinearPlan.For(65, 128, 128, 2, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.Decode))
            .Should().Throw<InvalidOperationException>();
        FluentActions.Invoking(() => LinearPlan.For(128, 128, 100, 2, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.Wide))
            .Should().Throw<InvalidOperationException>().WithMessage("*Wide*not 16-byte aligned*");
        FluentActions.Invoking(() => LinearPlan.For(128, 128, 128, 2, false, true, true, Ada4090Shared, 0, 0, LinearKernelChoice.Wide))
            .Should().Throw<InvalidOperationException>().WithMessage("*Wide*101376 shared bytes a block*");
        FluentActions.Invoking(() => LinearPlan.For(128, 128, 128, 4, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.RegisterStaged))
            .Should().Throw<InvalidOperationException>().WithMessage("*float32*");
        LinearPlan.For(16, 128, 128, 2, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.Rows).Kernel.Should().Be(LinearKernelChoice.Rows);
        LinearPlan.For(16, 128, 4096, 2, true, true, true, H200Shared, H200DecodeResident, 0, LinearKernelChoice.Decode, splitK: 3).Split.Splits.Should().Be(3);
    }
}
