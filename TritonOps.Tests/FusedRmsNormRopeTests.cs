namespace TritonOps.Tests;

/// <summary>fused_rmsnorm_rope / FusedRMSNormRoPE against the float64 reference, on every device.</summary>
public class FusedRmsNormRopeTests(DeviceKind kind) : OnEveryDevice(kind)
{
    private static readonly DType[] FloatTypes = [DType.Float32, DType.Float16, DType.BFloat16];

    /// <summary>(batch, seq, hidden, head_dim, 4-D cos/sin, eps) — each picked for what it exercises.</summary>
    private static readonly (int Batch, int Seq, int Hidden, int HeadDim, bool Rope4D, double Eps, string Why)[] Shapes =
    [
        (2, 5, 96, 32, false, 1e-6, "three heads, packed path"),
        (1, 7, 24, 6, false, 1e-6, "odd seq, hidden not a power of two, half-head of 3: scalar path"),
        (3, 3, 40, 40, true, 1e-5, "one head, [1,seq,1,hd] rope; packed for fp32, scalar for 16-bit"),
        (1, 1, 64, 64, false, 1e-2, "batch 1, one token, large eps"),
        (2, 3, 144, 48, true, 0.0, "eps 0, several heads of 48"),
        (1, 1, 2560, 64, false, 1e-6, "two pairs per thread for 16-bit types (160 pairs), four for float32"),
        (2, 1, 6144, 128, true, 1e-6, "four pairs per thread for 16-bit types (384 pairs), eight for float32"),
        (1, 1, 2106, 6, false, 1e-6, "scalar path, eight pairs per thread in blocks of 160 (1053 pairs)"),
        (1, 1, 16512, 128, false, 1e-6, "eight pairs per thread in blocks over 128 threads"),
    ];

    private static IEnumerable<TestCaseData> Cases() =>
        from dtype in FloatTypes
        from s in Shapes
        select new TestCaseData(dtype, s.Batch, s.Seq, s.Hidden, s.HeadDim, s.Rope4D, s.Eps)
            .SetArgDisplayNames(DTypes.Name(dtype), $"[{s.Batch},{s.Seq},{s.Hidden}]", $"hd{s.HeadDim}", s.Rope4D ? "rope4d" : "rope2d", $"eps{s.Eps}");

