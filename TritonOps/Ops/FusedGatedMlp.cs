using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Activations;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.Gemm;
using TritonOps.Kernels.Linear;

namespace TritonOps;

/// <summary>Activation of a gated MLP's gate branch.</summary>
public enum Activation
{
    /// <summary>x · sigmoid(x) ("silu", as in Llama's SwiGLU).</summary>
    Silu,
    /// <summary>x/2 · (1 + erf(x/√2)) ("gelu", PyTorch's default exact form).</summary>
    Gelu,
    /// <summary>x/2 · (1 + tanh(√(2/π)(x + 0.044715x³))) ("gelu_tanh", PyTorch's approximate="tanh").</summary>
    GeluTanh,
}

/// <summary>The gated-MLP kernels (<see cref="GatedMlpPlan"/>); Auto picks by shape and device. Float32 is what
/// <see cref="GatedMlpPlan"/> reports for the plain float32 kernel (not pinnable).</summary>
internal enum GatedMlpTiling
{
    Auto,
    RegisterStaged,
    Wide,
    WarpSpecialized,
    Float32,
    Decode,
    /// <summary>Hopper, M ≤ 64, 16-byte rows: gate's and up's rows on <c>wgmma</c>'s M side (<see cref="SwappedDecodeGemmKernel"/>; the op
    /// picks it at M ≤ 16: H4096 I14336 bf16 85.6 µs against the strip kernel's 100.4, 1.10 × the weight-streaming floor, on an
    /// H100 2026-12-06; at M64 it ties the warp-specialized tiles, 94.7 against 93.5).</summary>
    SwappedDecode,
}

