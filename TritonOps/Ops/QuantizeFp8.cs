using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.QuantizeFp8;
using TritonOps.Kernels.Fp8Gemm;
using TritonOps.Kernels.Numerics;

namespace TritonOps;

/// <summary>How many scales a quantized tensor carries.</summary>
public enum ScaleGranularity
{
    /// <summary>One scale, shape [1].</summary>
    PerTensor,
    /// <summary>One per row of a [M, K] tensor (per token), shape [M, 1].</summary>
    PerRow,
    /// <summary>One per column of a [K, N] tensor (per output channel of a weight), shape [1, N].</summary>
    PerColumn,
    /// <summary>One per row and group of G consecutive columns of a [M, K] tensor (per token and group, 1 × G, G =
    /// groupSize, 128 by default: DeepSeek-V3's activations, vLLM's <c>per_token_group_quant_fp8</c>), shape
    /// [M, ceil(K / G)]; the last group of a row holds what is left of it.</summary>
    PerTokenGroup,
    /// <summary>One per G × G block of a [rows, cols] tensor (G = groupSize, 128 by default: DeepSeek-V3's weights,
    /// their <c>weight_scale_inv</c>), shape [ceil(rows / G), ceil(cols / G)]; edge blocks hold what is left.</summary>
    Block,
}

/// <summary>The per-tensor quantize kernels with a computed scale: the op's choice, or one pinned (a pinned
/// kernel that cannot take the call throws).</summary>
internal enum QuantizeSchedule
{
    Auto,
    TwoPass,
    Fused,
}

/// <summary>The quantize kernels <see cref="QuantizePlan"/> chooses from.</summary>
internal enum QuantizeKernelKind
{
    /// <summary><see cref="Fp8QuantizeKernels.Quantize{TElement, TFormat}"/> with the scales given (any granularity).</summary>
    GivenScales,
    /// <summary><see cref="Fp8GroupQuantizeKernels.QuantizeGroups{TElement, TFormat}"/>: 16-byte runs, a group's lanes adjacent in a warp.</summary>
    Groups,
    /// <summary><see cref="Fp8GroupQuantizeKernels.QuantizeGroupsScalar{TElement, TFormat}"/>: one thread a group, any shape.</summary>
    GroupsScalar,
    /// <summary><see cref="Fp8GroupQuantizeKernels.QuantizeBlocks{TElement, TFormat}"/>: one thread block a G × G block.</summary>
    Blocks,
    /// <summary><see cref="Fp8QuantizeKernels.QuantizeRows{TElement, TFormat}"/>: one thread block a row.</summary>
    Rows,
    /// <summary><see cref="Fp8QuantizeKernels.ColumnScales{TElement, TFormat}"/>, then the given-scales kernel.</summary>
    Columns,
    /// <summary>Per tensor: <see cref="Fp8QuantizeFusedKernel"/> where it fits (one launch), else the amax and the
    /// quantize passes; decided at launch (<c>Ops.TryQuantizeFused</c>).</summary>
    PerTensor,
}

