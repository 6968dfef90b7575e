using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.RmsNorm;

namespace TritonOps;

/// <summary>A pinned schedule for the norms (tests reach every kernel, the benchmark sweeps): runs per thread of the
/// row kernel (1, 2, 4 or 8; 0: the op's choice), or the wide kernel whatever the row.</summary>
internal readonly record struct RmsNormSchedule(int RunsPerThread = 0, bool Wide = false);

/// <summary>
/// How an RMSNorm (or fused add + RMSNorm) call runs, from validated sizes (pure: tests call it without a GPU): 16-byte
/// packs when a row is whole packs and every tensor starts on a 16-byte boundary (<paramref name="Packed"/>, else one
/// element an access), the row's runs, and the one-row-a-block kernel with its runs a thread and threads
/// (<see cref="RmsNormRowKernel.Plan"/>) unless the row needs more than 1024 threads of eight runs or the wide kernel
/// is pinned. The launch also checks the row kernel's block against its registers (<c>Device.MaxGroupSize</c>).
/// </summary>
internal readonly record struct RmsNormPlan(bool Packed, int RowRuns, bool RowKernel, int RunsPerThread, int Threads)
{
    public static RmsNormPlan For(int hidden, int elementBytes, bool aligned16, RmsNormSchedule schedule = default)
    {
        int packWidth = 16 / elementBytes;
        // 16-byte accesses need whole packs per row and every tensor's first element on a 16-byte boundary
        // (a view narrowed by a few elements is not).
        bool packed = hidden % packWidth == 0 && aligned16;
        int rowRuns = hidden / (packed ? packWidth : 1);
        if (!schedule.Wide && RmsNormRowKernel.Plan(rowRuns, schedule.RunsPerThread) is { } row)
            return new RmsNormPlan(packed, rowRuns, true, row.RunsPerThread, row.Threads);
        return new RmsNormPlan(packed, rowRuns, false, 0, 0);
    }
}

public static partial class Ops
{