/// <summary>
/// Which kernel takes a fused_gated_mlp call and how it is launched, from validated sizes and device capabilities alone
/// (FusedGatedMlpTests call it for Hopper sizes on the CPU). float32: the plain kernel, 16 × 16 outputs a block. 16-bit
/// with M ≤ the decode bound: the decode kernel (weights streamed once, K split to fill the chip). Otherwise a tiled
/// kernel: Hopper's warp-specialized <c>wgmma</c> kernel, the <c>mma.sync</c> wide kernel where cp.async runs, the
/// register-staged one for any K.
/// </summary>
/// <param name="Tiling">The kernel (never Auto).</param>
/// <param name="MTiles">Output tiles along M (0 for float32).</param>
/// <param name="NTiles">Output tiles along N.</param>
/// <param name="KTiles">K steps of the tiled kernels' rings (the register-staged and float32 kernels: 64-wide steps).</param>
/// <param name="Split">Decode: how K is split.</param>
/// <param name="Depth">Ring stages (wide and warp-specialized).</param>
/// <param name="GridX">Blocks along x (the wide kernel: persistent, at most one wave).</param>
/// <param name="GridY">Blocks along y (float32: 16-row groups; decode: K splits).</param>
/// <param name="BlockX">Threads along x.</param>
/// <param name="BlockY">Threads along y.</param>
/// <param name="SharedBytes">Dynamic shared memory a block.</param>
internal readonly record struct GatedMlpPlan(GatedMlpTiling Tiling, int MTiles, int NTiles, int KTiles, DecodeSplit Split, int Depth,
    int GridX, int GridY, int BlockX, int BlockY, int SharedBytes)
{
    /// <summary>The warp-specialized kernel on fewer blocks than tiles: its blocks walk the tiles (a kernel type).</summary>
    public bool WalksTiles => Tiling == GatedMlpTiling.WarpSpecialized && (long)GridX < (long)MTiles * NTiles;

    /// <param name="m">batch · seq, ≥ 1.</param>
    /// <param name="n">intermediate, ≥ 1.</param>
    /// <param name="k">hidden, ≥ 1.</param>
    /// <param name="elementBytes">4 (float32) or 2.</param>
    /// <param name="decodeRows">The largest M the decode kernel takes here (<c>Ops.DecodeRows</c>: 16 where Hopper's tensor
    /// maps can take the operands, else 64).</param>
    /// <param name="asyncRows">cp.async runs and the rows are 16-byte aligned (hidden % 8 == 0, aligned operands).</param>
    /// <param name="hasWarpgroupMma">The device runs <c>wgmma</c>.</param>
    /// <param name="multiprocessors">SMs (the wide kernel's persistent grid, the decode split).</param>
    /// <param name="blocksPerMultiprocessor">Occupancy of a kernel: (tiling, threads, dynamic shared bytes) → blocks an SM.</param>
    /// <param name="tiling">Auto, or a tiled kernel pinned by tests and benchmarks (for any M).</param>
    /// <param name="stages">A ring depth instead of the default (wide: 2 to its maximum).</param>
    /// <param name="blocks">The wide kernel's persistent grid instead of one wave; the warp-specialized kernel's grid instead of
    /// one block a tile (its blocks then walk the tiles, the next tile's loads overlapping the last one's stores).</param>
    /// <param name="maxSharedBytesPerBlock">The shared memory a block may opt in to: the wide ring (54 KB a stage) needs two
    /// stages at least and is the default only where its default depth fits (227 KB on Hopper, 163 KB on A100; not the
    /// 99 KB of sm_86 and sm_89, which take the register-staged kernel).</param>
    public static GatedMlpPlan For(int m, int n, int k, int elementBytes, int decodeRows, bool asyncRows, bool hasWarpgroupMma,
        int multiprocessors, Func<GatedMlpTiling, int, int, int> blocksPerMultiprocessor,
        GatedMlpTiling tiling = GatedMlpTiling.Auto, int? stages = null, int? blocks = null, int maxSharedBytesPerBlock = 227 * 1024)
    {
        int kTiles = Ops.Tiles(k, RegisterStagedGemmKernel.BlockK);
        if (elementBytes == 4)
            return new GatedMlpPlan(GatedMlpTiling.Float32, 0, 0, kTiles, DecodeSplit.None, 0, Ops.Tiles(n, 16), Ops.Tiles(m, 16), 16, 16, 0);
        if (tiling == GatedMlpTiling.Auto && m <= decodeRows && m <= SwappedDecodeGemmKernel.SliceRows && hasWarpgroupMma && asyncRows)
            tiling = GatedMlpTiling.SwappedDecode;
        if (tiling == GatedMlpTiling.SwappedDecode)
        {
            if (!(hasWarpgroupMma && asyncRows && m <= SwappedDecodeGemmKernel.MaxRows))
                throw Check.Unusable(nameof(tiling), $"SwappedDecode needs wgmma, 16-byte rows (hidden % 8 == 0) and M ≤ {SwappedDecodeGemmKernel.MaxRows}, got hidden {k}, M {m}.");
            int nTiles = Ops.Tiles(n, SwappedDecodeGemmKernel.BlockN), swappedKTiles = Ops.Tiles(k, SwappedDecodeGemmKernel.BlockK);
            var split = DecodeSplit.ForSwapped(nTiles, swappedKTiles, multiprocessors, requested: 0);
            int slices = SwappedDecodeGemmKernel.SlicesFor(m), depth = SwappedDecodeGemmKernel.DefaultStages(slices);
            return new GatedMlpPlan(GatedMlpTiling.SwappedDecode, 1, nTiles, swappedKTiles, split, depth, nTiles, split.Splits,
                SwappedDecodeGemmKernel.Threads, 1, SwappedDecodeGemmKernel.SharedBytes(depth, slices));
        }
        if (tiling == GatedMlpTiling.Decode && m > DecodeGemmKernel.MaxRows)
            throw Check.Unusable(nameof(tiling), $"Decode takes M ≤ {DecodeGemmKernel.MaxRows}, got M {m}.");
        if (tiling == GatedMlpTiling.Decode || tiling == GatedMlpTiling.Auto && m <= decodeRows)
        {
            int mTiles = Ops.Tiles(m, StripMma.SliceRows), nTiles = Ops.Tiles(n, DecodeGemmKernel.BlockN);
            int resident = multiprocessors * blocksPerMultiprocessor(GatedMlpTiling.Decode, DecodeGemmKernel.Threads, 0);
            var split = DecodeSplit.For(checked(mTiles * nTiles), k, resident, requested: 0);
            return new GatedMlpPlan(GatedMlpTiling.Decode, mTiles, nTiles, kTiles, split, 0, mTiles * nTiles, split.Splits, DecodeGemmKernel.Threads, 1, 0);
        }
        if (tiling == GatedMlpTiling.Auto)
            // Hopper's wgmma kernel where it runs (sm_90, and emulated on the CPU accelerator, where it is the cheaper one
            // to emulate); the mma.sync wide kernel on other GPUs.
            tiling = !asyncRows ? GatedMlpTiling.RegisterStaged : hasWarpgroupMma ? GatedMlpTiling.WarpSpecialized
                : WideGemmKernel.DefaultStages * WideGemmKernel.StageWords * 4 <= maxSharedBytesPerBlock ? GatedMlpTiling.Wide
                : GatedMlpTiling.RegisterStaged;
        if (tiling is GatedMlpTiling.Wide or GatedMlpTiling.WarpSpecialized && !asyncRows)
            throw Check.Unusable(nameof(tiling), $"{tiling} needs cp.async and 16-byte rows (hidden % 8 == 0), got hidden {k}.");
        if (stages < 2 || stages > WideGemmKernel.MaxStages)
            throw Check.OutOfRange(nameof(stages), stages, $"expected 2–{WideGemmKernel.MaxStages}.");
        if (tiling == GatedMlpTiling.Wide && (stages ?? WideGemmKernel.DefaultStages) * WideGemmKernel.StageWords * 4 > maxSharedBytesPerBlock)
            throw Check.Unusable(nameof(tiling), $"the wide ring of {stages ?? WideGemmKernel.DefaultStages} stages needs " +
                $"{(stages ?? WideGemmKernel.DefaultStages) * WideGemmKernel.StageWords * 4} shared bytes a block, the device lends {maxSharedBytesPerBlock}.");
        if (blocks < 1)
            throw Check.OutOfRange(nameof(blocks), blocks, "expected at least 1.");
        switch (tiling)
        {
            case GatedMlpTiling.WarpSpecialized:
            {
                int mTiles = Ops.Tiles(m, WarpSpecializedGemmKernel.BlockM), nTiles = Ops.Tiles(n, WarpSpecializedGemmKernel.BlockN);
                int depth = stages ?? WarpSpecializedGemmKernel.DefaultStages;
                int tiles = checked(mTiles * nTiles);
                return new GatedMlpPlan(tiling, mTiles, nTiles, Ops.Tiles(2 * k, WarpSpecializedGemmKernel.BlockKBytes), DecodeSplit.None, depth,
                    Math.Min(tiles, blocks ?? tiles), 1, WarpSpecializedGemmKernel.Threads, 1, WarpSpecializedGemmKernel.SharedBytes(depth));
            }
            case GatedMlpTiling.RegisterStaged:
            {
                int mTiles = Ops.Tiles(m, RegisterStagedGemmKernel.BlockM), nTiles = Ops.Tiles(n, RegisterStagedGemmKernel.BlockN);
                return new GatedMlpPlan(tiling, mTiles, nTiles, kTiles, DecodeSplit.None, 0, checked(mTiles * nTiles), 1, RegisterStagedGemmKernel.Threads, 1, 0);
            }
            default:
            {
                int mTiles = Ops.Tiles(m, WideGemmKernel.BlockM), nTiles = Ops.Tiles(n, WideGemmKernel.BlockN);
                int depth = stages ?? WideGemmKernel.DefaultStages, shared = depth * WideGemmKernel.StageWords * 4;
                int tiles = checked(mTiles * nTiles);
                int grid = Math.Min(tiles, blocks ?? multiprocessors * blocksPerMultiprocessor(GatedMlpTiling.Wide, WideGemmKernel.Threads, shared));
                return new GatedMlpPlan(GatedMlpTiling.Wide, mTiles, nTiles, Ops.Tiles(k, WideGemmKernel.BlockK), DecodeSplit.None, depth,
                    grid, 1, WideGemmKernel.Threads, 1, shared);
            }
        }
    }
}

