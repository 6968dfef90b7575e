using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.FusedRmsNormRope;
using TritonOps.Kernels.QkNormRope;

namespace TritonOps;

/// <summary>The validated sizes of one fused RMSNorm + RoPE call.</summary>
internal readonly record struct RmsNormRopeSizes(int Batch, int Seq, int Hidden, int HeadDim, int NumHeads);

/// <summary>The kernel a fused RMSNorm + RoPE call over many rows takes. Auto: staged (sm_80) when it can
/// take the call, else the row kernel. Pinning Staged for a call it cannot take throws.</summary>
internal enum RmsNormRopeKernelChoice
{
    Auto,
    Row,
    Staged,
}

/// <summary>A pinned kernel and sizes (0: the op's choice): tests reach every kernel, the benchmark sweeps.</summary>
internal readonly record struct RmsNormRopeSchedule(
    RmsNormRopeKernelChoice Kernel = RmsNormRopeKernelChoice.Auto, int BlocksPerSm = 0, int PairsPerThread = 0);

/// <summary>Which kernel a fused RMSNorm + RoPE call takes (<see cref="RmsNormRopePlan"/>).</summary>
internal enum RmsNormRopeKernelKind
{
    /// <summary><see cref="RmsNormRopeStagedKernel"/>: blocks walk the rows in steps, the next steps streaming into shared memory.</summary>
    Staged,
    /// <summary><see cref="RmsNormRopeRowKernel"/>: one row a small block, held in registers.</summary>
    Row,
}

