using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.QuantizeFp8;
using TritonOps.Kernels.Fp8Gemm;
using TritonOps.Kernels.Numerics;

namespace TritonOps;

/// <summary>The wgmma FP8 GEMM's tile rows (64, 128 or 256) and ring depth, 0: the op's choice; <see cref="Tiled"/>:
/// the tiled kernel even where the decode kernel would run (M ≤ 64 off Hopper); <see cref="Decode"/>: the decode
/// kernel even on Hopper (M ≤ 64), so the H200's tests still run what other GPUs take;
/// <see cref="Blocks"/>: the wgmma kernel's grid when smaller than its tile count (its blocks then walk the tiles).</summary>
internal readonly record struct Fp8GemmSchedule(int BlockM = 0, int Stages = 0, bool Tiled = false, bool Decode = false, int Blocks = 0);

/// <summary>The FP8 GEMM kernels <see cref="Fp8GemmPlan"/> chooses from.</summary>
internal enum Fp8GemmKernelKind
{
    /// <summary><see cref="Fp8GemmDecodeKernel"/>: 16-row slices of a against strips of b streamed at full rate.</summary>
    Decode,
    /// <summary><see cref="Fp8GemmWarpSpecializedKernel"/>: Hopper's copy engine feeding two warpgroups of <c>wgmma</c>.</summary>
    WarpSpecialized,
    /// <summary><see cref="Fp8GemmKernel"/>: <c>mma.sync</c> 128 × 64 tiles (other GPUs, or rows not 16-byte aligned).</summary>
    Mma,
}

/// <summary>
/// Which kernel takes an fp8_gemm call and how it is launched, from validated sizes and device capabilities alone
/// (Fp8GemmTests call it for Hopper sizes on the CPU). On the H200 the wgmma kernel wins at every M (M16 N14336 K4096:
/// 31.2 against 35.1 µs on the decode kernel, M64: 28.9 against 82.0), with 256-row tiles from M 1024 (8192³: 1025–1032
/// TFLOP/s against 807–909 with 128), 64-row ones at M ≤ 64; the decode kernel serves other GPUs and the CPU accelerator.
/// </summary>
internal readonly record struct Fp8GemmPlan(Fp8GemmKernelKind Kernel, int BlockM, int Stages, int MTiles, int NTiles, int KTiles,
    int Grid, int Threads, int SharedBytes)
{
    /// <summary>The wgmma kernel on fewer blocks than tiles: its blocks walk the tiles (a kernel type).</summary>
    public bool WalksTiles => Kernel == Fp8GemmKernelKind.WarpSpecialized && (long)Grid < (long)MTiles * NTiles;

    /// <summary>The M from which the wgmma kernel takes 256-row tiles (each consumer warpgroup two 64-row blocks; a
    /// quarter less L2 traffic a flop than 128 × 128). Below it, 128-row tiles waste less on the M tail.</summary>
    public const int TallMinRows = 1024;

    /// <param name="m">Rows of a, ≥ 1.</param>
    /// <param name="n">Columns of b, ≥ 1.</param>
    /// <param name="k">The reduction, ≥ 1.</param>
    /// <param name="hasWarpgroupMma">The device runs <c>wgmma</c>.</param>
    /// <param name="aligned16">The codes of a and b (stored [N, K]) start on 16 bytes.</param>
    /// <param name="isCuda">A CUDA device (on the CPU accelerator the decode kernel is the cheap one to emulate).</param>
    /// <param name="schedule">Pinned tile rows, ring depth or kernel (tests, benchmark A/B); default: the plan's choice.</param>
    public static Fp8GemmPlan For(int m, int n, int k, bool hasWarpgroupMma, bool aligned16, bool isCuda, Fp8GemmSchedule schedule = default)
    {
        bool wgmma = hasWarpgroupMma && k % 16 == 0 && aligned16;
        if (schedule.Decode && m > Fp8GemmDecodeKernel.MaxRows)
            throw Check.OutOfRange(nameof(schedule), schedule, $"the decode kernel takes M ≤ {Fp8GemmDecodeKernel.MaxRows}, got {m}.");
        if (m <= Fp8GemmDecodeKernel.MaxRows && !schedule.Tiled && (schedule.Decode || !(wgmma && isCuda)))
        {
            int mTiles = Ops.Tiles(m, StripMma.SliceRows), nTiles = Ops.Tiles(n, Fp8GemmDecodeKernel.BlockN);
            return new Fp8GemmPlan(Fp8GemmKernelKind.Decode, 0, 0, mTiles, nTiles, 0, checked(mTiles * nTiles), Fp8GemmDecodeKernel.Threads, 0);
        }
        if (wgmma)
        {
            int blockM = schedule.BlockM > 0 ? schedule.BlockM : m >= TallMinRows ? 256 : m <= 64 ? 64 : 128;
            int stages = schedule.Stages > 0 ? schedule.Stages : Fp8GemmWarpSpecializedKernel.DefaultStages(blockM);
            if (blockM is not (64 or 128 or 256) || stages < 2 || schedule.Blocks < 0)
                throw Check.OutOfRange(nameof(schedule), schedule, "expected 64-, 128- or 256-row tiles, at least two stages and blocks ≥ 0.");
            int mTiles = Ops.Tiles(m, blockM), nTiles = Ops.Tiles(n, Fp8GemmWarpSpecializedKernel.BlockN);
            int tiles = checked(mTiles * nTiles);
            return new Fp8GemmPlan(Fp8GemmKernelKind.WarpSpecialized, blockM, stages, mTiles, nTiles, Ops.Tiles(k, Fp8GemmWarpSpecializedKernel.BlockK),
                schedule.Blocks > 0 ? Math.Min(tiles, schedule.Blocks) : tiles, Fp8GemmWarpSpecializedKernel.Threads,
                Fp8GemmWarpSpecializedKernel.SharedBytes(blockM, stages));
        }
        int rows = Ops.Tiles(m, Fp8GemmKernel.BlockM), cols = Ops.Tiles(n, Fp8GemmKernel.BlockN);
        return new Fp8GemmPlan(Fp8GemmKernelKind.Mma, Fp8GemmKernel.BlockM, 0, rows, cols, Ops.Tiles(k, Fp8GemmKernel.BlockK), checked(rows * cols),
            Fp8GemmKernel.Threads, 0);
    }
}