    [TestCaseSource(nameof(Cases))]
    public void Forward_MatchesFloat64Reference(DType dtype, int batch, int seq, int hidden, int headDim, bool rope4D, double eps)
    {
        int seed = Inputs.Seed(dtype, batch, seq, hidden, headDim);
        using var x = Tensor.FromArray(Inputs.Normal(batch * seq * hidden, seed, 2.0), [batch, seq, hidden], dtype, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, seed + 1, 0.5, 1.5), [hidden], dtype, Device);
        // Random rotation tables whose two halves differ, so using the wrong half of a row fails.
        int[] ropeShape = rope4D ? [1, seq, 1, headDim] : [seq, headDim];
        using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, seed + 2, -1, 1), ropeShape, dtype, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, seed + 3, -1, 1), ropeShape, dtype, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin, eps);

        output.Shape.Should().Equal(batch, seq, hidden);
        output.DType.Should().Be(dtype);
        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin, eps), Tolerance.OneRoundingInto(dtype));
    }

    /// <summary>float32 cos/sin beside 16-bit x (OLMo2 and Llama keep their tables in float32; #17: "in every form"): read in
    /// float32, one rounding at the store, both table shapes, and the module too; the bytes of the positions form with
    /// positions 0…seq−1.</summary>
    [TestCase(DType.BFloat16, false)]
    [TestCase(DType.Float16, true)]
    public void Float32Tables_BesideSixteenBitX_MatchFloat64Reference(DType dtype, bool rope4D)
    {
        const int batch = 2, seq = 5, hidden = 96, headDim = 32;
        using var x = Tensor.FromArray(Inputs.Normal(batch * seq * hidden, 61, 2.0), [batch, seq, hidden], dtype, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 62, 0.5, 1.5), [hidden], dtype, Device);
        int[] ropeShape = rope4D ? [1, seq, 1, headDim] : [seq, headDim];
        using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, 63, -1, 1), ropeShape, DType.Float32, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, 64, -1, 1), ropeShape, DType.Float32, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin);

        output.DType.Should().Be(dtype);
        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(dtype));
        using var cos2 = cos.Reshape(seq, headDim); using var sin2 = sin.Reshape(seq, headDim);
        using var positionsForm = Ops.FusedRmsNormRope(x, weight, cos2, sin2, null, headDim);
        output.ToBytes().Should().Equal(positionsForm.ToBytes());
        using var module = new FusedRmsNormRope(hidden, headDim, 1e-6, dtype, Device);
        module.Weight.CopyFrom(weight);
        using var viaModule = module.Forward(x, cos, sin);
        viaModule.ToBytes().Should().Equal(output.ToBytes());
    }

    [Test]
    public void Forward_RowsTooWideToHold_TheGeneralKernelWalksEachRow()
    {
        // 8196 scalar pairs (hd 6: three one-element runs per half-head) exceed what the row kernel
        // holds (1024 threads × 8): the general q/k kernel takes the rows, one a block.
        const int hidden = 16392, headDim = 6, rows = 5;
        Kernels.FusedRmsNormRope.RmsNormRopeRowKernel.Plan(hidden / 2).Should().BeNull("the row kernel does not take this row");
        using var x = Tensor.FromArray(Inputs.Normal(rows * hidden, 51), [1, rows, hidden], DType.BFloat16, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 52, 0.5, 1.5), [hidden], DType.BFloat16, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(rows * headDim, 53, -1, 1), [rows, headDim], DType.BFloat16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(rows * headDim, 54, -1, 1), [rows, headDim], DType.BFloat16, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin);

        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(DType.BFloat16));
    }

    /// <summary>(dtype, hidden, head_dim, seq; 0: one sequence): one and two pairs per thread (two rows a step),
    /// four (one row a step); a half-head of 3 runs, which 64 threads do not divide (each pair reads its own
    /// rope runs; padding threads too), there in one long sequence (positions that do not wrap every step).</summary>
    private static readonly object[] StagedCases =
    [
        new object[] { DType.BFloat16, 96, 32, 7 },
        new object[] { DType.Float16, 2560, 64, 7 },
        new object[] { DType.BFloat16, 8192, 128, 7 },
        new object[] { DType.BFloat16, 960, 48, 0 },
    ];

    [TestCaseSource(nameof(StagedCases))]
    public void Forward_ManyRows_StagedKernelWalksSeveralRowsPerBlock(DType dtype, int hidden, int headDim, int seq)
    {
        // stages + 2 steps (of one or two rows) per resident block and then some, so each block of the staged
        // kernel refills every stage, the blocks end unevenly and the last step of two rows has one.
        var element = dtype == DType.Float32 ? typeof(Kernels.Elements.Float32Element)
            : dtype == DType.Float16 ? typeof(Kernels.Elements.Float16Element) : typeof(Kernels.Elements.BFloat16Element);
        int width = dtype == DType.Float32 ? 4 : 8;
        var plan = Kernels.FusedRmsNormRope.RmsNormRopeRowKernel.Plan(hidden / 2 / width)!.Value;
        int rowsPerStep = Kernels.FusedRmsNormRope.RmsNormRopeStagedKernel.RowsPerStep(plan.PairsPerThread);
        int stages = Kernels.FusedRmsNormRope.RmsNormRopeStagedKernel.Stages(plan.PairsPerThread, plan.Threads, headDim / width, rowsPerStep);
        stages.Should().BeGreaterThan(1);
        var kernel = Kernels.FusedRmsNormRope.RmsNormRopeStagedKernel.Variant(element, element, plan.PairsPerThread, rowsPerStep);
        // stages + 2 steps: every stage is refilled at least once (more only costs CI time).
        int rows = Device.Multiprocessors * Device.BlocksPerMultiprocessor(kernel, plan.Threads) * rowsPerStep * (stages + 2) + 3;
        if (seq == 0)
            seq = rows;
        int batch = (rows + seq - 1) / seq;
        rows = batch * seq;
        using var x = Tensor.FromArray(Inputs.Normal(rows * hidden, 61, 2.0), [batch, seq, hidden], dtype, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 62, 0.5, 1.5), [hidden], dtype, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, 63, -1, 1), [seq, headDim], dtype, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, 64, -1, 1), [seq, headDim], dtype, Device);

        var schedule = new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Staged);
        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin, 1e-6, null, null, schedule);
        using var again = Ops.FusedRmsNormRope(x, weight, cos, sin, 1e-6, null, null, schedule);

        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(dtype));
        again.ToBytes().Should().Equal(output.ToBytes(), "the reduction's order is fixed, so the bits are too");
    }

    /// <summary>A weight and an output that start 2 bytes past a 16-byte boundary (views at an element offset): no
    /// kernel may read or write them in 16-byte packs, in the seed's form and at positions with a float32 table alike.</summary>
    [Test]
    public void Forward_WeightAndOutputOffTheSixteenByteGrid_MatchReference()
    {
        const int batch = 2, seq = 5, hidden = 256, headDim = 64, tableRows = 12;
        using var x = Tensor.FromArray(Inputs.Normal(batch * seq * hidden, 71), [batch, seq, hidden], DType.BFloat16, Device);
        using var weightBuffer = Tensor.FromArray(Inputs.Uniform(hidden + 1, 72, 0.5, 1.5), [hidden + 1], DType.BFloat16, Device);
        using var weight = weightBuffer.Narrow(0, 1, hidden);
        using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, 73, -1, 1), [seq, headDim], DType.BFloat16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, 74, -1, 1), [seq, headDim], DType.BFloat16, Device);
        using var outputBuffer = Tensor.Empty([batch * seq * hidden + 1], DType.BFloat16, Device);
        using var flat = outputBuffer.Narrow(0, 1, batch * seq * hidden);
        using var output = flat.Reshape(batch, seq, hidden);
        (weight.DeviceAddress % 16).Should().NotBe(0);
        (output.DeviceAddress % 16).Should().NotBe(0);

        Ops.FusedRmsNormRope(x, weight, cos, sin, 1e-6, null, output).Should().BeSameAs(output);
        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(DType.BFloat16), "seed form");

        float[] angles = Inputs.Uniform(tableRows * headDim, 75, -3.2, 3.2);
        using var cos32 = Tensor.FromArray(angles.Select(MathF.Cos).ToArray(), [tableRows, headDim], DType.Float32, Device);
        using var sin32 = Tensor.FromArray(angles.Select(MathF.Sin).ToArray(), [tableRows, headDim], DType.Float32, Device);
        using var positions = Tensor.FromArray(Enumerable.Range(0, batch * seq).Select(i => (long)(i * 7 % tableRows)).ToArray(), [batch, seq], Device);
        Ops.FusedRmsNormRope(x, weight, cos32, sin32, positions, headDim, output: output);
        Compare.AllClose(output.ToFloatArray(), Reference.QkNormRope(x, weight, cos32, sin32, positions, headDim, 1e-6, NormScope.Hidden),
            Tolerance.OneRoundingInto(DType.BFloat16), "positions, float32 table");
    }

    [Test]
    public void Forward_HuggingFaceRopeTable_MatchesReference()
    {
        const int seq = 9, headDim = 64, hidden = 256;
        using var x = Tensor.FromArray(Inputs.Normal(seq * hidden, 11), [1, seq, hidden], DType.BFloat16, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 12, 0.5, 1.5), [hidden], DType.BFloat16, Device);
        var (cosValues, sinValues) = RopeTable(seq, headDim, theta: 10000);
        using var cos = Tensor.FromArray(cosValues, [1, seq, 1, headDim], DType.BFloat16, Device);
        using var sin = Tensor.FromArray(sinValues, [1, seq, 1, headDim], DType.BFloat16, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin, numHeads: hidden / headDim);

        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(DType.BFloat16));
    }

    [Test]
    public void Forward_LargeMagnitudeFloat16Row_DoesNotOverflowTheSumOfSquares()
    {
        const int hidden = 512, headDim = 128;
        // |x| up to 60000: x² overflows float16 (max 65504) but the float32 sum does not.
        float[] values = Inputs.Uniform(2 * hidden, 5, -60000, 60000);
        using var x = Tensor.FromArray(values, [2, 1, hidden], DType.Float16, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 6, 0.5, 1.5), [hidden], DType.Float16, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(headDim, 7, -1, 1), [1, headDim], DType.Float16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(headDim, 8, -1, 1), [1, headDim], DType.Float16, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin);

        float[] actual = actualFinite(output);
        Compare.AllClose(actual, Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(DType.Float16));

        static float[] actualFinite(Tensor t)
        {
            float[] a = t.ToFloatArray();
            a.Should().OnlyContain(v => float.IsFinite(v));
            return a;
        }
    }

    [TestCase(DType.Float32)]
    [TestCase(DType.BFloat16)]
    public void Forward_AllZeroRow_GivesFiniteZeros_AndLeavesOtherRowsRight(DType dtype)
    {
        const int hidden = 64, headDim = 16;
        float[] values = Inputs.Normal(3 * hidden, 9);
        Array.Clear(values, hidden, hidden); // row 1 is all zeros
        using var x = Tensor.FromArray(values, [3, 1, hidden], dtype, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(hidden, 10, 0.5, 1.5), [hidden], dtype, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(headDim, 11, -1, 1), [1, headDim], dtype, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(headDim, 12, -1, 1), [1, headDim], dtype, Device);

        float[] actual = Ops.FusedRmsNormRope(x, weight, cos, sin).ToFloatArray();

        actual.Skip(hidden).Take(hidden).Should().OnlyContain(v => v == 0f);
        Compare.AllClose(actual, Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(dtype));
    }

    [Test]
    public void Forward_TwoRuns_AreBitIdentical()
    {
        using var x = Tensor.FromArray(Inputs.Normal(4 * 384, 21), [2, 2, 384], DType.BFloat16, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(384, 22, 0.5, 1.5), [384], DType.BFloat16, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(2 * 128, 23, -1, 1), [2, 128], DType.BFloat16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(2 * 128, 24, -1, 1), [2, 128], DType.BFloat16, Device);

        using var first = Ops.FusedRmsNormRope(x, weight, cos, sin);
        using var second = Ops.FusedRmsNormRope(x, weight, cos, sin);

        second.ToBytes().Should().Equal(first.ToBytes());
    }

    [Test]
    public void Forward_IntoProvidedOutput_WritesEveryElementAndReturnsIt()
    {
        using var x = Tensor.FromArray(Inputs.Normal(3 * 160, 41), [1, 3, 160], DType.Float16, Device);
        using var weight = Tensor.FromArray(Inputs.Uniform(160, 42, 0.5, 1.5), [160], DType.Float16, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(3 * 32, 43, -1, 1), [3, 32], DType.Float16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(3 * 32, 44, -1, 1), [3, 32], DType.Float16, Device);
        using var output = Tensor.Empty([1, 3, 160], DType.Float16, Device); // poisoned: NaN until written

        Ops.FusedRmsNormRope(x, weight, cos, sin, output: output).Should().BeSameAs(output);

        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, weight, cos, sin), Tolerance.OneRoundingInto(DType.Float16));
    }

    [Test]
    public void Forward_EmptyBatch_ReturnsEmptyTensorOfTheSameShape()
    {
        using var x = Tensor.Empty([0, 3, 32], DType.Float32, Device);
        using var weight = Tensor.Full([32], 1f, DType.Float32, Device);
        using var cos = Tensor.Full([3, 16], 1f, DType.Float32, Device);
        using var sin = Tensor.Full([3, 16], 0f, DType.Float32, Device);

        using var output = Ops.FusedRmsNormRope(x, weight, cos, sin);

        output.Shape.Should().Equal(0, 3, 32);
    }

    [Test]
    public void Module_OwnsOnesWeight_LoadsWeights_AndForwardsLikeTheOp()
    {
        const int hidden = 96, headDim = 32, seq = 3;
        using var module = new FusedRmsNormRope(hidden, headDim, eps: 1e-5, DType.Float16, Device);
        module.NumHeads.Should().Be(3);
        module.Weight.ToFloatArray().Should().OnlyContain(v => v == 1f);

        float[] weights = Inputs.Uniform(hidden, 31, 0.5, 1.5);
        module.LoadWeight(weights);
        using var x = Tensor.FromArray(Inputs.Normal(2 * seq * hidden, 32), [2, seq, hidden], DType.Float16, Device);
        using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, 33, -1, 1), [seq, headDim], DType.Float16, Device);
        using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, 34, -1, 1), [seq, headDim], DType.Float16, Device);

        using var output = module.Forward(x, cos, sin);

        module.Weight.ToFloatArray().Should().Equal(weights.Select(w => DTypes.Round(w, DType.Float16)));
        Compare.AllClose(output.ToFloatArray(), Reference.FusedRmsNormRope(x, module.Weight, cos, sin, 1e-5), Tolerance.OneRoundingInto(DType.Float16));
    }

    /// <summary>Hugging Face's rotary table: cat(freqs, freqs) for positions 0..seq-1.</summary>
    internal static (float[] Cos, float[] Sin) RopeTable(int seq, int headDim, double theta)
    {
        float[] cos = new float[seq * headDim], sin = new float[seq * headDim];
        for (int p = 0; p < seq; p++)
            for (int d = 0; d < headDim; d++)
            {
                double angle = p * Math.Pow(theta, -2.0 * (d % (headDim / 2)) / headDim);
                cos[p * headDim + d] = (float)Math.Cos(angle);
                sin[p * headDim + d] = (float)Math.Sin(angle);
            }
        return (cos, sin);
    }
}

