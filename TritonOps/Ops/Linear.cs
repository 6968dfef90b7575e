using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Gemm;
using TritonOps.Kernels.Linear;

namespace TritonOps;

/// <summary>Where a 16-bit Linear with a residual rounds (float32 rounds nowhere but float32 either way).</summary>
public enum ResidualRounding
{
    /// <summary><c>x · Wᵀ (+ bias) + residual</c> in float32, rounded once: the more accurate form.</summary>
    Once,
    /// <summary>The product (+ bias) rounded into the dtype, then the residual added and the sum rounded again: PyTorch
    /// eager's <c>residual + linear(x)</c> (every Hugging Face decoder's residual adds after o_proj and down_proj).</summary>
    PerOp,
}

/// <summary>The kernel a Linear call runs on; Auto picks by dtype, device, rows and alignment.</summary>
internal enum LinearKernelChoice
{
    Auto,
    /// <summary>The general kernel: one thread an output, float32 sums (float32 x).</summary>
    Rows,
    /// <summary>Hopper's <c>wgmma</c> kernel fed by the copy engine.</summary>
    WarpSpecialized,
    /// <summary>M ≤ 64: the weight streamed once.</summary>
    Decode,
    /// <summary>Hopper, M ≤ 64, 16-byte rows: the weight's rows on <c>wgmma</c>'s M side, streamed through the copy engine's ring
    /// (Auto's for 17–64 rows with K ≥ <see cref="LinearPlan.SwappedDecodeMinK"/> and N ≥ <see cref="LinearPlan.SwappedDecodeMinN"/>: the reasons and the H100 figures are
    /// there; at M16 the strip kernel stays).</summary>
    SwappedDecode,
    /// <summary><c>mma.sync</c> fed by a <c>cp.async</c> ring of 162 KB (sm_80, or Hopper when pinned).</summary>
    Wide,
    /// <summary><c>mma.sync</c> staged through registers: rows that are not 16-byte aligned, or GPUs whose blocks cannot hold
    /// the wide ring (sm_86, sm_89).</summary>
    RegisterStaged,
}

