using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.RmsNormRope;

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

public static partial class Ops
{
    private delegate void RmsNormRopeLauncher(
        AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape);

    private delegate void RmsNormRopeStagedLauncher(
        AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> cos, ArrayView<byte> sin,
        ArrayView<byte> output, RmsNormRopeShape shape, StagedAddresses addresses, int stages);

    /// <summary>
    /// RMSNorm followed by rotate-half (NeoX / Hugging Face) RoPE in one kernel launch:
    /// <c>y = x · rsqrt(mean(x²) + eps) · weight</c>, then per head <c>y·cos + rotate_half(y)·sin</c>.
    /// Arithmetic is float32 with one rounding at the store; no intermediate touches device memory.
    /// </summary>
    /// <param name="x"><c>[batch, seq, hidden]</c>, float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[hidden]</c>, x's dtype.</param>
    /// <param name="cos"><c>[seq, head_dim]</c> or <c>[1, seq, 1, head_dim]</c>, x's dtype; head_dim even.</param>
    /// <param name="sin">Same shape and dtype as <paramref name="cos"/>.</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="numHeads">Optional; inferred as hidden / head_dim. If given, numHeads · head_dim must equal hidden.</param>
    /// <param name="output">Optional destination of x's shape and dtype on x's device (saves an
    /// allocation per call); a new tensor is returned when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor of x's shape and dtype on x's device.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">Any shape outside the contract.</exception>
    /// <exception cref="UnsupportedDtypeException">x not float32/float16/bfloat16, or dtypes differ.</exception>
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
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty([sizes.Batch, sizes.Seq, sizes.Hidden], x.DType, x.Device);
        if ((long)sizes.Batch * sizes.Seq * sizes.Hidden == 0)
            return output;