public static partial class Ops
{

    /// <summary>
    /// FP8 matrix product on FP8 tensor cores: <c>(a_q · b_q) · a_scale · b_scale</c> (+ bias), summed in
    /// float32 and written once in <paramref name="outputDtype"/>. On Hopper the warpgroup tensor cores keep
    /// about 14 significant bits within each 128-deep partial, which is then added in float32: the sum's
    /// error stays within about 2⁻¹⁰ · Σ|aₖ·bₖ|. Elsewhere M ≤ 64 streams b once (decode).
    /// Float inputs are quantized internally (E4M3, per tensor, or with the scale you pass);
    /// E4M3 inputs must come with their scale. Scales: float32 on the inputs' device, one element,
    /// or [M, 1] for a (per token) / [1, N] for b (per output channel).
    /// Layout: b is [K, N]. Fastest is the transposed view of a contiguous [N, K] buffer
    /// (<c>w.Transpose(0, 1)</c> of an [N, K] weight, as <see cref="Fp8Linear"/> keeps it): the tensor
    /// cores read it as is. A contiguous [K, N] b costs one extra transpose pass.
    /// </summary>
    /// <param name="a">[M, K]: float32/float16/bfloat16 (quantized here) or float8_e4m3fn codes.</param>
    /// <param name="b">[K, N], same dtypes as a; contiguous, or the transposed view of a contiguous [N, K].</param>
    /// <param name="aScale">a's scale: required for codes; for float a, the quantization scale to use.</param>
    /// <param name="bScale">b's scale: required for codes; for float b, one element at most.</param>
    /// <param name="outputDtype">float16 (default), bfloat16 or float32.</param>
    /// <param name="bias">Optional [N], added in float32 in the epilogue: float32, or 16-bit (torch._scaled_mm takes it in
    /// the output dtype) widened exactly on the device each call (one small launch more: pass float32 on hot paths).</param>
    /// <returns>[M, N] in <paramref name="outputDtype"/>.</returns>
    public static Tensor Fp8Gemm(Tensor a, Tensor b, Tensor? aScale = null, Tensor? bScale = null, DType outputDtype = DType.Float16, Tensor? bias = null) =>
        Fp8Gemm(a, b, aScale, bScale, outputDtype, bias, default);