/// <summary>
/// Which kernel takes a Linear call and how it is launched, from validated sizes and device capabilities alone (no GPU
/// needed: LinearTests call it for Hopper and older sizes on the CPU). 16-bit x runs on tensor cores on sm_80 and later:
/// decode (M ≤ 64) streams the weight once through <see cref="DecodeGemmKernel"/>, split along K when its tiles alone
/// would leave SMs idle; larger M takes Hopper's <see cref="WarpSpecializedGemmKernel"/> or, before Hopper, the
/// <c>cp.async</c> ring of <see cref="WideGemmKernel"/> where in is a multiple of 8, the operands 16-byte aligned and the
/// ring fits a block, else <see cref="RegisterStagedGemmKernel"/>. float32, in = 0 and GPUs before sm_80 (no 16-bit
/// m16n8k16 <c>mma.sync</c>) take the general <see cref="LinearRowsKernel"/>.
/// </summary>
/// <param name="Kernel">Never Auto.</param>
/// <param name="MTiles">Output tiles along M (decode: 16-row slices; the tiled kernels: 128 rows).</param>
/// <param name="NTiles">Output tiles along N (decode: 2 · 32 columns; warp-specialized and wide: 256; register-staged: 128).</param>
/// <param name="KTiles">The tiled kernels' K steps (warp-specialized: 128-byte steps of a row); otherwise 0.</param>
/// <param name="Split">Decode: how K is split (one split: none).</param>
/// <param name="Depth">Warp-specialized and wide: the ring's stages.</param>
/// <param name="GridX">Blocks along x (decode, register-staged: tiles; warp-specialized: tiles, or fewer that walk them;
/// wide: one wave that walks the tiles; rows: 16-column groups).</param>
/// <param name="GridY">Blocks along y (decode: K splits; rows: 16-row groups).</param>
/// <param name="BlockX">Threads along x.</param>
/// <param name="BlockY">Threads along y.</param>
/// <param name="SharedBytes">Dynamic shared memory a block.</param>
internal readonly record struct LinearPlan(LinearKernelChoice Kernel, int MTiles, int NTiles, int KTiles, DecodeSplit Split, int Depth,
    int GridX, int GridY, int BlockX, int BlockY, int SharedBytes)
{
    /// <summary>The warp-specialized kernel on fewer blocks than tiles: its blocks walk the tiles (a kernel type).</summary>
    public bool WalksTiles => Kernel == LinearKernelChoice.WarpSpecialized && (long)GridX < (long)MTiles * NTiles;

    /// <summary>Dynamic shared bytes of the wide kernel's ring at its default depth.</summary>
    public static int WideSharedBytes => WideGemmKernel.DefaultStages * WideGemmKernel.StageWords * 4;

    /// <summary>The shortest K for which Auto takes the swapped decode kernel at 17–64 rows (Hopper). The strip kernel
    /// streams W once per 16-row slice of x; the swapped one streams it once but meets its K splits through a float32
    /// workspace four slices deep, a tail that only a long K hides. H100, 2026-12-06 (M64, residual, bf16): in14336
    /// out4096 strip 102.7–103.2 µs, swapped 78.1–80.0; in4096 out4096 strip 33.1–33.2, swapped 47.9–49.3 (46.4 with
    /// four splits, 55.7 with two); at M16 the strip kernel stays (51.9 against 55.0 for the down projection). Since the
    /// splits meet spread over the tile's warps (12-07) the down projection at M64 runs 50.2 µs on the H200 (67.3 before);
    /// q/o-sized: H200 12-07 in4096 out4096 +residual swapped 27.6 µs against strip 33.7 (the decoder layer's decode
    /// 222 → 211 µs); k/v-sized (out1024, H100) swapped 18.6 against strip 14.3: so from K 4096 where N ≥ <see cref="SwappedDecodeMinN"/>.</summary>
    public const int SwappedDecodeMinK = 4096;

    /// <summary>The fewest output columns for which Auto takes the swapped decode kernel (16 tiles of 256: with fewer, the
    /// split-K meeting dominates; see <see cref="SwappedDecodeMinK"/>).</summary>
    public const int SwappedDecodeMinN = 4096;

    /// <summary>128-row weight boxes a tile of Linear's swapped decode kernel: one box and one consumer warpgroup, twice the
    /// tiles and half the splits of two boxes (H100 12-07: M64 down 61.6 → 59.3 µs, q-size 32.0 → 29.6).</summary>
    public const int SwappedBoxes = 1;

    /// <param name="m">Rows of x (the product of its leading dimensions), ≥ 1.</param>
    /// <param name="n">out, ≥ 1.</param>
    /// <param name="k">in, ≥ 0.</param>
    /// <param name="elementBytes">4 (float32) or 2 (float16, bfloat16).</param>
    /// <param name="hasWarpgroupMma">The device runs <c>wgmma</c> (Hopper, or the CPU accelerator's emulation).</param>
    /// <param name="hasMmaSync">The device runs the 16-bit m16n8k16 <c>mma.sync</c> and <c>cp.async</c> (sm_80+, or the CPU
    /// accelerator).</param>
    /// <param name="aligned16">x and the weight start on 16 bytes.</param>
    /// <param name="maxSharedBytesPerBlock">The shared memory a block may opt in to (the wide ring takes <see cref="WideSharedBytes"/>).</param>
    /// <param name="decodeResidentBlocks">How many decode blocks the device holds at once (SMs · blocks an SM).</param>
    /// <param name="wideResidentBlocks">How many wide blocks it holds at once with <see cref="WideSharedBytes"/> (the wide grid).</param>
    /// <param name="choice">Auto, or a kernel pinned by tests and benchmarks (refused where it cannot run).</param>
    /// <param name="splitK">Decode: 0 picks the split, 1 none, more that many.</param>
    /// <param name="blocks">Warp-specialized: a grid smaller than the tile count (its blocks walk the tiles; null: a block a
    /// tile); wide: a grid other than one wave.</param>
    /// <param name="multiprocessors">The device's SMs (the swapped decode kernel's split: one block an SM).</param>
    /// <param name="stages">Swapped decode: the ring's stages instead of its default (benchmark A/Bs: a shallower ring
    /// lets two blocks share an SM); the other kernels keep their own depth.</param>
    public static LinearPlan For(int m, int n, int k, int elementBytes, bool hasWarpgroupMma, bool hasMmaSync, bool aligned16, int maxSharedBytesPerBlock,
        int decodeResidentBlocks, int wideResidentBlocks, LinearKernelChoice choice = LinearKernelChoice.Auto, int splitK = 0, int? blocks = null,
        int multiprocessors = 132, int? stages = null)
    {
        if (blocks < 1)
            throw Check.OutOfRange(nameof(blocks), blocks, "expected at least 1.");
        if (stages < 2)
            throw Check.OutOfRange(nameof(stages), stages, "expected at least 2.");
        bool tensorCores = elementBytes == 2 && k > 0 && hasMmaSync, rows16 = k % 8 == 0 && aligned16;
        bool wideFits = WideSharedBytes <= maxSharedBytesPerBlock;
        bool canRun = choice switch
        {
            LinearKernelChoice.WarpSpecialized => tensorCores && hasWarpgroupMma && rows16,
            LinearKernelChoice.Wide => tensorCores && rows16 && wideFits,
            LinearKernelChoice.Decode => tensorCores && m <= DecodeGemmKernel.MaxRows,
            LinearKernelChoice.SwappedDecode => tensorCores && hasWarpgroupMma && rows16 && m <= SwappedDecodeGemmKernel.MaxRows,
            LinearKernelChoice.RegisterStaged => tensorCores,
            _ => true,
        };
        if (!canRun)
            throw new InvalidOperationException($"The pinned {choice} Linear kernel cannot take this call ({(elementBytes == 2 ? "16-bit" : "float32")} x, " +
                $"M {m}, in {k}{(rows16 ? "" : ", rows not 16-byte aligned")}{(hasWarpgroupMma ? "" : ", no wgmma")}{(hasMmaSync ? "" : ", no sm_80 mma.sync")}" +
                $"{(wideFits ? "" : $", {maxSharedBytesPerBlock} shared bytes a block")}).");
        if (choice == LinearKernelChoice.Auto)
            choice = !tensorCores ? LinearKernelChoice.Rows
                : m > StripMma.SliceRows && m <= SwappedDecodeGemmKernel.MaxRows && k >= SwappedDecodeMinK && n >= SwappedDecodeMinN && hasWarpgroupMma && rows16
                    ? LinearKernelChoice.SwappedDecode
                : m <= DecodeGemmKernel.MaxRows ? LinearKernelChoice.Decode
                : hasWarpgroupMma && rows16 ? LinearKernelChoice.WarpSpecialized
                : rows16 && wideFits ? LinearKernelChoice.Wide
                : LinearKernelChoice.RegisterStaged;
        switch (choice)
        {
            case LinearKernelChoice.Decode:
            {
                // Two 8-row strips of W a warp against 16-row slices of x (the gated MLP's decode kernel, Linear epilogue).
                int mTiles = Ops.Tiles(m, StripMma.SliceRows), nTiles = Ops.Tiles(n, 2 * DecodeGemmKernel.BlockN);
                var split = DecodeSplit.For(checked(mTiles * nTiles), k, decodeResidentBlocks, splitK);
                return new LinearPlan(LinearKernelChoice.Decode, mTiles, nTiles, 0, split, 0, mTiles * nTiles, split.Splits,
                    DecodeGemmKernel.Threads, 1, 0);
            }
            case LinearKernelChoice.SwappedDecode:
            {
                // x's 16 or 64 rows and SwappedBoxes × 128 rows of W a stage; K split so that every SM streams (one block an SM).
                int nTiles = Ops.Tiles(n, SwappedBoxes * SwappedDecodeGemmKernel.BlockN), kTiles = Ops.Tiles(k, SwappedDecodeGemmKernel.BlockK);
                var split = DecodeSplit.ForSwapped(nTiles, kTiles, multiprocessors, splitK);
                int slices = SwappedDecodeGemmKernel.SlicesFor(m), depth = stages ?? SwappedDecodeGemmKernel.DefaultStages(slices, SwappedBoxes);
                if (stages is int asked && SwappedDecodeGemmKernel.SharedBytes(asked, slices, SwappedBoxes) > maxSharedBytesPerBlock)
                    throw Check.OutOfRange(nameof(stages), stages, $"a ring of {asked} stages needs {SwappedDecodeGemmKernel.SharedBytes(asked, slices, SwappedBoxes)} " +
                        $"shared bytes a block; the device lends {maxSharedBytesPerBlock}.");
                return new LinearPlan(LinearKernelChoice.SwappedDecode, 1, nTiles, kTiles, split, depth, nTiles, split.Splits,
                    SwappedDecodeGemmKernel.ThreadsFor(SwappedBoxes), 1, SwappedDecodeGemmKernel.SharedBytes(depth, slices, SwappedBoxes));
            }
            case LinearKernelChoice.WarpSpecialized:
            {
                // 128 rows of x and 2 × 128 rows of W a stage.
                int mTiles = Ops.Tiles(m, WarpSpecializedGemmKernel.BlockM), nTiles = Ops.Tiles(n, 2 * WarpSpecializedGemmKernel.BlockN);
                int depth = WarpSpecializedGemmKernel.DefaultStages;
                int tiles = checked(mTiles * nTiles);
                return new LinearPlan(LinearKernelChoice.WarpSpecialized, mTiles, nTiles, Ops.Tiles(2 * k, WarpSpecializedGemmKernel.BlockKBytes),
                    DecodeSplit.None, depth, Math.Min(tiles, blocks ?? tiles), 1, WarpSpecializedGemmKernel.Threads, 1, WarpSpecializedGemmKernel.SharedBytes(depth));
            }
            case LinearKernelChoice.Wide:
            {
                // 128 rows of x and 2 × 128 rows of W a stage; one wave of blocks walks the tiles.
                int mTiles = Ops.Tiles(m, WideGemmKernel.BlockM), nTiles = Ops.Tiles(n, 2 * WideGemmKernel.BlockN);
                int tiles = checked(mTiles * nTiles);
                return new LinearPlan(LinearKernelChoice.Wide, mTiles, nTiles, Ops.Tiles(k, WideGemmKernel.BlockK), DecodeSplit.None,
                    WideGemmKernel.DefaultStages, Math.Min(tiles, blocks ?? Math.Max(1, wideResidentBlocks)), 1, WideGemmKernel.Threads, 1, WideSharedBytes);
            }
            case LinearKernelChoice.RegisterStaged:
            {
                // 128 rows of x and 2 × 64 rows of W a k tile.
                int mTiles = Ops.Tiles(m, RegisterStagedGemmKernel.BlockM), nTiles = Ops.Tiles(n, 2 * RegisterStagedGemmKernel.BlockN);
                return new LinearPlan(LinearKernelChoice.RegisterStaged, mTiles, nTiles, Ops.Tiles(k, RegisterStagedGemmKernel.BlockK), DecodeSplit.None,
                    0, checked(mTiles * nTiles), 1, RegisterStagedGemmKernel.Threads, 1, 0);
            }
            default:
                return new LinearPlan(LinearKernelChoice.Rows, 0, 0, 0, DecodeSplit.None, 0, Ops.Tiles(n, LinearRowsKernel.Side), Ops.Tiles(m, LinearRowsKernel.Side),
                    LinearRowsKernel.Side, LinearRowsKernel.Side, 0);
        }
    }
}