/// <summary>
/// How fused_rmsnorm_rope runs, from validated sizes and the device's limits alone (tests call it without a GPU).
/// </summary>
/// <param name="Kind">The kernel.</param>
/// <param name="Packed">16-byte runs, else one element a run.</param>
/// <param name="PairsPerThread">Rotation pairs a thread (row and staged kernels).</param>
/// <param name="RowsPerStep">Rows a staged step (1 or 2); 0 otherwise.</param>
/// <param name="Stages">Staged ring depth; 0 otherwise.</param>
/// <param name="SharedBytes">Dynamic shared bytes a block (staged); 0 otherwise.</param>
/// <param name="GridX">Blocks.</param>
/// <param name="BlockX">Threads along x.</param>
internal readonly record struct RmsNormRopePlan(RmsNormRopeKernelKind Kind, bool Packed, int PairsPerThread, int RowsPerStep, int Stages, int SharedBytes,
    int GridX, int BlockX)
{
    /// <summary>At most this many staged blocks per SM: with two 16 KB stages each, three keep DRAM as busy as
    /// four and share it among fewer streams (bf16 [8, 2048, 4096] on the H200: 3.31 → 3.61 TB/s).</summary>
    public const int StagedBlocksPerSmCap = 3;

    /// <param name="shape">The kernels' sizes of the call (rows, pairs, half-head runs, heads).</param>
    /// <param name="packed">16-byte runs (half a head whole packs, every tensor aligned).</param>
    /// <param name="sixteenBit">x is float16 or bfloat16.</param>
    /// <param name="float32Table">cos/sin in float32 beside 16-bit x (staged kernel only).</param>
    /// <param name="hasAsyncCopy">The device runs cp.async (sm_80+).</param>
    /// <param name="multiprocessors">SMs.</param>
    /// <param name="maxThreads">A kernel's largest block: (kind, pairs a thread, rows a step) → threads.</param>
    /// <param name="blocksPerMultiprocessor">Occupancy: (kind, pairs a thread, rows a step, threads, dynamic shared bytes) → blocks an SM.</param>
    /// <param name="schedule">A pinned kernel and sizes (tests, benchmark experiments).</param>
    /// <param name="stagedOnly">Only the staged kernel (the positions and float32-table forms, whose other kernels the caller picks).</param>
    /// <returns>Null where the row kernel cannot hold a row (the caller takes <see cref="QkNormRopeKernel"/>'s general
    /// kernel, one row a block walking it), or where only the staged kernel was asked for and it cannot take the call.</returns>
    /// <exception cref="InvalidOperationException">The staged kernel pinned by <paramref name="schedule"/> cannot take the call.</exception>
    public static RmsNormRopePlan? For(in RmsNormRopeShape shape, bool packed, bool sixteenBit, bool float32Table, bool hasAsyncCopy,
        int multiprocessors, Func<RmsNormRopeKernelKind, int, int, int> maxThreads,
        Func<RmsNormRopeKernelKind, int, int, int, int, int> blocksPerMultiprocessor, RmsNormRopeSchedule schedule = default, bool stagedOnly = false)
    {
        var row = RmsNormRopeRowKernel.Plan(shape.Pairs);
        if (stagedOnly)
            return row is { } pairs ? Staged(shape, pairs, packed, sixteenBit, float32Table, hasAsyncCopy, multiprocessors, maxThreads, blocksPerMultiprocessor, schedule) : null;
        // The staged kernel's thread layout is the row kernel's: both need the row kernel to hold a row.
        if (row is { } plan && plan.Threads <= maxThreads(RmsNormRopeKernelKind.Row, plan.PairsPerThread, 0))
        {
            if (schedule.Kernel is RmsNormRopeKernelChoice.Auto or RmsNormRopeKernelChoice.Staged
                && Staged(shape, plan, packed, sixteenBit, float32Table, hasAsyncCopy, multiprocessors, maxThreads, blocksPerMultiprocessor, schedule) is { } staged)
                return staged;
            if (schedule.Kernel != RmsNormRopeKernelChoice.Staged)
                return new RmsNormRopePlan(RmsNormRopeKernelKind.Row, packed, plan.PairsPerThread, 0, 0, 0, shape.Rows, plan.Threads);
        }
        if (schedule.Kernel == RmsNormRopeKernelChoice.Staged)
            throw new InvalidOperationException($"The pinned {schedule.Kernel} kernel cannot take this call.");
        return null;
    }

    /// <summary>
    /// Many rows of 16-bit packed runs (more than twice what the chip holds at once) go to the staged
    /// kernel: blocks walk the rows in steps of one or two, the next steps streaming into shared
    /// memory meanwhile; as many blocks as fit, trimmed so that every block takes the same number of
    /// steps (no tail of half-idle SMs). float32 stays on the row kernel: its rows move twice the bytes
    /// per instruction and stream at 87 % of the copy rate there (3.68 TB/s on the H200, 3.46 staged).
    /// A float32 table beside 16-bit x needs every thread's pairs at one place in their heads (at most
    /// <see cref="RmsNormRopeStagedKernel.SharedRopeMaxPairs"/> pairs, threads a multiple of the half-head).
    /// </summary>
    private static RmsNormRopePlan? Staged(in RmsNormRopeShape shape, (int PairsPerThread, int Threads) plan, bool packed, bool sixteenBit,
        bool float32Table, bool hasAsyncCopy, int multiprocessors, Func<RmsNormRopeKernelKind, int, int, int> maxThreads,
        Func<RmsNormRopeKernelKind, int, int, int, int, int> blocksPerMultiprocessor, RmsNormRopeSchedule schedule)
    {
        if (!packed || !sixteenBit || !hasAsyncCopy)
            return null;
        if (schedule.PairsPerThread > 0)
            plan = (schedule.PairsPerThread, Ops.Tiles(Ops.Tiles(shape.Pairs, schedule.PairsPerThread), 32) * 32);
        int tableRatio = float32Table ? 2 : 1;
        if (float32Table && (plan.PairsPerThread > RmsNormRopeStagedKernel.SharedRopeMaxPairs || plan.Threads % shape.HalfRuns != 0))
            return null;
        int rowsPerStep = RmsNormRopeStagedKernel.RowsPerStep(plan.PairsPerThread), tableRuns = tableRatio * shape.HeadRuns;
        int stages = RmsNormRopeStagedKernel.Stages(plan.PairsPerThread, plan.Threads, tableRuns, rowsPerStep);
        if (stages == 0)
            return null;
        int sharedBytes = stages * RmsNormRopeStagedKernel.StepBytes(plan.PairsPerThread, plan.Threads, tableRuns, rowsPerStep);
        if (plan.Threads > maxThreads(RmsNormRopeKernelKind.Staged, plan.PairsPerThread, rowsPerStep))
            return null;
        int perSm = blocksPerMultiprocessor(RmsNormRopeKernelKind.Staged, plan.PairsPerThread, rowsPerStep, plan.Threads, sharedBytes);
        perSm = Math.Min(perSm, schedule.BlocksPerSm > 0 ? schedule.BlocksPerSm : StagedBlocksPerSmCap);
        int resident = multiprocessors * perSm;
        if (shape.Rows < 2 * resident * rowsPerStep)
            return null;
        int steps = Ops.Tiles(shape.Rows, rowsPerStep);
        int stepsPerBlock = Ops.Tiles(steps, resident), blocks = Ops.Tiles(steps, stepsPerBlock);
        return new RmsNormRopePlan(RmsNormRopeKernelKind.Staged, true, plan.PairsPerThread, rowsPerStep, stages, sharedBytes, blocks, plan.Threads);
    }
}