    /// <summary><see cref="Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/> with the wgmma kernel's
    /// tile rows and ring depth pinned (tests, benchmark A/B).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor Fp8Gemm(Tensor a, Tensor b, Tensor? aScale, Tensor? bScale, DType outputDtype, Tensor? bias, Fp8GemmSchedule schedule)
    {
        Check.Usable(a, nameof(a));
        Check.Usable(b, nameof(b));
        Check.SameDevice(b, nameof(b), a, nameof(a));
        Check.SupportsFp8(a, nameof(a), "fp8_gemm");
        Check.DType(a, nameof(a), DType.Float32, DType.Float16, DType.BFloat16, DType.Float8E4M3);
        Check.DType(b, nameof(b), DType.Float32, DType.Float16, DType.BFloat16, DType.Float8E4M3);
        if (outputDtype is not (DType.Float16 or DType.BFloat16 or DType.Float32))
            throw Check.UnsupportedDtype(nameof(outputDtype), $"expected float16 or bfloat16 or float32, got {DTypes.Name(outputDtype)}.");
        Check.Rank(a, nameof(a), 2, "[M, K]");
        Check.Rank(b, nameof(b), 2, "[K, N]");
        int m = a.Shape[0], k = a.Shape[1], n = b.Shape[1];
        Check.Dim(b, nameof(b), 0, k, "K, from a");
        Check.Contiguous(a, nameof(a));
        bool bTransposedView = b.Strides[0] == 1 && b.Strides[1] == k && !b.IsContiguous;
        if (!b.IsContiguous && !bTransposedView)
            throw Check.NonContiguous(nameof(b),
                $"expected a contiguous [K, N] tensor or the transposed view of a contiguous [N, K] one, got strides [{string.Join(", ", b.Strides)}].");
        if (a.DType == DType.Float8E4M3 && aScale is null)
            throw Check.Missing(nameof(aScale), "a is already FP8 (float8_e4m3fn), so its scale is required.");
        if (b.DType == DType.Float8E4M3 && bScale is null)
            throw Check.Missing(nameof(bScale), "b is already FP8 (float8_e4m3fn), so its scale is required.");
        int kBlocks = Tiles(k, KBlockScale.Size), nBlocks = Tiles(n, KBlockScale.Size);
        var aMode = aScale is null ? GemmScale.Tensor : GemmScaleOf(aScale, nameof(aScale), a, nameof(a),
            ($"[{m}, 1] (per token)", [m, 1], GemmScale.Row), ($"[M, ceil(K/128)] = [{m}, {kBlocks}] (per token and 128-group)", [m, kBlocks], GemmScale.Group));
        var bMode = bScale is null ? GemmScale.Tensor : GemmScaleOf(bScale, nameof(bScale), b, nameof(b),
            ($"[1, {n}] (per column)", [1, n], GemmScale.Column), ($"[ceil(K/128), ceil(N/128)] = [{kBlocks}, {nBlocks}] (per 128 × 128 block)", [kBlocks, nBlocks], GemmScale.Block));
        if (aMode == GemmScale.Group && a.DType != DType.Float8E4M3 && !aScale!.IsContiguous)
            Check.Contiguous(aScale, nameof(aScale)); // a float a is quantized here with it, which reads it row-major
        if (bMode is GemmScale.Column or GemmScale.Block && b.DType != DType.Float8E4M3)
            throw Check.ShapeMismatch(nameof(bScale),
                $"{(bMode == GemmScale.Column ? $"per-column scales [1, {n}]" : $"block scales [{kBlocks}, {nBlocks}]")} need b already quantized "
                + $"(float8_e4m3fn; QuantizeFp8 with ScaleGranularity.{(bMode == GemmScale.Column ? "PerColumn" : "Block")}), got b of {DTypes.Name(b.DType)}.");
        if (bMode == GemmScale.Block && !bTransposedView && k > 1 && n > 1)
            throw Check.NonContiguous(nameof(b),
                $"block scales need b K-contiguous (the transposed view of a contiguous [N, K] weight, as a checkpoint stores it: w.Transpose(0, 1)), got a contiguous [K, N] tensor with strides [{string.Join(", ", b.Strides)}].");
        if (bias is not null)
        {
            Check.SameDevice(bias, nameof(bias), a, nameof(a));
            Check.DType(bias, nameof(bias), DType.Float32, DType.BFloat16, DType.Float16);
            Check.Shape(bias.Rank == 1 && bias.Shape[0] == n, nameof(bias), $"[N = {n}]", bias);
            Check.Contiguous(bias, nameof(bias));
        }

        var device = a.Device;
        using var gate = device.Enter();
        // A 16-bit bias (torch._scaled_mm's, in the output dtype) widens exactly to the float32 the epilogue adds, on the
        // device (Fp8Linear widens its bias once, when made).
        using var wideBias = bias is null || bias.DType == DType.Float32 || m == 0 || n == 0 ? null : bias.To(DType.Float32);
        bias = wideBias ?? bias;
        var output = Tensor.Empty([m, n], outputDtype, device);
        if (m == 0 || n == 0)
            return output;
        if (k == 0)
        {
            // An empty sum: zeros, plus the bias where there is one.
            FillRows(output, bias);
            return output;
        }

        var temporaries = new List<Tensor>();
        try
        {
            // a: codes [M, K].
            Tensor aq = a, aS = aScale!;
            if (a.DType != DType.Float8E4M3)
            {
                // Against block-scaled b, a float a without a scale is quantized per token and 128-group (DeepSeek-V3's act_quant).
                // A [1, 1] scale of FP8 b within one 128 × 128 block is such a block scale too (a per-tensor one is [] or [1]).
                bool oneBlock = bScale is { Rank: 2 } && kBlocks == 1 && nBlocks == 1 && b.DType == DType.Float8E4M3;
                if (aScale is null && (bMode == GemmScale.Block || oneBlock))
                    aMode = GemmScale.Group;
                (aq, aS) = QuantizeFp8(a, aScale, granularity: aMode switch
                {
                    GemmScale.Row => ScaleGranularity.PerRow,
                    GemmScale.Group => ScaleGranularity.PerTokenGroup,
                    _ => ScaleGranularity.PerTensor,
                }, groupSize: KBlockScale.Size);
                temporaries.Add(aq);
                if (aScale is null) temporaries.Add(aS);
            }
            // b: codes stored [N, K].
            Tensor bStored = bTransposedView ? b.Transpose(0, 1) : b, bS = bScale!;
            if (bTransposedView)
                temporaries.Add(bStored);
            if (b.DType != DType.Float8E4M3)
            {
                Tensor codes;
                (codes, bS) = QuantizeFp8(bStored, bScale);
                temporaries.Add(codes);
                if (bScale is null) temporaries.Add(bS);
                bStored = codes;
            }
            if (!bTransposedView)
            {
                var transposed = Tensor.Empty([n, k], DType.Float8E4M3, device);
                temporaries.Add(transposed);
                device.Launch(Fp8QuantizeKernels.Method(nameof(Fp8QuantizeKernels.TransposeBytes)), new KernelConfig(new Index2D((n + 31) / 32, (k + 31) / 32), new Index2D(32, 8)),
                    bStored.Bytes, transposed.Bytes, k, n);
                bStored = transposed;
            }

            Type outputElement = ElementTypeOf(outputDtype);
            var shape = new Fp8GemmShape
            {
                M = m, N = n, K = k,
                KAligned = k % 16 == 0 ? 1 : 0,
                AScaleStride = aMode switch { GemmScale.Row => 1, GemmScale.Group => (int)aS.Strides[0], _ => 0 },
                BScaleStride = bMode switch { GemmScale.Column => 1, GemmScale.Block => (int)bS.Strides[1], _ => 0 },
                HasBias = bias is null ? 0 : 1,
            };
            // Scales that change along K are applied at each 128-deep promotion (KBlockScales), in every kernel.
            bool perKBlock = aMode == GemmScale.Group || bMode == GemmScale.Block;
            if (aMode == GemmScale.Group)
                (shape.AGrouped, shape.AScaleKStride) = (1, (int)aS.Strides[1]);
            if (bMode == GemmScale.Block)
                (shape.BBlocked, shape.BScaleKStride) = (1, (int)bS.Strides[0]);
            var biasView = bias?.Bytes.Cast<float>() ?? bS.Bytes.Cast<float>();
            var plan = Fp8GemmPlan.For(m, n, k, device.HasWarpgroupMma, aq.DeviceAddress % 16 == 0 && bStored.DeviceAddress % 16 == 0,
                device.Kind == DeviceKind.Cuda, schedule);
            (shape.MTiles, shape.NTiles, shape.KTiles) = (plan.MTiles, plan.NTiles, plan.KTiles);
            var (aScales, bScales) = (aS.Bytes.Cast<float>(), bS.Bytes.Cast<float>());
            switch (plan.Kernel)
            {
                case Fp8GemmKernelKind.Decode:
                    device.Launch(Fp8GemmDecodeKernel.Variant(outputElement, perKBlock, device.EmulatesMma), new KernelConfig(plan.Grid, plan.Threads),
                        aq.Bytes, bStored.Bytes, aScales, bScales, biasView, output.Bytes, shape);
                    break;
                case Fp8GemmKernelKind.Mma:
                    device.Launch(Fp8GemmKernel.Variant(outputElement, perKBlock, device.EmulatesMma), new KernelConfig(plan.Grid, plan.Threads),
                        aq.Bytes, bStored.Bytes, aScales, bScales, biasView, output.Bytes, shape);
                    break;
                default:
                {
                    // Hopper: a producer warpgroup (the copy engine, through tensor maps) feeding two warpgroups of wgmma.
                    var config = new KernelConfig(new Index1D(plan.Grid), new Index1D(plan.Threads), SharedMemoryConfig.RequestDynamic<byte>(plan.SharedBytes));
                    var kernel = Fp8GemmWarpSpecializedKernel.Variant(outputElement, plan.BlockM, perKBlock, plan.WalksTiles);
                    // Boxes of 128 bytes of K: a's tile rows, b's 128 rows.
                    TensorMaps.With(device, new SwizzledTiles(aq.DeviceAddress, k, m, plan.BlockM), new SwizzledTiles(bStored.DeviceAddress, k, n, Fp8GemmWarpSpecializedKernel.BlockN),
                        (aMap, bMap) => device.Launch(kernel, config, aq.Bytes, bStored.Bytes, aScales, bScales, biasView, output.Bytes, shape,
                            aq.DeviceAddress, bStored.DeviceAddress, aMap, bMap, plan.Stages));
                    break;
                }
            }
            return output;
        }
        finally
        {
            foreach (var t in temporaries)
                t.Dispose();
        }
    }