/// <summary>How the decode kernel splits K: <paramref name="Splits"/> ranges of <paramref name="Length"/> (a multiple of
/// the kernel's K granule), enough blocks to fill the chip without ranges shorter than 512; 1 split: none.</summary>
internal readonly record struct DecodeSplit(int Splits, int Length)
{
    public static DecodeSplit None => new(1, 0);

    /// <param name="tiles">Output tiles of the launch.</param>
    /// <param name="k">The reduction length.</param>
    /// <param name="residentBlocks">Decode blocks the device holds at once.</param>
    /// <param name="requested">0 picks; otherwise that many (fewer when the ranges would be empty).</param>
    public static DecodeSplit For(int tiles, int k, int residentBlocks, int requested)
    {
        int splits = requested != 0 ? requested : Math.Clamp(residentBlocks / Math.Max(1, tiles), 1, Math.Max(1, k / 512));
        const int Granule = DecodeGemmKernel.KParts * StripMma.KStep;
        int length = Ops.Tiles(Ops.Tiles(k, splits), Granule) * Granule;
        splits = Math.Max(1, Ops.Tiles(k, length));
        return splits == 1 ? None : new DecodeSplit(splits, length);
    }

    /// <summary>The swapped decode kernel's split (<see cref="SwappedDecodeGemmKernel"/>, one block an SM): as many splits
    /// as leave no SM idle for <paramref name="tiles"/> tiles, each at least four 64-deep k tiles long; lengths in whole k
    /// tiles.</summary>
    public static DecodeSplit ForSwapped(int tiles, int kTiles, int multiprocessors, int requested)
    {
        int splits = requested != 0 ? requested : Math.Clamp(multiprocessors / Math.Max(1, tiles), 1, Math.Max(1, kTiles / 4));
        int length = Ops.Tiles(kTiles, Math.Max(1, splits));
        splits = Ops.Tiles(kTiles, length);
        return splits <= 1 ? None : new DecodeSplit(splits, length * SwappedDecodeGemmKernel.BlockK);
    }
}