/// <summary><see cref="RmsNormRopePlan.For"/> without a GPU: which kernel each call takes and how it is launched.</summary>
public class RmsNormRopePlanTests
{
    /// <summary>x [rows, heads · headDim] in 16-byte runs (8 a pack for 16-bit x, 4 for float32).</summary>
    private static Kernels.FusedRmsNormRope.RmsNormRopeShape Shape(int rows, int heads, int headDim, int packWidth = 8) => new()
    {
        Rows = rows, Seq = rows, Heads = heads, HalfRuns = headDim / 2 / packWidth, HeadRuns = headDim / packWidth,
        RowRuns = heads * headDim / packWidth, Pairs = heads * (headDim / 2 / packWidth), InvHidden = 1f / (heads * headDim), Eps = 1e-6f,
    };

    private static RmsNormRopePlan? Plan(Kernels.FusedRmsNormRope.RmsNormRopeShape shape, bool packed = true, bool sixteenBit = true,
        bool float32Table = false, bool asyncCopy = true, int occupancy = 6, int maxThreads = 1024, RmsNormRopeSchedule schedule = default,
        bool stagedOnly = false) =>
        RmsNormRopePlan.For(shape, packed, sixteenBit, float32Table, asyncCopy, 132, (_, _, _) => maxThreads, (_, _, _, _, _) => occupancy,
            schedule, stagedOnly);