/// <summary>
/// Which quantize kernel takes a call and its launch, from validated sizes alone (QuantizeFp8Tests call it without a
/// GPU). Per token and group: the vectorized kernel when rows are whole 16-byte runs of 8 elements, x is 16-byte
/// aligned and G / 8 is a power of two of at most 32 lanes; otherwise one thread a group.
/// </summary>
/// <param name="Kernel">The kernel.</param>
/// <param name="GridX">Blocks along x (groups kernel: rows).</param>
/// <param name="GridY">Blocks along y (groups kernel: chunks of <see cref="Fp8GroupQuantizeKernels.BlockRuns"/> runs of a row).</param>
/// <param name="Threads">Threads a block.</param>
/// <param name="GroupLanes">Groups kernel: lanes a group (G / 8).</param>
/// <param name="QuantizeBlocks">Blocks of the given-scales kernel where it runs (given scales, columns, two passes).</param>
internal readonly record struct QuantizePlan(QuantizeKernelKind Kernel, int GridX, int GridY, int Threads, int GroupLanes, int QuantizeBlocks)
{
    /// <param name="count">Elements of x, ≥ 1.</param>
    /// <param name="rows">Rows of a rank-2 x (1 otherwise).</param>
    /// <param name="cols">Columns of a rank-2 x (1 otherwise).</param>
    /// <param name="elementBytes">4 or 2.</param>
    /// <param name="granularity">The scales' granularity.</param>
    /// <param name="scaleGiven">The caller passed the scales.</param>
    /// <param name="groupSize">G of per-token-group and block scales.</param>
    /// <param name="aligned16">x starts on 16 bytes.</param>
    public static QuantizePlan For(long count, int rows, int cols, int elementBytes, ScaleGranularity granularity, bool scaleGiven,
        int groupSize, bool aligned16)
    {
        int quantizeBlocks = checked((int)((count + Fp8QuantizeKernels.QuantizeBlockElements - 1) / Fp8QuantizeKernels.QuantizeBlockElements));
        if (scaleGiven)
            return new QuantizePlan(QuantizeKernelKind.GivenScales, quantizeBlocks, 1, Fp8QuantizeKernels.Threads, 0, quantizeBlocks);
        int scaleCols = Ops.Tiles(cols, groupSize);
        switch (granularity)
        {
            case ScaleGranularity.PerTokenGroup:
            {
                int lanes = groupSize / 8;
                if (cols % 8 == 0 && groupSize % 8 == 0 && lanes <= 32 && (lanes & (lanes - 1)) == 0 && aligned16)
                {
                    // 16-byte loads, four runs of eight in flight a thread; a group's lanes adjacent in a warp.
                    int chunks = Ops.Tiles(cols / 8, Fp8GroupQuantizeKernels.BlockRuns);
                    return new QuantizePlan(QuantizeKernelKind.Groups, rows, chunks, Fp8GroupQuantizeKernels.Threads, lanes, 0);
                }
                long groups = (long)rows * scaleCols;
                return new QuantizePlan(QuantizeKernelKind.GroupsScalar, checked((int)((groups + 255) / 256)), 1, 256, 0, 0);
            }
            case ScaleGranularity.Block:
                return new QuantizePlan(QuantizeKernelKind.Blocks, checked(Ops.Tiles(rows, groupSize) * scaleCols), 1, Fp8GroupQuantizeKernels.Threads, 0, 0);
            case ScaleGranularity.PerRow:
                return new QuantizePlan(QuantizeKernelKind.Rows, rows, 1, Fp8QuantizeKernels.Threads, 0, 0);
            case ScaleGranularity.PerColumn:
                return new QuantizePlan(QuantizeKernelKind.Columns, Ops.Tiles(cols, 256), 1, 256, 0, quantizeBlocks);
            default:
                return new QuantizePlan(QuantizeKernelKind.PerTensor, 0, 1, 256, 0, quantizeBlocks);
        }
    }
}

public static partial class Ops
{