public static partial class Ops
{

    /// <summary>
    /// RMSNorm followed by rotate-half (NeoX / Hugging Face) RoPE in one kernel launch:
    /// <c>y = x · rsqrt(mean(x²) + eps) · weight</c>, then per head <c>y·cos + rotate_half(y)·sin</c>.
    /// Arithmetic is float32 with one rounding at the store; no intermediate touches device memory.
    /// </summary>
    /// <param name="x"><c>[batch, seq, hidden]</c>, float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[hidden]</c>, x's dtype.</param>
    /// <param name="cos"><c>[seq, head_dim]</c> or <c>[1, seq, 1, head_dim]</c>, x's dtype or float32 (the table OLMo2 and
    /// Llama keep, for 16-bit x: read in float32, no rounding of cos/sin first); head_dim even.</param>
    /// <param name="sin">Same shape and dtype as <paramref name="cos"/>.</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="numHeads">Optional; inferred as hidden / head_dim. If given, numHeads · head_dim must equal hidden.</param>
    /// <param name="output">Optional destination of x's shape and dtype on x's device (saves an
    /// allocation per call); a new tensor is returned when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor of x's shape and dtype on x's device.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">Any shape outside the contract.</exception>
    /// <exception cref="UnsupportedDtypeException">x not float32/float16/bfloat16, weight not x's dtype, cos neither x's
    /// dtype nor float32, or sin not cos's.</exception>
    /// <exception cref="NonContiguousTensorException">A strided input.</exception>
    public static Tensor FusedRmsNormRope(
        Tensor x, Tensor weight, Tensor cos, Tensor sin, double eps = 1e-6, int? numHeads = null, Tensor? output = null) =>
        FusedRmsNormRope(x, weight, cos, sin, eps, numHeads, output, default);