        Type element = ElementTypeOf(x.DType);
        int packWidth = x.DType == DType.Float32 ? 4 : 8;
        // 16-byte accesses need every run of a half-head to start on a 16-byte boundary.
        bool packed = (sizes.HeadDim / 2) % packWidth == 0;
        int width = packed ? packWidth : 1;
        int rows = checked(sizes.Batch * sizes.Seq);
        var shape = new RmsNormRopeShape
        {
            Rows = rows,
            Seq = sizes.Seq,
            Heads = sizes.NumHeads,
            HalfRuns = sizes.HeadDim / 2 / width,
            HeadRuns = sizes.HeadDim / width,
            RowRuns = sizes.Hidden / width,
            Pairs = sizes.NumHeads * (sizes.HeadDim / 2 / width),
            InvHidden = 1f / sizes.Hidden,
            Eps = (float)eps,
        };
        var device = x.Device;
        var stream = device.Accelerator.DefaultStream;
        if (RmsNormRopeRowKernel.Plan(shape.Pairs) is { } plan
            && RmsNormRopeRowKernel.Variant(element, packed, plan.PairsPerThread) is var rowKernel
            && plan.Threads <= device.MaxGroupSize(rowKernel))
        {
            if (schedule.Kernel is RmsNormRopeKernelChoice.Auto or RmsNormRopeKernelChoice.Staged
                && TryLaunchStaged(device, element, packed, plan, x, weight, cos, sin, output, shape, schedule))
                return output;
            if (schedule.Kernel == RmsNormRopeKernelChoice.Staged)
                throw new InvalidOperationException($"The pinned {schedule.Kernel} kernel cannot take this call.");
            // One row per small block, held in registers: many rows in flight per SM.
            device.Launcher<RmsNormRopeLauncher>(rowKernel)(stream,
                new KernelConfig(new Index2D(rows, 1), new Index2D(plan.Threads, 1)),
                x.Bytes, weight.Bytes, cos.Bytes, sin.Bytes, output.Bytes, shape);
            return output;
        }
        // Rows too wide to hold: the persistent kernel, as many blocks as fit on the chip, each walking rows.
        var kernel = RmsNormRopeKernel.Variant(element, packed);
        var (blockX, blockY) = RmsNormRopeKernel.BlockShape(shape.HalfRuns, shape.Heads, device.MaxGroupSize(kernel));
        int blocks = Math.Min(rows, device.Multiprocessors * device.BlocksPerMultiprocessor(kernel, blockX * blockY));
        device.Launcher<RmsNormRopeLauncher>(kernel)(stream,
            new KernelConfig(new Index2D(blocks, 1), new Index2D(blockX, blockY)),
            x.Bytes, weight.Bytes, cos.Bytes, sin.Bytes, output.Bytes, shape);
        return output;
    }

    /// <summary>At most this many staged blocks per SM: with two 16 KB stages each, three keep DRAM as busy as
    /// four and share it among fewer streams (bf16 [8, 2048, 4096] on the H200: 3.31 → 3.61 TB/s).</summary>
    private const int StagedBlocksPerSmCap = 3;

    /// <summary>
    /// Many rows of 16-bit packed runs (more than twice what the chip holds at once) go to the staged
    /// kernel: blocks walk the rows in steps of one or two, the next steps streaming into shared
    /// memory meanwhile; as many blocks as fit, trimmed so that every block takes the same number of
    /// steps (no tail of half-idle SMs). float32 stays on the row kernel: its rows move twice the bytes
    /// per instruction and stream at 87 % of the copy rate there (3.68 TB/s on the H200, 3.46 staged).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static bool TryLaunchStaged(Device device, Type element, bool packed, (int PairsPerThread, int Threads) plan,
        Tensor x, Tensor weight, Tensor cos, Tensor sin, Tensor output, in RmsNormRopeShape shape, RmsNormRopeSchedule schedule)
    {
        if (!packed || x.DType == DType.Float32 || !device.HasAsyncCopy)
            return false;
        if (schedule.PairsPerThread > 0)
            plan = (schedule.PairsPerThread, ((shape.Pairs + schedule.PairsPerThread - 1) / schedule.PairsPerThread + 31) / 32 * 32);
        var addresses = new StagedAddresses { X = x.DeviceAddress, Cos = cos.DeviceAddress, Sin = sin.DeviceAddress };
        int rowsPerStep = RmsNormRopeStagedKernel.RowsPerStep(plan.PairsPerThread);
        int stages = RmsNormRopeStagedKernel.Stages(plan.PairsPerThread, plan.Threads, shape.HeadRuns, rowsPerStep);
        if (stages == 0 || (addresses.X | addresses.Cos | addresses.Sin) % 16 != 0)
            return false;
        int sharedBytes = stages * RmsNormRopeStagedKernel.StepBytes(plan.PairsPerThread, plan.Threads, shape.HeadRuns, rowsPerStep);
        var kernel = RmsNormRopeStagedKernel.Variant(element, plan.PairsPerThread, rowsPerStep);
        if (plan.Threads > device.MaxGroupSize(kernel))
            return false;
        int perSm = device.BlocksPerMultiprocessor(kernel, plan.Threads, sharedBytes);
        perSm = Math.Min(perSm, schedule.BlocksPerSm > 0 ? schedule.BlocksPerSm : StagedBlocksPerSmCap);
        int resident = device.Multiprocessors * perSm;
        if (shape.Rows < 2 * resident * rowsPerStep)
            return false;
        int steps = (shape.Rows + rowsPerStep - 1) / rowsPerStep;
        int stepsPerBlock = (steps + resident - 1) / resident, blocks = (steps + stepsPerBlock - 1) / stepsPerBlock;
        device.Launcher<RmsNormRopeStagedLauncher>(kernel)(device.Accelerator.DefaultStream,
            new KernelConfig(new Index2D(blocks, 1), new Index2D(plan.Threads, 1), SharedMemoryConfig.RequestDynamic<byte>(sharedBytes)),
            x.Bytes, weight.Bytes, cos.Bytes, sin.Bytes, output.Bytes, shape, addresses, stages);
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
        Check.SameDType(cos, nameof(cos), x, nameof(x));
        Check.SameDType(sin, nameof(sin), x, nameof(x));

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