    [Test]
    public void ManyRows_Of16BitPacks_TakeTheStagedKernel_EveryBlockTheSameSteps()
    {
        // bf16 [8, 2048, 4096], head_dim 128: 256 pairs, two a thread in 128 threads; two rows a step of 17 KB, two stages.
        var plan = Plan(Shape(16384, 32, 128))!.Value;
        plan.Should().Be(new RmsNormRopePlan(RmsNormRopeKernelKind.Staged, true, 2, 2, 2, 2 * 17408, 391, 128));
        int steps = 16384 / 2, perBlock = (steps + 395) / 396;
        (plan.GridX * perBlock >= steps && (plan.GridX - 1) * perBlock < steps).Should().BeTrue("3 blocks an SM (the cap) share 8192 steps, 21 each");
        Plan(Shape(16384, 32, 128), schedule: new RmsNormRopeSchedule(BlocksPerSm: 2))!.Value.GridX.Should().Be(256, "264 resident blocks: 32 steps each, so 256 blocks take all 8192");
    }

    [Test]
    public void Float32_FewRows_NoAsyncCopy_OrUnpackedRuns_TakeTheRowKernel()
    {
        var row = new RmsNormRopePlan(RmsNormRopeKernelKind.Row, true, 2, 0, 0, 0, 16384, 128);
        Plan(Shape(16384, 32, 128), sixteenBit: false).Should().Be(row, "float32 streams at 87 % of a copy on the row kernel");
        Plan(Shape(16384, 32, 128), asyncCopy: false).Should().Be(row);
        Plan(Shape(16384, 32, 128), packed: false).Should().Be(row with { Packed = false });
        Plan(Shape(1583, 32, 128)).Should().Be(row with { GridX = 1583 }, "fewer than two rows a step for every resident block");
        Plan(Shape(1584, 32, 128))!.Value.Kind.Should().Be(RmsNormRopeKernelKind.Staged);
        Plan(Shape(16384, 32, 128), schedule: new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Row)).Should().Be(row, "pinned");
    }

    [Test]
    public void RowsTooWideToHold_HaveNoPlan_TheOpTakesTheGeneralKernel()
    {
        // 9000 pairs: more than 1024 threads of 8.
        var shape = Shape(5000, 3000, 6, packWidth: 1) with { Pairs = 9000 };
        Plan(shape, packed: false, occupancy: 2).Should().BeNull();
        Plan(Shape(16384, 32, 128), maxThreads: 64).Should().BeNull("a row kernel that cannot have 128 threads here");
        FluentActions.Invoking(() => Plan(shape, packed: false, schedule: new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Staged)))
            .Should().Throw<InvalidOperationException>();
    }

    [Test]
    public void PinnedStaged_ThatCannotTakeTheCall_Throws_AndTheStagedOnlyFormSaysNo()
    {
        FluentActions.Invoking(() => Plan(Shape(100, 32, 128), schedule: new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Staged)))
            .Should().Throw<InvalidOperationException>();
        Plan(Shape(100, 32, 128), stagedOnly: true).Should().BeNull();
        // A float32 table (OLMo2, Llama) beside bf16 x: twice the table runs a stage.
        Plan(Shape(16384, 32, 128), float32Table: true, stagedOnly: true)!.Value.SharedBytes.Should().Be(2 * 18432);
        Plan(Shape(16384, 64, 128), float32Table: true, stagedOnly: true).Should().BeNull("four pairs a thread: more than the shared-rope form takes");
        Plan(Shape(16384, 32, 128), schedule: new RmsNormRopeSchedule(RmsNormRopeKernelChoice.Row), stagedOnly: true)!.Value.Kind
            .Should().Be(RmsNormRopeKernelKind.Staged, "the staged-only form is the positions path's, which pins nothing else");
    }
}