public static partial class Ops
{

    /// <summary>
    /// <c>x · weightᵀ (+ bias) (+ residual)</c>, as nn.Linear with the residual add of a transformer block fused in:
    /// the bias and the residual are added in float32 to the float32 sum, rounded once into x's dtype (or the product
    /// rounded before the residual is added, <see cref="ResidualRounding.PerOp"/>).
    /// float16 and bfloat16 run on tensor cores on every GPU: Hopper's warpgroup tensor cores (the copy engine feeding
    /// <c>wgmma</c>, 128 × 256 output tiles: the gated MLP's mainloop with a plain epilogue) when the input size is a
    /// multiple of 8 and the operands 16-byte aligned, <c>mma.sync</c> before Hopper or for other sizes, and a
    /// weight-streaming kernel at M ≤ 64; float32 takes a general kernel (correct, not fast). The down projection that completes
    /// an MLP is <c>Linear(FusedGatedMlp(x), down, residual: x)</c>.
    /// </summary>
    /// <param name="x"><c>[…, in]</c>: any leading dims, float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[out, in]</c> as nn.Linear stores it, x's dtype, contiguous.</param>
    /// <param name="bias">Optional <c>[out]</c>, x's dtype.</param>
    /// <param name="residual">Optional, the output's shape <c>[…, out]</c> and x's dtype; may also be <paramref name="output"/>.</param>
    /// <param name="output">Optional destination <c>[…, out]</c> of x's dtype.</param>
    /// <param name="rounding">With a residual: <see cref="ResidualRounding.Once"/> (the default), or
    /// <see cref="ResidualRounding.PerOp"/> to round the product before the add as PyTorch eager does.</param>
    /// <returns><c>[…, out]</c> in x's dtype.</returns>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null, Tensor? residual = null, Tensor? output = null,
        ResidualRounding rounding = ResidualRounding.Once) =>
        Linear(x, weight, bias, residual, output, LinearKernelChoice.Auto, rounding: rounding);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual, Tensor? output, LinearKernelChoice choice,
        int splitK = 0, ResidualRounding rounding = ResidualRounding.Once, int? blocks = null, int? stages = null)
    {
        Check.Defined(rounding, nameof(rounding));
        Check.Usable(x, nameof(x));
        Check.Usable(weight, nameof(weight));
        Check.SameDevice(weight, nameof(weight), x, nameof(x));
        if (bias is not null) Check.SameDevice(bias, nameof(bias), x, nameof(x));
        if (residual is not null) Check.SameDevice(residual, nameof(residual), x, nameof(x));
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        Check.SameDType(weight, nameof(weight), x, nameof(x));
        if (bias is not null) Check.SameDType(bias, nameof(bias), x, nameof(x));
        if (residual is not null) Check.SameDType(residual, nameof(residual), x, nameof(x));
        Check.Shape(x.Rank >= 1, nameof(x), "[…, in] (rank ≥ 1)", x);
        Check.Rank(weight, nameof(weight), 2, "[out, in]");
        int inFeatures = x.Shape[^1], outFeatures = weight.Shape[0];
        Check.Dim(weight, nameof(weight), 1, inFeatures, "in, from x's last dimension");
        int[] outShape = x.Shape.ToArray();
        outShape[^1] = outFeatures;
        if (bias is not null)
            Check.Shape(bias.Rank == 1 && bias.Shape[0] == outFeatures, nameof(bias), $"[out = {outFeatures}]", bias);
        if (residual is not null)
            Check.Shape(residual.Shape.SequenceEqual(outShape), nameof(residual), $"the output's shape [{string.Join(", ", outShape)}]", residual);
        Check.Contiguous(x, nameof(x));
        Check.Contiguous(weight, nameof(weight));
        if (bias is not null) Check.Contiguous(bias, nameof(bias));
        if (residual is not null) Check.Contiguous(residual, nameof(residual));
        if (output is not null)
            CheckOutput(output, x, outShape);

        var device = x.Device;
        using var gate = device.Enter();
        output ??= Tensor.Empty(outShape, x.DType, device);
        long rows = x.ElementCount / Math.Max(1, inFeatures);
        if (inFeatures == 0)
            rows = outFeatures == 0 ? 0 : output.ElementCount / outFeatures;
        int m = checked((int)rows);
        if (m == 0 || outFeatures == 0)
            return output;
        bool aligned = (x.DeviceAddress | weight.DeviceAddress) % 16 == 0;
        // Whole 16-byte chunks load as one access only where every row starts on 16 bytes: K % 8 == 0 and aligned operands.
        var shape = new GatedMlpShape { M = m, N = outFeatures, K = inFeatures, KAligned = inFeatures % 8 == 0 && aligned ? 1 : 0 };
        var epilogue = new EpilogueArgs
        {
            Bias = (bias ?? output).Bytes, Residual = (residual ?? output).Bytes,
            HasBias = bias is null ? 0 : 1, HasResidual = residual is null ? 0 : 1,
            RoundBeforeResidual = rounding == ResidualRounding.PerOp && x.DType != DType.Float32 ? 1 : 0,
        };
        bool sixteenBit = x.DType != DType.Float32 && inFeatures > 0 && device.HasMmaSync;
        int maxShared = sixteenBit ? device.MaxSharedBytesPerBlock : 0;
        // The decode kernel's occupancy, only where the plan may pick it and pick its split; the wide kernel's only where it
        // may pick that one (off Hopper, or pinned), so no other call compiles the wide kernel for an occupancy figure.
        int resident = !sixteenBit || m > DecodeGemmKernel.MaxRows || splitK != 0 || choice is not (LinearKernelChoice.Auto or LinearKernelChoice.Decode) ? 0
            : device.Multiprocessors * device.BlocksPerMultiprocessor(DecodeGemmKernel.LinearVariant(ElementTypeOf(x.DType), device.EmulatesMma), DecodeGemmKernel.Threads);
        bool mayPickWide = choice == LinearKernelChoice.Wide
            || choice == LinearKernelChoice.Auto && !device.HasWarpgroupMma && m > DecodeGemmKernel.MaxRows && inFeatures % 8 == 0 && aligned;
        int wideResident = !sixteenBit || !mayPickWide || LinearPlan.WideSharedBytes > maxShared ? 0
            : device.Multiprocessors * device.BlocksPerMultiprocessor(WideGemmKernel.LinearVariant(ElementTypeOf(x.DType), device.EmulatesMma), WideGemmKernel.Threads,
                LinearPlan.WideSharedBytes);
        var plan = LinearPlan.For(m, outFeatures, inFeatures, DTypes.SizeOf(x.DType), device.HasWarpgroupMma, device.HasMmaSync, aligned, maxShared,
            resident, wideResident, choice, splitK, blocks, device.Multiprocessors, stages);
        shape.MTiles = plan.MTiles;
        shape.NTiles = plan.NTiles;
        shape.KTiles = plan.KTiles;
        switch (plan.Kernel)
        {
            case LinearKernelChoice.Decode:
                LaunchDecode(device, DecodeGemmKernel.LinearVariant(ElementTypeOf(x.DType), device.EmulatesMma), x, weight, weight, output, shape, epilogue, plan.Split);
                break;
            case LinearKernelChoice.SwappedDecode:
                LaunchSwappedDecode(device, SwappedDecodeGemmKernel.LinearVariant(ElementTypeOf(x.DType), SwappedDecodeGemmKernel.SlicesFor(m), LinearPlan.SwappedBoxes),
                    x, weight, weight, output, shape, epilogue, plan.Split, plan.Depth, LinearPlan.SwappedBoxes);
                break;
            case LinearKernelChoice.WarpSpecialized:
                LaunchLinearWarpSpecialized(x, weight, output, shape, epilogue, plan);
                break;
            case LinearKernelChoice.Wide:
                device.Launch(WideGemmKernel.LinearVariant(ElementTypeOf(x.DType), device.EmulatesMma),
                    new KernelConfig(new Index1D(plan.GridX), new Index1D(plan.BlockX), SharedMemoryConfig.RequestDynamic<uint>(plan.SharedBytes / 4)),
                    x.Bytes, weight.Bytes, weight.Bytes, output.Bytes, shape,
                    new GatedMlpAddresses { X = x.DeviceAddress, Gate = weight.DeviceAddress, Up = weight.DeviceAddress }, plan.Depth, epilogue);
                break;
            case LinearKernelChoice.RegisterStaged:
                device.Launch(RegisterStagedGemmKernel.LinearVariant(ElementTypeOf(x.DType), device.EmulatesMma), new KernelConfig(plan.GridX, plan.BlockX),
                    x.Bytes, weight.Bytes, weight.Bytes, output.Bytes, shape, epilogue);
                break;
            default:
                device.Launch(LinearRowsKernel.Variant(ElementTypeOf(x.DType)), new KernelConfig(new Index2D(plan.GridX, plan.GridY), new Index2D(plan.BlockX, plan.BlockY)),
                    x.Bytes, weight.Bytes, output.Bytes, shape, epilogue);
                break;
        }
        return output;
    }

    /// <summary>
    /// The decode kernel (<see cref="DecodeGemmKernel"/>), split along K as <paramref name="split"/> says
    /// (<see cref="DecodeSplit.For"/>: Llama's down projection at M = 16 makes 64 output tiles of 64 columns for 132 SMs).
    /// Each split streams its range of the weight; the last block to finish a tile adds the splits' float32 sums in split
    /// order (deterministic) and stores.
    /// </summary>
    private static void LaunchDecode(Device device, System.Reflection.MethodInfo kernel, Tensor x, Tensor first, Tensor second,
        Tensor output, GatedMlpShape shape, EpilogueArgs epilogue, DecodeSplit split)
    {
        int tiles = checked(shape.MTiles * shape.NTiles);
        int splits = split.Splits, length = split.Length;
        if (splits == 1)
        {
            device.Launch(kernel, new KernelConfig(tiles, DecodeGemmKernel.Threads), x.Bytes, first.Bytes, second.Bytes, output.Bytes, shape, epilogue);
            return;
        }
        shape.KSplits = splits;
        shape.KSplitLength = length;
        // Two Acc4 per owning lane per (tile, split); one arrival counter a tile (the last block of each resets its own).
        WithSplitWorkspace(device, checked(tiles * splits * DecodeGemmKernel.RegionFloats), tiles, epilogue, withWorkspace =>
            device.Launch(kernel, new KernelConfig(new Index2D(tiles, splits), new Index2D(DecodeGemmKernel.Threads, 1)),
                x.Bytes, first.Bytes, second.Bytes, output.Bytes, shape, withWorkspace));
    }

    /// <summary>
    /// Hopper, M ≤ 64: <see cref="SwappedDecodeGemmKernel"/> (the gated MLP's or Linear's epilogue), x in 16- or 64-row boxes and the
    /// weights in 128-row boxes of the copy engine; split along K as <paramref name="split"/> says, the splits meeting
    /// in split order (deterministic, the same bits either way) through a float32 workspace or in a cluster's shared memory.
    /// </summary>
    internal static void LaunchSwappedDecode(Device device, System.Reflection.MethodInfo kernel, Tensor x, Tensor first, Tensor second,
        Tensor output, GatedMlpShape shape, EpilogueArgs epilogue, DecodeSplit split, int depth, int boxes = 2)
    {
        int tiles = shape.NTiles, slices = SwappedDecodeGemmKernel.SlicesFor(shape.M);
        int sharedBytes = SwappedDecodeGemmKernel.SharedBytes(depth, slices, boxes);
        // On CUDA the tile's splits meet in one thread-block cluster's shared memory where the driver says a cluster a tile
        // can all run at once (a second wave of clusters would cost more than the meeting saves). H100, 12-07: at M64 the
        // q/k/v product's 48 tiles × 2 splits 35.6 → 30.5 µs; the layer's decode 234.5 → 219.2 µs with box1 and pdl.
        bool inCluster = false;
        if (device.Kind == DeviceKind.Cuda && SwappedDecodeGemmKernel.HasCluster(split.Splits)
            && SwappedDecodeGemmKernel.RingHoldsPartials(depth, slices, boxes))
        {
            var clustered = SwappedDecodeGemmKernel.InCluster(kernel, split.Splits);
            if (device.MaxActiveClusters(clustered, tiles, split.Splits, SwappedDecodeGemmKernel.ThreadsFor(boxes), sharedBytes) >= tiles)
            {
                kernel = clustered;
                inCluster = true;
                Interlocked.Increment(ref device.ClusterMeetings);
            }
        }
        shape.KSplits = split.Splits;
        shape.KSplitLength = split.Length;
        var config = new KernelConfig(new Index2D(tiles, split.Splits), new Index2D(SwappedDecodeGemmKernel.ThreadsFor(boxes), 1),
            SharedMemoryConfig.RequestDynamic<byte>(sharedBytes));
        var addresses = new GatedMlpAddresses { X = x.DeviceAddress, Gate = first.DeviceAddress, Up = second.DeviceAddress };
        long rowBytes = 2L * shape.K;
        void Launch(EpilogueArgs args) => TensorMaps.With(device, new SwizzledTiles(addresses.X, rowBytes, shape.M, slices * SwappedDecodeGemmKernel.SliceRows),
            new SwizzledTiles(addresses.Gate, rowBytes, shape.N, SwappedDecodeGemmKernel.BlockN),
            new SwizzledTiles(addresses.Up, rowBytes, shape.N, SwappedDecodeGemmKernel.BlockN),
            (xMap, firstMap, secondMap) => device.Launch(kernel, config, x.Bytes, first.Bytes, second.Bytes, output.Bytes, shape, addresses,
                xMap, firstMap, secondMap, depth, args));
        if (split.Splits == 1 || inCluster) // a cluster meets in its own shared memory: no workspace, no counters
        {
            Launch(epilogue);
            return;
        }
        // 16 floats a consumer thread and x slice per (tile, split); three counters a tile (the last warp to leave resets them).
        WithSplitWorkspace(device, checked(tiles * split.Splits * SwappedDecodeGemmKernel.RegionFloats(slices, boxes)),
            tiles * SwappedDecodeGemmKernel.CountersATile, epilogue, Launch);
    }

    /// <summary>Runs <paramref name="launch"/> with <paramref name="epilogue"/>'s split-K workspace set: <paramref name="floats"/>
    /// float32 partial sums (a pooled buffer for this call) and at least <paramref name="counters"/> arrival counters, which live
    /// with the device and which every launch leaves at zero.</summary>
    private static void WithSplitWorkspace(Device device, int floats, int counters, EpilogueArgs epilogue, Action<EpilogueArgs> launch)
    {
        using var partials = Tensor.Empty([floats], DType.Float32, device);
        int pool = Math.Max(1024, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)counters));
        device.WithConstantTensor(("split-k arrivals", pool), key => new byte[4 * key.pool], arrivals =>
        {
            epilogue.Partials = partials.Bytes.Cast<float>();
            epilogue.PartialsAddress = partials.DeviceAddress;
            epilogue.Arrivals = arrivals.Bytes.Cast<int>();
            launch(epilogue);
        });
    }

    /// <summary>Hopper: <see cref="WarpSpecializedGemmKernel"/> with <see cref="LinearEpilogue{TElement}"/>: the copy engine
    /// brings 128 rows of x and 2 × 128 rows of W a stage; each block makes a 128 × 256 output tile.</summary>
    private static void LaunchLinearWarpSpecialized(Tensor x, Tensor weight, Tensor output, GatedMlpShape shape, EpilogueArgs epilogue, LinearPlan plan)
    {
        var device = x.Device;
        var kernel = WarpSpecializedGemmKernel.LinearVariant(ElementTypeOf(x.DType), plan.WalksTiles);
        var config = new KernelConfig(new Index1D(plan.GridX), new Index1D(plan.BlockX), SharedMemoryConfig.RequestDynamic<byte>(plan.SharedBytes));
        var addresses = new GatedMlpAddresses { X = x.DeviceAddress, Gate = weight.DeviceAddress, Up = weight.DeviceAddress };
        long rowBytes = 2L * shape.K;
        // x and W in boxes of 64 elements of K and 128 rows (a tile's second W box may lie wholly past N: it reads zeros
        // and its columns are not stored).
        TensorMaps.With(device, new SwizzledTiles(addresses.X, rowBytes, shape.M, WarpSpecializedGemmKernel.BlockM),
            new SwizzledTiles(addresses.Gate, rowBytes, shape.N, WarpSpecializedGemmKernel.BlockN),
            (xMap, wMap) => device.Launch(kernel, config, x.Bytes, weight.Bytes, weight.Bytes, output.Bytes, shape, addresses, xMap, wMap, wMap, plan.Depth, epilogue));
    }
}