public static partial class Ops
{

    /// <summary>The activation named as in the original API ("silu", "gelu", "gelu_tanh") or as Hugging Face
    /// configs' <c>hidden_act</c> names the same functions ("swish"; "gelu_python" (erf); "gelu_pytorch_tanh", "gelu_new",
    /// "gelu_fast", "gelu_accurate": the tanh form, which transformers evaluates in the tensor's dtype step by step, where
    /// this library rounds once), any case.</summary>
    /// <exception cref="InvalidArgumentException">Any other name; the message lists the valid ones.</exception>
    public static Activation ParseActivation(string activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        return TryParseActivation(activation) ?? throw Check.Invalid(nameof(activation),
            $"expected one of {string.Join(", ", ActivationNames.Select(n => $"\"{n}\""))} (any case), got \"{activation}\".");
    }

    /// <summary><see cref="ParseActivation"/>, or null for a name it does not take.</summary>
    public static Activation? TryParseActivation(string? activation) => activation?.Trim().ToLowerInvariant() switch
    {
        "silu" or "swish" => Activation.Silu,
        "gelu" or "gelu_python" => Activation.Gelu,
        "gelu_tanh" or "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" or "gelu_accurate" => Activation.GeluTanh,
        _ => null,
    };

    /// <summary>Every name <see cref="ParseActivation"/> takes.</summary>
    public static IReadOnlyList<string> ActivationNames { get; } =
        ["silu", "swish", "gelu", "gelu_python", "gelu_tanh", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "gelu_accurate"];

    /// <summary><see cref="FusedGatedMlp(Tensor, Tensor, Tensor, Activation, Tensor?, ActivationRounding)"/> with the activation by its original name.</summary>
    public static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, string activation, Tensor? output = null,
        ActivationRounding rounding = ActivationRounding.Once) =>
        FusedGatedMlp(x, gateWeight, upWeight, ParseActivation(activation), output, rounding);

    /// <summary>
    /// The gated expansion of a transformer MLP in one kernel: <c>act(x · gate_weightᵀ) ⊙ (x · up_weightᵀ)</c>.
    /// float16 and bfloat16 run on tensor cores (float32 accumulation): a tiled kernel (<c>wgmma</c> fed by
    /// the copy engine on Hopper, <c>mma.sync</c> elsewhere), or for M = batch·seq ≤ 64 (decode) one that
    /// streams the weights once at full rate; float32 runs a
    /// plain float32 kernel. Both products stay on chip; the result is rounded once into x's dtype (or at every step,
    /// <see cref="ActivationRounding.PerOp"/>).
    /// No down projection, no residual.
    /// </summary>
    /// <param name="x"><c>[batch, seq, hidden]</c>, float32, float16 or bfloat16, contiguous.</param>
    /// <param name="gateWeight"><c>[intermediate, hidden]</c>, x's dtype.</param>
    /// <param name="upWeight">Same shape and dtype as <paramref name="gateWeight"/>.</param>
    /// <param name="activation">Applied to the gate product.</param>
    /// <param name="output">Optional destination <c>[batch, seq, intermediate]</c> of x's dtype.</param>
    /// <returns><c>[batch, seq, intermediate]</c> in x's dtype.</returns>
    /// <exception cref="DeviceException">Inputs on different devices, or a disposed device.</exception>
    /// <exception cref="ShapeMismatchException">Shapes outside the contract.</exception>
    /// <exception cref="UnsupportedDtypeException">x not float32/float16/bfloat16, or weights of another dtype.</exception>
    /// <exception cref="NonContiguousTensorException">A strided input.</exception>
    /// <param name="rounding"><see cref="ActivationRounding.Once"/> (the default), or <see cref="ActivationRounding.PerOp"/>
    /// to round as a PyTorch eager MLP does: both products into the dtype, then the activation, then the product.</param>
    /// <exception cref="ArgumentOutOfRangeException">An undefined <see cref="Activation"/> value.</exception>
    /// <exception cref="InvalidArgumentException">An undefined rounding.</exception>
    public static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation = Activation.Silu, Tensor? output = null,
        ActivationRounding rounding = ActivationRounding.Once) =>
        FusedGatedMlp(x, gateWeight, upWeight, activation, output, GatedMlpTiling.Auto, rounding: rounding);

    /// <summary>The op with its kernel chosen by the caller (tests and benchmark A/B), for any M;
    /// <paramref name="stages"/>: the wide kernel's ring depth instead of its default; <paramref name="blocks"/>:
    /// its persistent grid instead of one block per SM.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation, Tensor? output,
        GatedMlpTiling tiling, int? stages = null, int? blocks = null, ActivationRounding rounding = ActivationRounding.Once)
    {
        var (batch, seq, hidden, intermediate) = ValidateGatedMlp(x, gateWeight, upWeight, activation);
        Check.Defined(rounding, nameof(rounding));
        if (output is not null)
            CheckOutput(output, x, [batch, seq, intermediate]);
        using var gate = x.Device.Enter();
        output ??= Tensor.Empty([batch, seq, intermediate], x.DType, x.Device);
        int m = checked(batch * seq);
        if (m == 0 || intermediate == 0)
            return output;
        if (hidden == 0)
        {
            FillRows(output, null); // act(0) · 0: a sum over nothing
            return output;
        }

        Type activationType = GatedMlpKernel.ActivationTypes[(int)activation];
        var device = x.Device;
        Type element = ElementTypeOf(x.DType);
        var addresses = new GatedMlpAddresses { X = x.DeviceAddress, Gate = gateWeight.DeviceAddress, Up = upWeight.DeviceAddress };
        bool asyncRows = device.HasAsyncCopy && hidden % 8 == 0 && (addresses.X | addresses.Gate | addresses.Up) % 16 == 0;
        var plan = GatedMlpPlan.For(m, intermediate, hidden, DTypes.SizeOf(x.DType), DecodeRows(device, x, gateWeight, upWeight, hidden), asyncRows,
            device.HasWarpgroupMma, device.Multiprocessors, (kind, threads, shared) => device.BlocksPerMultiprocessor(kind switch
            {
                GatedMlpTiling.Decode => DecodeGemmKernel.Variant(element, activationType, device.EmulatesMma),
                _ => WideGemmKernel.GatedVariant(element, activationType, device.EmulatesMma),
            }, threads, shared), tiling, stages, blocks, asyncRows && !device.HasWarpgroupMma ? device.MaxSharedBytesPerBlock : 227 * 1024);
        var shape = new GatedMlpShape
        {
            M = m, N = intermediate, K = hidden, MTiles = plan.MTiles, NTiles = plan.NTiles, KTiles = plan.KTiles,
            // Whole 16-byte chunks load as one access only where every row starts on 16 bytes.
            KAligned = hidden % 8 == 0 && (addresses.X | addresses.Gate | addresses.Up) % 16 == 0 ? 1 : 0,
            RoundProducts = rounding == ActivationRounding.PerOp && x.DType != DType.Float32 ? 1 : 0,
        };
        var config = new KernelConfig(new Index2D(plan.GridX, plan.GridY), new Index2D(plan.BlockX, plan.BlockY));
        switch (plan.Tiling)
        {
            case GatedMlpTiling.Float32:
                device.Launch(GatedMlpKernel.Float32Variant(activationType), config,
                    x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape);
                break;
            case GatedMlpTiling.Decode:
                // Weights stream once at full rate, 16-row slices of x.
                LaunchDecode(device, DecodeGemmKernel.Variant(element, activationType, device.EmulatesMma), x, gateWeight, upWeight, output, shape,
                    new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes }, plan.Split);
                break;
            case GatedMlpTiling.SwappedDecode:
                LaunchSwappedDecode(device, SwappedDecodeGemmKernel.GatedVariant(element, activationType, SwappedDecodeGemmKernel.SlicesFor(m)), x, gateWeight, upWeight, output, shape,
                    new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes }, plan.Split, plan.Depth);
                break;
            case GatedMlpTiling.WarpSpecialized:
                LaunchWarpSpecialized(x, gateWeight, upWeight, output, activationType, shape, addresses, plan);
                break;
            case GatedMlpTiling.RegisterStaged:
                device.Launch(RegisterStagedGemmKernel.GatedVariant(element, activationType, device.EmulatesMma), new KernelConfig(plan.GridX, plan.BlockX),
                    x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape, new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes });
                break;
            default:
                device.Launch(WideGemmKernel.GatedVariant(element, activationType, device.EmulatesMma), new KernelConfig(new Index1D(plan.GridX), new Index1D(plan.BlockX), SharedMemoryConfig.RequestDynamic<uint>(plan.SharedBytes / 4)),
                    x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape, addresses, plan.Depth, new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes });
                break;
        }
        return output;
    }

    // The tiled kernels (mma.sync, both products from one x tile). Wide: 128 × 128 tiles, 64 × 32 warp tiles, ldmatrix
    // fragments, k-tiles of 64 streamed by cp.async through a ring of stages in dynamic shared memory, one persistent
    // block per SM (382–386 TFLOP/s at M8192 H4096 I14336 bf16 on the H200; 91 µs at M128). RegisterStaged: 128 × 64
    // tiles staged through registers, for any K and GPUs without cp.async (222–226 TFLOP/s there).

    /// <summary>Hopper: <see cref="WarpSpecializedGemmKernel"/>, the copy engine feeding two warpgroups of
    /// <c>wgmma</c> through 128 × 128 tiles (on the CPU accelerator, its cp.async producer).</summary>
    private static void LaunchWarpSpecialized(Tensor x, Tensor gateWeight, Tensor upWeight, Tensor output,
        Type activationType, GatedMlpShape shape, GatedMlpAddresses addresses, GatedMlpPlan plan)
    {
        var device = x.Device;
        var kernel = WarpSpecializedGemmKernel.GatedVariant(ElementTypeOf(x.DType), activationType, plan.WalksTiles);
        var config = new KernelConfig(new Index1D(plan.GridX), new Index1D(plan.BlockX), SharedMemoryConfig.RequestDynamic<byte>(plan.SharedBytes));
        var epilogue = new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes };
        long rowBytes = 2L * shape.K; // boxes of 64 elements of K
        TensorMaps.With(device, new SwizzledTiles(addresses.X, rowBytes, shape.M, WarpSpecializedGemmKernel.BlockM),
            new SwizzledTiles(addresses.Gate, rowBytes, shape.N, WarpSpecializedGemmKernel.BlockN),
            new SwizzledTiles(addresses.Up, rowBytes, shape.N, WarpSpecializedGemmKernel.BlockN),
            (xMap, gateMap, upMap) => device.Launch(kernel, config,
                x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape, addresses, xMap, gateMap, upMap, plan.Depth, epilogue));
    }

    /// <summary>ceil(size / tile), in long arithmetic (a group size near int.MaxValue does not overflow it).</summary>
    internal static int Tiles(int size, int tile) => (int)(((long)size + tile - 1) / tile);

    internal static (int Batch, int Seq, int Hidden, int Intermediate) ValidateGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation)
    {
        Check.Usable(x, nameof(x));
        Check.Usable(gateWeight, nameof(gateWeight));
        Check.Usable(upWeight, nameof(upWeight));
        Check.Defined(activation, nameof(activation));
        Check.SameDevice(gateWeight, nameof(gateWeight), x, nameof(x));
        Check.SameDevice(upWeight, nameof(upWeight), x, nameof(x));
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        Check.SameDType(gateWeight, nameof(gateWeight), x, nameof(x));
        Check.SameDType(upWeight, nameof(upWeight), x, nameof(x));
        Check.Rank(x, nameof(x), 3, "[batch, seq, hidden]");
        int hidden = x.Shape[2];
        Check.Rank(gateWeight, nameof(gateWeight), 2, "[intermediate, hidden]");
        Check.Dim(gateWeight, nameof(gateWeight), 1, hidden, "hidden, from x");
        Check.Shape(upWeight.Shape.SequenceEqual(gateWeight.Shape), nameof(upWeight), $"the shape of 'gateWeight' {gateWeight.ShapeText}", upWeight);
        Check.Contiguous(x, nameof(x));
        Check.Contiguous(gateWeight, nameof(gateWeight));
        Check.Contiguous(upWeight, nameof(upWeight));
        return (x.Shape[0], x.Shape[1], hidden, gateWeight.Shape[0]);
    }

    /// <summary>The largest M the decode kernel takes: past one 16-row slice, Hopper's warp-specialized kernel streams the
    /// weights faster (H200, H4096 I14336 bf16: M64 72.3 µs against 153.4 on the decode kernel, each slice re-reading
    /// the strips; M16 78.3 against 77.6), when its tensor maps can take the operands.</summary>
    private static int DecodeRows(Device device, Tensor x, Tensor gateWeight, Tensor upWeight, int hidden) =>
        device.Kind == DeviceKind.Cuda && device.HasWarpgroupMma && hidden % 8 == 0
            && (x.DeviceAddress | gateWeight.DeviceAddress | upWeight.DeviceAddress) % 16 == 0
            ? StripMma.SliceRows : DecodeGemmKernel.MaxRows;
}