    /// <summary>
    /// RMSNorm over the last dimension: <c>y = x · rsqrt(mean(x²) + eps) · (weight + weightOffset)</c>, float32
    /// arithmetic, one rounding into x's dtype (vLLM <c>rms_norm</c>, FlashInfer <c>rmsnorm</c>; with
    /// <paramref name="weightOffset"/> = 1, Gemma's <c>(1 + w)</c>, FlashInfer <c>gemma_rmsnorm</c>).
    /// </summary>
    /// <param name="x"><c>[..., hidden]</c> (rank ≥ 1, any leading dimensions), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[hidden]</c>, x's dtype.</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="weightOffset">Added to every weight in float32 before it scales; finite.</param>
    /// <param name="output">Optional destination of x's shape and dtype on x's device; it may be x itself (in place),
    /// but must not otherwise overlap it. A new tensor is returned when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor of x's shape and dtype on x's device.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">weight not <c>[hidden]</c>, x of rank 0, output of another shape.</exception>
    /// <exception cref="UnsupportedDtypeException">x not float32/float16/bfloat16, or dtypes differ.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <param name="rounding"><see cref="NormRounding.Once"/> (the default), or <see cref="NormRounding.Llama"/> to round as
    /// Hugging Face's Llama/Mistral/Qwen norms and vLLM do (x · rstd into the dtype, then the weight).</param>
    /// <exception cref="InvalidArgumentException">eps or weightOffset invalid, rounding undefined, or output partly overlapping x.</exception>
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps = 1e-6, float weightOffset = 0, Tensor? output = null,
        NormRounding rounding = NormRounding.Once) =>
        RmsNorm(x, weight, eps, weightOffset, output, rounding, default);

    /// <summary><see cref="RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/> with its schedule pinned.</summary>
    internal static Tensor RmsNorm(Tensor x, Tensor weight, double eps, float weightOffset, Tensor? output, NormRounding rounding, RmsNormSchedule schedule)
    {
        var (rows, hidden) = ValidateRmsNorm(x, null, addResidual: false, weight, eps, weightOffset, rounding);
        if (output is not null)
        {
            CheckOutput(output, x, x.Shape.ToArray());
            Check.NoOverlap(output, nameof(output), x, nameof(x), inPlaceAllowed: true);
        }
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty(x.Shape.ToArray(), x.DType, x.Device);
        LaunchRmsNorm(x, x, weight, output, rows, hidden, eps, weightOffset, rounding, addResidual: false, schedule);
        return output;
    }

    /// <summary>
    /// The residual add and the RMSNorm of a pre-norm transformer block in one kernel (vLLM
    /// <c>fused_add_rms_norm</c>, FlashInfer <c>fused_add_rmsnorm</c>): <c>residual ← residual + x</c>, in place,
    /// rounded into the dtype; then returns <c>residual · rsqrt(mean(residual²) + eps) · (weight + weightOffset)</c>
    /// of that stored (rounded) sum, as Hugging Face's <c>hidden_states = residual + hidden_states;
    /// hidden_states = input_layernorm(hidden_states)</c> computes it in bf16. One read of x and residual, one
    /// write of residual and output; float32 arithmetic.
    /// </summary>
    /// <param name="x"><c>[..., hidden]</c> (rank ≥ 1), float32, float16 or bfloat16, contiguous.</param>
    /// <param name="residual">x's shape and dtype, contiguous; overwritten with residual + x.</param>
    /// <param name="weight"><c>[hidden]</c>, x's dtype.</param>
    /// <param name="eps">Added to the mean square; finite and ≥ 0.</param>
    /// <param name="weightOffset">Added to every weight in float32 before it scales (1: Gemma); finite.</param>
    /// <param name="output">Optional destination of x's shape and dtype; it may be x itself (vLLM writes the norm over
    /// its input), must not overlap the residual, nor x other than exactly. A new tensor is returned when null.</param>
    /// <returns><paramref name="output"/>, or a new tensor of x's shape and dtype on x's device.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">residual not of x's shape, weight not <c>[hidden]</c>, x of rank 0, output of another shape.</exception>
    /// <exception cref="UnsupportedDtypeException">x not float32/float16/bfloat16, or dtypes differ.</exception>
    /// <exception cref="NonContiguousTensorException">A strided tensor.</exception>
    /// <param name="rounding">As in <see cref="RmsNorm(Tensor, Tensor, double, float, Tensor?, NormRounding)"/>.</param>
    /// <exception cref="InvalidArgumentException">eps or weightOffset invalid, rounding undefined, or output overlapping residual (or partly x).</exception>
    public static Tensor FusedAddRmsNorm(Tensor x, Tensor residual, Tensor weight, double eps = 1e-6, float weightOffset = 0, Tensor? output = null,
        NormRounding rounding = NormRounding.Once) =>
        FusedAddRmsNorm(x, residual, weight, eps, weightOffset, output, rounding, default);

    /// <summary><see cref="FusedAddRmsNorm(Tensor, Tensor, Tensor, double, float, Tensor?, NormRounding)"/> with its schedule pinned.</summary>
    internal static Tensor FusedAddRmsNorm(Tensor x, Tensor residual, Tensor weight, double eps, float weightOffset, Tensor? output, NormRounding rounding,
        RmsNormSchedule schedule)
    {
        var (rows, hidden) = ValidateRmsNorm(x, residual, addResidual: true, weight, eps, weightOffset, rounding);
        if (output is not null)
        {
            CheckOutput(output, x, x.Shape.ToArray());
            Check.NoOverlap(output, nameof(output), residual, nameof(residual), inPlaceAllowed: false);
            Check.NoOverlap(output, nameof(output), x, nameof(x), inPlaceAllowed: true);
        }
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty(x.Shape.ToArray(), x.DType, x.Device);
        LaunchRmsNorm(x, residual, weight, output, rows, hidden, eps, weightOffset, rounding, addResidual: true, schedule);
        return output;
    }

    private static void LaunchRmsNorm(Tensor x, Tensor residual, Tensor weight, Tensor output, int rows, int hidden,
        double eps, float weightOffset, NormRounding rounding, bool addResidual, RmsNormSchedule schedule)
    {
        if ((long)rows * hidden == 0)
            return;
        var device = x.Device;
        Type element = ElementTypeOf(x.DType);
        int size = DTypes.SizeOf(x.DType);
        bool aligned = (x.Offset * size | residual.Offset * size | weight.Offset * size | output.Offset * size) % 16 == 0;
        var plan = RmsNormPlan.For(hidden, size, aligned, schedule);
        var shape = new RmsNormShape
        {
            Rows = rows,
            RowRuns = plan.RowRuns,
            InvHidden = 1f / hidden,
            Eps = (float)eps,
            WeightOffset = weightOffset,
            RoundBeforeWeight = rounding == NormRounding.Llama && x.DType != DType.Float32 ? 1 : 0,
        };
        // A block as wide as the row must also fit the kernel's registers; else the wide kernel takes the row.
        if (plan.RowKernel
            && RmsNormRowKernel.Variant(element, plan.Packed, addResidual, plan.RunsPerThread) is var rowKernel
            && plan.Threads <= device.MaxGroupSize(rowKernel))
        {
            // One row per small block, held in registers: many rows in flight per SM.
            device.Launch(rowKernel, new KernelConfig(new Index2D(rows, 1), new Index2D(plan.Threads, 1)),
                x.Bytes, residual.Bytes, weight.Bytes, output.Bytes, shape);
            return;
        }
        // Rows too wide to hold: one block walks each row twice.
        var kernel = RmsNormWideKernel.Variant(element, plan.Packed, addResidual);
        int threads = Math.Min(RmsNormWideKernel.Threads, device.MaxGroupSize(kernel));
        device.Launch(kernel, new KernelConfig(new Index2D(rows, 1), new Index2D(threads, 1)),
            x.Bytes, residual.Bytes, weight.Bytes, output.Bytes, shape);
    }

    /// <summary>The contract of both norms (<paramref name="residual"/> checked when <paramref name="addResidual"/>): rows (the product
    /// of x's leading dimensions) and hidden.</summary>
    internal static (int Rows, int Hidden) ValidateRmsNorm(Tensor x, Tensor? residual, bool addResidual, Tensor weight, double eps, float weightOffset,
        NormRounding rounding = NormRounding.Once)
    {
        Check.Usable(x, nameof(x));
        if (addResidual)
            Check.Usable(residual, nameof(residual));
        Check.Usable(weight, nameof(weight));
        if (residual is not null)
            Check.SameDevice(residual, nameof(residual), x, nameof(x));
        Check.SameDevice(weight, nameof(weight), x, nameof(x));

        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        if (residual is not null)
            Check.SameDType(residual, nameof(residual), x, nameof(x));
        Check.SameDType(weight, nameof(weight), x, nameof(x));

        Check.Shape(x.Rank >= 1, nameof(x), "rank ≥ 1 [..., hidden]", x);
        int hidden = x.Shape[^1];
        if (residual is not null)
            Check.Shape(residual.Shape.SequenceEqual(x.Shape), nameof(residual), $"the shape of 'x' {x.ShapeText}", residual);
        Check.Rank(weight, nameof(weight), 1, "[hidden]");
        Check.Dim(weight, nameof(weight), 0, hidden, "hidden, from x");
        long rows = 1;
        for (int d = 0; d < x.Rank - 1; d++)
            rows *= x.Shape[d];
        Check.Shape(rows <= int.MaxValue, nameof(x), $"at most {int.MaxValue} rows", x);

        Check.Contiguous(x, nameof(x));
        if (residual is not null)
        {
            Check.Contiguous(residual, nameof(residual));
            // Updated in place by other threads than read x: x may be the residual itself, nothing in between.
            Check.NoOverlap(residual, nameof(residual), x, nameof(x), inPlaceAllowed: true);
        }
        Check.Contiguous(weight, nameof(weight));
        Check.Eps(eps);
        Check.Finite(weightOffset, nameof(weightOffset));
        Check.Defined(rounding, nameof(rounding));
        return ((int)rows, hidden);
    }
}