    /// <summary>How fp8_gemm reads a scale: applied in the epilogue (tensor, row, column) or at each 128-deep promotion (group, block).</summary>
    private enum GemmScale { Tensor, Row, Column, Group, Block }

    /// <summary>An fp8_gemm scale: float32 on <paramref name="like"/>'s device, one element or one of the two shapes
    /// the operand takes. Per-group and per-block scales may be the transposed view of a contiguous tensor (a
    /// checkpoint's <c>[N/128, K/128]</c> <c>weight_scale_inv</c> seen as <c>[K/128, N/128]</c>); the others are contiguous.</summary>
    private static GemmScale GemmScaleOf(Tensor scale, string name, Tensor like, string likeName,
        (string Text, int[] Shape, GemmScale Mode) epilogue, (string Text, int[] Shape, GemmScale Mode) promoted)
    {
        Check.SameDevice(scale, name, like, likeName);
        Check.DType(scale, name, DType.Float32);
        GemmScale mode = scale.ElementCount == 1 && scale.Rank <= 2 ? GemmScale.Tensor
            : scale.Shape.SequenceEqual(epilogue.Shape) ? epilogue.Mode
            : scale.Shape.SequenceEqual(promoted.Shape) ? promoted.Mode
            : throw Check.ShapeMismatch(name, $"expected one element, {epilogue.Text} or {promoted.Text}, got shape {scale.ShapeText}.");
        bool transposedView = scale.Rank == 2 && scale.Strides[0] == 1 && scale.Strides[1] == scale.Shape[0];
        if (!scale.IsContiguous && !(mode is GemmScale.Group or GemmScale.Block && transposedView))
            throw Check.NonContiguous(name,
                $"expected a contiguous tensor{(mode is GemmScale.Group or GemmScale.Block ? " or the transposed view of one" : "")}, got shape {scale.ShapeText} with strides [{string.Join(", ", scale.Strides)}].");
        return mode;
    }

    /// <summary>A scale must be float32 on <paramref name="like"/>'s device, with one element or exactly <paramref name="perGroup"/>.</summary>
    private static void CheckScale(Tensor scale, string name, Tensor like, string likeName, int[] perGroup)
    {
        Check.SameDevice(scale, name, like, likeName);
        Check.DType(scale, name, DType.Float32);
        Check.Contiguous(scale, name);
        bool ok = scale.ElementCount == 1 || scale.Shape.SequenceEqual(perGroup);
        Check.Shape(ok, name, $"one element or [{string.Join(", ", perGroup)}]", scale);
    }
}