    /// <summary>
    /// Quantizes a float tensor to real OCP FP8 codes: <c>q = round_to_nearest_even_saturating(x / scale)</c> (the
    /// quotient correctly rounded, as PyTorch divides),
    /// so that <c>x ≈ q · scale</c>. Without <paramref name="scale"/>, it is computed on the device:
    /// <c>amax / 448</c> for E4M3 (<c>amax / 57344</c> for E5M2) as PyTorch computes it on CUDA (amax · fl32(1/448): a
    /// scalar divisor becomes its float32 reciprocal there), over the tensor, each row or each column;
    /// an all-zero group gets scale 1, and a computed scale is at least 2⁻⁶⁴ (a group whose amax is below ~2.4·10⁻¹⁷ is scaled as if it were that). NaN inputs give NaN codes (and, when they set the amax, a NaN scale,
    /// as in PyTorch); values beyond the range saturate.
    /// </summary>
    /// <param name="x">float32, float16 or bfloat16, contiguous; <c>[..., K]</c> for per-row and per-token-group scales
    /// (scales <c>[..., 1]</c> and <c>[..., ceil(K / G)]</c>: the leading dims are rows), rank 2 for per-column and block ones.</param>
    /// <param name="scale">Optional float32 scale(s) to use instead: [1] (or a scalar), [M, 1] or [1, N] by granularity.</param>
    /// <param name="format"><see cref="DType.Float8E4M3"/> (default) or <see cref="DType.Float8E5M2"/>.</param>
    /// <param name="granularity">One scale, one per row, one per column, one per row and group of
    /// <paramref name="groupSize"/> columns, or one per <paramref name="groupSize"/> × <paramref name="groupSize"/> block.</param>
    /// <param name="groupSize">G of <see cref="ScaleGranularity.PerTokenGroup"/> and <see cref="ScaleGranularity.Block"/>
    /// (positive; 128 as DeepSeek-V3 and DeepGEMM use); ignored otherwise.</param>
    /// <returns>The codes (x's shape, <paramref name="format"/>) and the float32 scale tensor.</returns>
    /// <remarks>Scales of groups and blocks follow the per-tensor convention: <c>amax / 448</c> (E4M3), and 1 for an
    /// all-zero group. vLLM and DeepGEMM instead clamp the amax from below (1e-10, 1e-4) before dividing; their codes
    /// are the same as these wherever the amax is above that floor, and a zero group gives zero codes either way.</remarks>
    public static (Tensor Data, Tensor Scale) QuantizeFp8(Tensor x, Tensor? scale = null, DType format = DType.Float8E4M3,
        ScaleGranularity granularity = ScaleGranularity.PerTensor, int groupSize = 128) =>
        QuantizeFp8(x, scale, format, granularity, QuantizeSchedule.Auto, groupSize: groupSize);