    /// <summary><see cref="FusedRmsNormRope(Tensor, Tensor, Tensor, Tensor, double, int?, Tensor?)"/> with the
    /// many-rows kernel and its sizes pinned (tests, benchmark experiments).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor FusedRmsNormRope(
        Tensor x, Tensor weight, Tensor cos, Tensor sin, double eps, int? numHeads, Tensor? output, RmsNormRopeSchedule schedule)
    {
        var sizes = ValidateRmsNormRope(x, weight, cos, sin, eps, numHeads);
        if (output is not null)
            CheckOutput(output, x, [sizes.Batch, sizes.Seq, sizes.Hidden]);
        if (cos.DType != x.DType) // a float32 table beside 16-bit x: the kernels of the positions form (rows 0…seq−1)
        {
            using var cos2 = cos.Reshape(sizes.Seq, sizes.HeadDim);
            using var sin2 = sin.Reshape(sizes.Seq, sizes.HeadDim);
            return FusedRmsNormRope(x, weight, cos2, sin2, null, sizes.HeadDim, eps, output: output);
        }
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty([sizes.Batch, sizes.Seq, sizes.Hidden], x.DType, x.Device);
        if ((long)sizes.Batch * sizes.Seq * sizes.Hidden == 0)
            return output;

        Type element = ElementTypeOf(x.DType);
        var (shape, packed) = RmsNormRopeShapeOf(sizes, x, weight, cos, sin, output, eps);
        if (PlanRmsNormRope(x.Device, element, element, shape, packed, schedule) is { } plan)
            LaunchRmsNormRope(x.Device, element, element, plan, x, weight, cos, sin, null,
                new StagedPositions { Mode = 0, Bytes = 4, TableRows = sizes.Seq }, output, shape);
        else // rows wider than the row kernel holds (past 8,192 pairs): the general kernel walks them, one row a block
            LaunchQkNormRope(x, null, weight, null, cos, sin, null, output, null,
                new QkNormRopeSizes(sizes.Batch, sizes.Seq, sizes.HeadDim, sizes.HeadDim, sizes.NumHeads, 0, sizes.Seq),
                eps, NormScope.Hidden, RotaryForm.RotateHalf, 0);
        return output;
    }

    /// <summary><see cref="RmsNormRopePlan.For"/> with this device's limits for the kernels of this dtype, table and form.</summary>
    private static RmsNormRopePlan? PlanRmsNormRope(Device device, Type element, Type table, in RmsNormRopeShape shape, bool packed,
        RmsNormRopeSchedule schedule, bool stagedOnly = false)
    {
        System.Reflection.MethodInfo Kernel(RmsNormRopeKernelKind kind, int pairsPerThread, int rowsPerStep) => kind switch
        {
            RmsNormRopeKernelKind.Staged => RmsNormRopeStagedKernel.Variant(element, table, pairsPerThread, rowsPerStep),
            _ => RmsNormRopeRowKernel.Variant(element, packed, pairsPerThread),
        };
        return RmsNormRopePlan.For(shape, packed, element != typeof(Kernels.Elements.Float32Element), table != element, device.HasAsyncCopy,
            device.Multiprocessors, (kind, pairs, rows) => device.MaxGroupSize(Kernel(kind, pairs, rows)),
            (kind, pairs, rows, threads, shared) => device.BlocksPerMultiprocessor(Kernel(kind, pairs, rows), threads, shared), schedule, stagedOnly);
    }

    /// <summary>Launches what <paramref name="plan"/> says.</summary>
    private static void LaunchRmsNormRope(Device device, Type element, Type table, in RmsNormRopePlan plan, Tensor x, Tensor weight,
        Tensor cos, Tensor sin, Tensor? positions, StagedPositions at, Tensor output, in RmsNormRopeShape shape)
    {
        switch (plan.Kind)
        {
            case RmsNormRopeKernelKind.Staged:
                var addresses = new StagedAddresses { X = x.DeviceAddress, Cos = cos.DeviceAddress, Sin = sin.DeviceAddress };
                device.Launch(RmsNormRopeStagedKernel.Variant(element, table, plan.PairsPerThread, plan.RowsPerStep), new KernelConfig(new Index2D(plan.GridX, 1), new Index2D(plan.BlockX, 1), SharedMemoryConfig.RequestDynamic<byte>(plan.SharedBytes)),
                    x.Bytes, weight.Bytes, cos.Bytes, sin.Bytes, (positions ?? x).Bytes, output.Bytes, shape, at, addresses, plan.Stages);
                return;
            default:
                device.Launch(RmsNormRopeRowKernel.Variant(element, plan.Packed, plan.PairsPerThread), new KernelConfig(new Index2D(plan.GridX, 1), new Index2D(plan.BlockX, 1)),
                    x.Bytes, weight.Bytes, cos.Bytes, sin.Bytes, output.Bytes, shape);
                return;
        }
    }

    /// <summary>The kernels' sizes of a call, and whether it takes 16-byte packs: half a head whole packs and every tensor aligned.</summary>
    private static (RmsNormRopeShape Shape, bool Packed) RmsNormRopeShapeOf(RmsNormRopeSizes sizes, Tensor x, Tensor weight, Tensor cos,
        Tensor sin, Tensor output, double eps)
    {
        int packWidth = x.DType == DType.Float32 ? 4 : 8;
        // 16-byte accesses need every run of a half-head to start on a 16-byte boundary, and every tensor to
        // (a view at an element offset may not).
        bool packed = (sizes.HeadDim / 2) % packWidth == 0
            && (x.DeviceAddress | weight.DeviceAddress | cos.DeviceAddress | sin.DeviceAddress | output.DeviceAddress) % 16 == 0;
        int width = packed ? packWidth : 1;
        return (new RmsNormRopeShape
        {
            Rows = checked(sizes.Batch * sizes.Seq),
            Seq = sizes.Seq,
            Heads = sizes.NumHeads,
            HalfRuns = sizes.HeadDim / 2 / width,
            HeadRuns = sizes.HeadDim / width,
            RowRuns = sizes.Hidden / width,
            Pairs = sizes.NumHeads * (sizes.HeadDim / 2 / width),
            InvHidden = 1f / sizes.Hidden,
            Eps = (float)eps,
        }, packed);
    }

    /// <summary>
    /// The row norm with full rotate-half rotary at positions, or with a float32 table (OLMo2's and Llama's form), on the
    /// seed's staged kernel: each staged row reads its own table row. False (nothing launched) where that kernel cannot
    /// take the call; the general norm+RoPE kernels take it then.
    /// </summary>
    internal static bool TryFusedRmsNormRopeStaged(Tensor x, Tensor weight, Tensor cos, Tensor sin, Tensor? positions, int headDim, int tableRows,
        double eps, Tensor output, RmsNormRopeSchedule schedule = default)
    {
        var sizes = new RmsNormRopeSizes(x.Shape[0], x.Shape[1], x.Shape[2], headDim, x.Shape[2] / headDim);
        var (shape, packed) = RmsNormRopeShapeOf(sizes, x, weight, cos, sin, output, eps);
        Type element = ElementTypeOf(x.DType), table = ElementTypeOf(cos.DType);
        if (tableRows == 0 || PlanRmsNormRope(x.Device, element, table, shape, packed, schedule, stagedOnly: true) is not { } plan)
            return false;
        var at = new StagedPositions
        {
            Mode = PositionsMode(positions, x.Shape[0]),
            Bytes = positions is null ? 4 : DTypes.SizeOf(positions.DType),
            TableRows = tableRows,
        };
        LaunchRmsNormRope(x.Device, element, table, plan, x, weight, cos, sin, positions, at, output, shape);
        return true;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static RmsNormRopeSizes ValidateRmsNormRope(Tensor x, Tensor weight, Tensor cos, Tensor sin, double eps, int? numHeads)
    {
        Check.Usable(x, nameof(x));
        Check.Usable(weight, nameof(weight));
        Check.Usable(cos, nameof(cos));
        Check.Usable(sin, nameof(sin));
        Check.SameDevice(weight, nameof(weight), x, nameof(x));
        Check.SameDevice(cos, nameof(cos), x, nameof(x));
        Check.SameDevice(sin, nameof(sin), x, nameof(x));

        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        Check.SameDType(weight, nameof(weight), x, nameof(x));
        if (cos.DType != DType.Float32) // float32 tables beside 16-bit x (OLMo2 and Llama keep them so)
            Check.SameDType(cos, nameof(cos), x, nameof(x));
        Check.SameDType(sin, nameof(sin), cos, nameof(cos));

        Check.Rank(x, nameof(x), 3, "[batch, seq, hidden]");
        int batch = x.Shape[0], seq = x.Shape[1], hidden = x.Shape[2];
        Check.Rank(weight, nameof(weight), 1, "[hidden]");
        Check.Dim(weight, nameof(weight), 0, hidden, "hidden, from x");

        bool cosIs2D = cos.Rank == 2;
        Check.Shape(cosIs2D || (cos.Rank == 4 && cos.Shape[0] == 1 && cos.Shape[2] == 1), nameof(cos),
            $"[seq={seq}, head_dim] or [1, seq={seq}, 1, head_dim]", cos);
        Check.Shape(sin.Shape.SequenceEqual(cos.Shape), nameof(sin), $"the shape of 'cos' {cos.ShapeText}", sin);
        int ropeSeq = cosIs2D ? cos.Shape[0] : cos.Shape[1];
        int headDim = cos.Shape[cos.Rank - 1];
        Check.Shape(ropeSeq == seq, nameof(cos), $"seq = {seq} (from x) in {(cosIs2D ? "dimension 0" : "dimension 1")}", cos);
        Check.Shape(headDim > 0 && headDim % 2 == 0, nameof(cos), "an even head_dim > 0 in the last dimension", cos);
        Check.Shape(hidden % headDim == 0, nameof(x), $"hidden divisible by head_dim = {headDim} (from cos)", x);
        int heads = hidden / headDim;
        if (numHeads is int given)
            Check.Shape(given == heads, nameof(numHeads), $"num_heads · head_dim = hidden, i.e. {heads} for hidden {hidden} and head_dim {headDim}", given.ToString());

        Check.Contiguous(x, nameof(x));
        Check.Contiguous(weight, nameof(weight));
        Check.Contiguous(cos, nameof(cos));
        Check.Contiguous(sin, nameof(sin));
        Check.Eps(eps);
        return new RmsNormRopeSizes(batch, seq, hidden, headDim, heads);
    }
}