    /// <summary><see cref="QuantizeFp8(Tensor, Tensor?, DType, ScaleGranularity, int)"/> with the per-tensor
    /// kernels pinned (tests, benchmark A/B).</summary>
    internal static (Tensor Data, Tensor Scale) QuantizeFp8(Tensor x, Tensor? scale, DType format,
        ScaleGranularity granularity, QuantizeSchedule schedule, long? keepInL2Bytes = null, int fusedGrid = 0, int groupSize = 128)
    {
        Check.Usable(x, nameof(x));
        Check.SupportsFp8(x, nameof(x), "quantize_fp8");
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        Check.Contiguous(x, nameof(x));
        if (format is not (DType.Float8E4M3 or DType.Float8E5M2))
            throw Check.UnsupportedDtype(nameof(format), $"expected float8_e4m3fn or float8_e5m2, got {DTypes.Name(format)}.");
        Check.Defined(granularity, nameof(granularity));
        Check.Positive(groupSize, nameof(groupSize));
        if (granularity is ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup && (x.Rank == 1 || x.Rank > 2))
        {
            // x [..., K] as vLLM's per-token(-group) quantizers take it: its rows flattened, the scales [..., 1] or
            // [..., ceil(K / G)].
            var (rows, cols, scaleCols, tokenScaleShape) = TokenScaleShape(x, granularity, groupSize);
            bool tokenScales = scale is not null && scale.Shape.SequenceEqual(tokenScaleShape);
            if (scale is not null)
            {
                Check.Usable(scale, nameof(scale));
                Check.SameDevice(scale, nameof(scale), x, nameof(x));
                Check.DType(scale, nameof(scale), DType.Float32);
                Check.Contiguous(scale, nameof(scale));
                if (!tokenScales && scale.ElementCount != 1)
                    throw Check.ShapeMismatch(nameof(scale), $"expected one element or [{string.Join(", ", tokenScaleShape)}], got shape {scale.ShapeText}.");
            }
            using var flat = x.Reshape(rows, cols);
            using var flatScale = tokenScales ? scale!.Reshape(rows, scaleCols) : scale?.Reshape(1); // else one element: per tensor
            var (data2, scale2) = QuantizeFp8(flat, flatScale ?? scale, format, granularity, schedule, keepInL2Bytes, fusedGrid, groupSize);
            using (data2)
            {
                if (scale is not null)
                    return (data2.Reshape(x.Shape.ToArray()), scale);
                using (scale2)
                    return (data2.Reshape(x.Shape.ToArray()), scale2.Reshape(tokenScaleShape));
            }
        }
        if (granularity != ScaleGranularity.PerTensor)
            Check.Rank(x, nameof(x), 2, granularity switch
            {
                ScaleGranularity.PerRow => "[M, K] for per-row scales",
                ScaleGranularity.PerColumn => "[K, N] for per-column scales",
                ScaleGranularity.PerTokenGroup => "[M, K] for per-token-group scales",
                _ => "[rows, cols] for block scales",
            });
        int[] scaleShape = QuantizeScaleShape(x, granularity, groupSize);
        if (scale is not null)
            CheckScale(scale, nameof(scale), x, nameof(x), scaleShape);

        var device = x.Device;
        using var gate = device.Enter();
        Type element = ElementTypeOf(x.DType), formatType = format == DType.Float8E4M3 ? typeof(E4M3) : typeof(E5M2);
        var data = Tensor.Empty(x.Shape.ToArray(), format, device);
        var stream = device.Accelerator.DefaultStream;
        var shape = new Fp8Shape { Count = x.ElementCount, Cols = x.Rank == 2 ? x.Shape[1] : 1 };
        if (x.ElementCount == 0)
            return (data, scale ?? Tensor.Full(scaleShape, 1f, DType.Float32, device));

        if (granularity is ScaleGranularity.PerTokenGroup or ScaleGranularity.Block)
        {
            shape.Rows = x.Shape[0];
            shape.GroupSize = groupSize;
            shape.ScaleCols = scaleShape[1];
        }
        int size = DTypes.SizeOf(x.DType);
        var plan = QuantizePlan.For(x.ElementCount, x.Rank == 2 ? x.Shape[0] : 1, shape.Cols, size, granularity, scale is not null, groupSize,
            x.Offset * size % 16 == 0);
        if (plan.Kernel == QuantizeKernelKind.GivenScales)
        {
            shape.Scales = scale!.ElementCount == 1 ? ScaleIndex.Tensor : granularity switch
            {
                ScaleGranularity.PerRow => ScaleIndex.Row,
                ScaleGranularity.PerColumn => ScaleIndex.Column,
                ScaleGranularity.PerTokenGroup => ScaleIndex.Group,
                ScaleGranularity.Block => ScaleIndex.Block,
                _ => ScaleIndex.Tensor,
            };
            LaunchQuantize(device, element, formatType, x, data, scale.Bytes.Cast<float>(), scale.Bytes.Cast<uint>(), shape, plan);
            return (data, scale);
        }

        if (plan.Kernel == QuantizeKernelKind.PerTensor)
        {
            if (schedule != QuantizeSchedule.TwoPass && TryQuantizeFused(device, element, formatType, x, data, schedule, keepInL2Bytes, fusedGrid) is { } fusedScale)
                return (data, fusedScale);
            if (schedule == QuantizeSchedule.Fused)
                throw new InvalidOperationException("The pinned fused quantize kernel cannot take this call.");
            // Two floats: [amax bits, scale]; the returned scale tensor views the second.
            using var slots = Tensor.Empty([2], DType.Float32, device);
            var amax = slots.Bytes.Cast<uint>().SubView(0, 1);
            amax.MemSetToZero(stream);
            int packWidth = x.DType == DType.Float32 ? 4 : 8;
            long packs = Math.Max(1, x.ElementCount / packWidth);
            int blocks = (int)Math.Min((packs + 255) / 256, device.Multiprocessors * 8L);
            device.Launch(Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.AbsMax), element), new KernelConfig(blocks, 256), x.Bytes, amax, shape);
            shape.ScaleFromAmax = 1;
            var result = slots.DenseView(1, [1]);
            LaunchQuantize(device, element, formatType, x, data, result.Bytes.Cast<float>(), amax, shape, plan);
            return (data, result);
        }

        var scales = Tensor.Empty(scaleShape, DType.Float32, device);
        var scaleView = scales.Bytes.Cast<float>();
        var config = new KernelConfig(new Index2D(plan.GridX, plan.GridY), new Index2D(plan.Threads, 1));
        if (plan.Kernel == QuantizeKernelKind.Columns)
        {
            // The column scales, then the given-scales kernel with them.
            device.Launch(Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.ColumnScales), element, formatType), config, x.Bytes, scaleView, shape);
            shape.Scales = ScaleIndex.Column;
            LaunchQuantize(device, element, formatType, x, data, scaleView, scales.Bytes.Cast<uint>(), shape, plan);
            return (data, scales);
        }
        shape.GroupLanes = plan.GroupLanes;
        shape.GroupShift = plan.GroupLanes > 0 ? System.Numerics.BitOperations.Log2((uint)plan.GroupLanes) : 0;
        var kernel = plan.Kernel switch
        {
            QuantizeKernelKind.Groups => Fp8GroupQuantizeKernels.Method(nameof(Fp8GroupQuantizeKernels.QuantizeGroups), element, formatType),
            QuantizeKernelKind.GroupsScalar => Fp8GroupQuantizeKernels.Method(nameof(Fp8GroupQuantizeKernels.QuantizeGroupsScalar), element, formatType),
            QuantizeKernelKind.Blocks => Fp8GroupQuantizeKernels.Method(nameof(Fp8GroupQuantizeKernels.QuantizeBlocks), element, formatType),
            _ => Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.QuantizeRows), element, formatType),
        };
        device.Launch(kernel, config, x.Bytes, data.Bytes, scaleView, shape);
        return (data, scales);
    }

    /// <summary>x <c>[..., K]</c> as rows × K, and its per-row or per-row-and-group scales' shape <c>[..., 1]</c> or
    /// <c>[..., ceil(K / G)]</c>.</summary>
    private static (int Rows, int Cols, int ScaleCols, int[] ScaleShape) TokenScaleShape(Tensor x, ScaleGranularity granularity, int groupSize)
    {
        int cols = x.Shape[^1], rows = 1;
        for (int d = 0; d < x.Rank - 1; d++)
            rows = checked(rows * x.Shape[d]);
        int scaleCols = granularity == ScaleGranularity.PerRow ? 1 : Tiles(cols, groupSize);
        return (rows, cols, scaleCols, [.. x.Shape.Take(x.Rank - 1), scaleCols]);
    }

    /// <summary>The scale shape of a granularity: [1], [M, 1], [1, N], [M, ceil(K / G)] or [ceil(M / G), ceil(K / G)].</summary>
    private static int[] QuantizeScaleShape(Tensor x, ScaleGranularity granularity, int groupSize) => granularity switch
    {
        ScaleGranularity.PerRow => [x.Shape[0], 1],
        ScaleGranularity.PerColumn => [1, x.Shape[1]],
        ScaleGranularity.PerTokenGroup => [x.Shape[0], Tiles(x.Shape[1], groupSize)],
        ScaleGranularity.Block => [Tiles(x.Shape[0], groupSize), Tiles(x.Shape[1], groupSize)],
        _ => [1],
    };

    /// <summary>Bytes of the last streamed items the fused quantize asks L2 to keep for its second phase
    /// (8192² bf16 on the H200: 0 MB 87.4 µs, 24 MB 85.6, 40 MB 84.5, 48 MB 84.3; two passes 87.8).</summary>
    private const long FusedQuantizeL2Bytes = 40L << 20;

    /// <summary>
    /// Per-tensor quantization with a computed scale in one launch (<see cref="Fp8QuantizeFusedKernel"/>):
    /// each block keeps an item of x on chip across the wait for the amax, so less of x is read twice (at
    /// 8192² bf16 on the H200, ~37 MB of 134: 25 MB kept, ~12 MB found in L2). Taken for tensors of whole 16-byte packs at least twice what the grid
    /// keeps (below that, L2 serves most of the two-pass form's second read); returns null otherwise.
    /// Measured (bf16, same runs): 8192² on the H200 84.3–84.5 µs against 87.8 for the two passes; on an
    /// H100, 109.7 against 119.4, and 8192 × 4096 57.2 against 63.6.
    /// </summary>
    private static Tensor? TryQuantizeFused(Device device, Type element, Type format, Tensor x, Tensor data, QuantizeSchedule schedule,
        long? keepInL2Bytes, int gridOverride)
    {
        int packWidth = x.DType == DType.Float32 ? 4 : 8;
        if (!device.HasAsyncCopy || x.ElementCount % packWidth != 0 || (x.DeviceAddress | data.DeviceAddress) % 16 != 0)
            return null;
        var kernel = Fp8QuantizeFusedKernel.Variant(element, format);
        // One block per slot the chip has (a test may ask for more: blocks that start late find the work taken).
        int grid = gridOverride > 0 ? gridOverride
            : device.Multiprocessors * device.BlocksPerMultiprocessor(kernel, Fp8QuantizeFusedKernel.Threads, Fp8QuantizeFusedKernel.SharedBytes);
        long packs = x.ElementCount / packWidth, kept = (long)grid * Fp8QuantizeFusedKernel.HeldPacks;
        if (packs < (schedule == QuantizeSchedule.Fused ? kept + 1 : 2 * kept))
            return null;
        var shape = new FusedQuantizeShape
        {
            Packs = packs,
            HeldItems = grid,
            StreamItems = checked((int)((packs - kept + Fp8QuantizeFusedKernel.StreamPacks - 1) / Fp8QuantizeFusedKernel.StreamPacks)),
            X = x.DeviceAddress,
            Q = data.DeviceAddress,
        };
        // The last streamed items phase 1 reads are phase 2's first reads: kept in L2 up to a budget.
        long keptInL2 = (keepInL2Bytes ?? FusedQuantizeL2Bytes) / (16L * Fp8QuantizeFusedKernel.StreamPacks);
        shape.KeepFromItem = (int)Math.Max(grid, grid + shape.StreamItems - keptInL2);
        // The control words (Fp8QuantizeFusedKernel.Control) start at zero; the returned scale views word 1.
        using var control = Tensor.Empty([Fp8QuantizeFusedKernel.Control.Words(grid)], DType.Float32, device);
        var words = control.Bytes.Cast<uint>();
        var stream = device.Accelerator.DefaultStream;
        words.SubView(0, Fp8QuantizeFusedKernel.Control.Requeued).MemSetToZero(stream);
        device.Launch(kernel, new KernelConfig(new Index1D(grid), new Index1D(Fp8QuantizeFusedKernel.Threads), SharedMemoryConfig.RequestDynamic<byte>(Fp8QuantizeFusedKernel.SharedBytes)),
            x.Bytes, data.Bytes, words, shape);
        return control.DenseView(Fp8QuantizeFusedKernel.Control.Scale, [1]);
    }

    private static void LaunchQuantize(Device device, Type element, Type format, Tensor x, Tensor data, ArrayView<float> scales, ArrayView<uint> amax,
        Fp8Shape shape, QuantizePlan plan) =>
        device.Launch(Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.Quantize), element, format), new KernelConfig(plan.QuantizeBlocks, Fp8QuantizeKernels.Threads), x.Bytes, data.Bytes, scales, amax, shape);

    /// <summary>x = q · scale, rounded once into <paramref name="dtype"/>. The scale's shape says how it
    /// applies: one element (per tensor), [M, 1] (per row), [1, N] (per column), [M, ceil(N / G)] (per row and
    /// group of <paramref name="groupSize"/> columns) or [ceil(M / G), ceil(N / G)] (per G × G block) of a [M, N] q;
    /// for q [..., K], [..., 1] (per row) or [..., ceil(K / G)] (per row and group). Scales float32, or 16-bit (as
    /// compressed-tensors checkpoints store them) widened exactly on the device.</summary>
    public static Tensor DequantizeFp8(Tensor q, Tensor scale, DType dtype = DType.Float32, int groupSize = 128)
    {
        Check.Usable(q, nameof(q));
        Check.Usable(scale, nameof(scale));
        Check.DType(q, nameof(q), DType.Float8E4M3, DType.Float8E5M2);
        Check.Contiguous(q, nameof(q));
        Check.FloatDType(dtype, nameof(dtype));
        Check.Positive(groupSize, nameof(groupSize));
        if (scale.ElementCount == 1 && scale.Rank > 2 && !scale.IsDisposed && scale.IsContiguous)
        {
            // One element of any rank is one scale for the tensor.
            using var one = scale.Reshape(1);
            return DequantizeFp8(q, one, dtype, groupSize);
        }
        if ((q.Rank == 1 || q.Rank > 2) && (scale.ElementCount != 1 || scale.Rank == q.Rank))
        {
            // q [..., K] with per-row scales [..., 1] or per-row-and-group ones [..., ceil(K / G)].
            Check.SameDevice(scale, nameof(scale), q, nameof(q));
            var granularity = scale.Rank == q.Rank && scale.Shape[^1] == 1 ? ScaleGranularity.PerRow : ScaleGranularity.PerTokenGroup;
            var (rows, cols, scaleCols, scaleShape) = TokenScaleShape(q, granularity, groupSize);
            if (!scale.Shape.SequenceEqual(scaleShape))
                throw Check.ShapeMismatch(nameof(scale), $"expected one element, [{string.Join(", ", TokenScaleShape(q, ScaleGranularity.PerRow, groupSize).ScaleShape)}] "
                    + $"(per row) or [{string.Join(", ", TokenScaleShape(q, ScaleGranularity.PerTokenGroup, groupSize).ScaleShape)}] (per group of {groupSize}), got shape {scale.ShapeText}.");
            Check.Contiguous(scale, nameof(scale));
            using var flat = q.Reshape(rows, cols);
            using var flatScale = scale.Reshape(rows, scaleCols);
            using var output2 = DequantizeFp8(flat, flatScale, dtype, groupSize);
            return output2.Reshape(q.Shape.ToArray());
        }
        var shape = new Fp8Shape { Count = q.ElementCount, Cols = q.Rank == 2 ? q.Shape[1] : 1, Scales = ScaleIndexOf(scale, q, groupSize) };
        // 16-bit scales (compressed-tensors checkpoints store them in bf16) widen exactly to float32.
        using var wideScale = scale.DType == DType.Float32 ? null : scale.To(DType.Float32);
        scale = wideScale ?? scale;
        if (shape.Scales is ScaleIndex.Group or ScaleIndex.Block)
            (shape.GroupSize, shape.ScaleCols, shape.Rows) = (groupSize, scale.Shape[1], q.Shape[0]);
        using var gate = q.Device.Enter();
        var output = Tensor.Empty(q.Shape.ToArray(), dtype, q.Device);
        if (q.ElementCount == 0)
            return output;
        Type format = q.DType == DType.Float8E4M3 ? typeof(E4M3) : typeof(E5M2);
        q.Device.Launch(Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.Dequantize), format, ElementTypeOf(dtype)), new KernelConfig((int)((q.ElementCount + 255) / 256), 256),
            q.Bytes, scale.Bytes.Cast<float>(), output.Bytes, shape);
        return output;
    }

    private static ScaleIndex ScaleIndexOf(Tensor scale, Tensor q, int groupSize)
    {
        Check.SameDevice(scale, nameof(scale), q, nameof(q));
        Check.DType(scale, nameof(scale), DType.Float32, DType.BFloat16, DType.Float16);
        Check.Contiguous(scale, nameof(scale));
        if (scale.ElementCount == 1 && scale.Rank <= 2)
            return ScaleIndex.Tensor;
        if (q.Rank == 2 && scale.Shape.SequenceEqual([q.Shape[0], 1]))
            return ScaleIndex.Row;
        if (q.Rank == 2 && scale.Shape.SequenceEqual([1, q.Shape[1]]))
            return ScaleIndex.Column;
        if (q.Rank == 2 && scale.Shape.SequenceEqual(QuantizeScaleShape(q, ScaleGranularity.PerTokenGroup, groupSize)))
            return ScaleIndex.Group;
        if (q.Rank == 2 && scale.Shape.SequenceEqual(QuantizeScaleShape(q, ScaleGranularity.Block, groupSize)))
            return ScaleIndex.Block;
        throw Check.ShapeMismatch("scale",
            $"expected one element{(q.Rank == 2 ? $", [{q.Shape[0]}, 1], [1, {q.Shape[1]}], [{q.Shape[0]}, {Tiles(q.Shape[1], groupSize)}] (per group of {groupSize}) or [{Tiles(q.Shape[0], groupSize)}, {Tiles(q.Shape[1], groupSize)}] (per {groupSize} × {groupSize} block)" : "")}, got shape {scale.ShapeText}.");
    }
}
