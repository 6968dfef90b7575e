using ILGPU;
using ILGPU.Runtime;
using TritonOps.Cuda;
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

/// <summary>The tiled gated-MLP kernels (see Ops.LaunchTiled); Auto picks by shape and device.</summary>
internal enum GatedMlpTiling
{
    Auto,
    RegisterStaged,
    Wide,
    WarpSpecialized,
}

public static partial class Ops
{
    private delegate void GatedMlpWideLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape shape,
        GatedMlpAddresses addresses, int stages);

    private delegate void GatedMlpSpecializedLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape shape,
        GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int stages, EpilogueArgs epilogue);

    private delegate void GatedMlpLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape shape);

    private delegate void PairedDecodeLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape shape, EpilogueArgs epilogue);

    /// <summary>The activation named as in the original API ("silu", "gelu", "gelu_tanh") or as Hugging Face
    /// configs' <c>hidden_act</c> names the same functions ("swish"; "gelu_pytorch_tanh", "gelu_new"), any case.</summary>
    /// <exception cref="InvalidArgumentException">Any other name; the message lists the valid ones.</exception>
    public static Activation ParseActivation(string activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        return activation.Trim().ToLowerInvariant() switch
        {
            "silu" or "swish" => Activation.Silu,
            "gelu" => Activation.Gelu,
            "gelu_tanh" or "gelu_pytorch_tanh" or "gelu_new" => Activation.GeluTanh,
            _ => throw Check.Invalid(nameof(activation),
                $"expected one of {string.Join(", ", ActivationNames.Select(n => $"\"{n}\""))} (any case), got \"{activation}\"."),
        };
    }

    /// <summary>Every name <see cref="ParseActivation"/> takes.</summary>
    public static IReadOnlyList<string> ActivationNames { get; } = ["silu", "swish", "gelu", "gelu_tanh", "gelu_pytorch_tanh", "gelu_new"];

    /// <summary><see cref="FusedGatedMlp(Tensor, Tensor, Tensor, Activation, Tensor?)"/> with the activation by its original name.</summary>
    public static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, string activation, Tensor? output = null) =>
        FusedGatedMlp(x, gateWeight, upWeight, ParseActivation(activation), output);

    /// <summary>
    /// The gated expansion of a transformer MLP in one kernel: <c>act(x · gate_weightᵀ) ⊙ (x · up_weightᵀ)</c>.
    /// float16 and bfloat16 run on tensor cores (float32 accumulation): a tiled kernel (<c>wgmma</c> fed by
    /// the copy engine on Hopper, <c>mma.sync</c> elsewhere), or for M = batch·seq ≤ 64 (decode) one that
    /// streams the weights once at full rate; float32 runs a
    /// plain float32 kernel. Both products stay on chip; the result is rounded once into x's dtype.
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
    /// <exception cref="ArgumentOutOfRangeException">An undefined <see cref="Activation"/> value.</exception>
    public static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation = Activation.Silu, Tensor? output = null) =>
        FusedGatedMlp(x, gateWeight, upWeight, activation, output, GatedMlpTiling.Auto);

    /// <summary>The op with its kernel chosen by the caller (tests and benchmark A/B), for any M;
    /// <paramref name="stages"/>: the wide kernel's ring depth instead of its default; <paramref name="blocks"/>:
    /// its persistent grid instead of one block per SM.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor FusedGatedMlp(Tensor x, Tensor gateWeight, Tensor upWeight, Activation activation, Tensor? output,
        GatedMlpTiling tiling, int? stages = null, int? blocks = null)
    {
        var (batch, seq, hidden, intermediate) = ValidateGatedMlp(x, gateWeight, upWeight, activation);
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
        var stream = device.Accelerator.DefaultStream;
        var shape = new GatedMlpShape
        {
            M = m, N = intermediate, K = hidden,
            KTiles = (hidden + GatedMlpKernel.BlockK - 1) / GatedMlpKernel.BlockK,
            KAligned = hidden % 8 == 0 ? 1 : 0,
        };
        if (x.DType == DType.Float32)
        {
            device.Launcher<GatedMlpLauncher>(GatedMlpKernel.Float32Variant(activationType))(stream,
                new KernelConfig(new Index2D((intermediate + 15) / 16, (m + 15) / 16), new Index2D(16, 16)),
                x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape);
        }
        else if (tiling == GatedMlpTiling.Auto && m <= DecodeRows(device, x, gateWeight, upWeight, hidden))
        {
            // Decode: weights stream once at full rate, 16-row slices of x.
            shape.MTiles = (m + StripMma.SliceRows - 1) / StripMma.SliceRows;
            shape.NTiles = (intermediate + GatedMlpDecodeKernel.BlockN - 1) / GatedMlpDecodeKernel.BlockN;
            var kernel = GatedMlpDecodeKernel.Variant(ElementTypeOf(x.DType), activationType);
            var split = DecodeSplit.For(shape.MTiles * shape.NTiles, hidden,
                device.Multiprocessors * device.BlocksPerMultiprocessor(kernel, GatedMlpDecodeKernel.Threads), requested: 0);
            LaunchDecode(device, kernel, x, gateWeight, upWeight, output, shape, new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes }, split);
        }
        else
        {
            var addresses = new GatedMlpAddresses { X = x.DeviceAddress, Gate = gateWeight.DeviceAddress, Up = upWeight.DeviceAddress };
            bool asyncRows = device.HasAsyncCopy && shape.KAligned != 0 && (addresses.X | addresses.Gate | addresses.Up) % 16 == 0;
            if (tiling == GatedMlpTiling.Auto)
                // Hopper's wgmma kernel where it runs (sm_90, and emulated on the CPU accelerator, where it is the
                // cheaper one to emulate); the mma.sync wide kernel on other GPUs.
                tiling = !asyncRows ? GatedMlpTiling.RegisterStaged
                    : device.HasWarpgroupMma ? GatedMlpTiling.WarpSpecialized : GatedMlpTiling.Wide;
            if (tiling is GatedMlpTiling.Wide or GatedMlpTiling.WarpSpecialized && !asyncRows)
                throw Check.Unusable(nameof(tiling), $"{tiling} needs cp.async and 16-byte rows (hidden % 8 == 0), got hidden {hidden}.");
            if (stages < 2 || stages > GatedMlpWideKernel.MaxStages)
                throw Check.OutOfRange(nameof(stages), stages, $"expected 2–{GatedMlpWideKernel.MaxStages}.");
            if (blocks < 1)
                throw Check.OutOfRange(nameof(blocks), blocks, "expected at least 1.");
            LaunchTiled(tiling, x, gateWeight, upWeight, output, activationType, shape, addresses, stages, blocks);
        }
        return output;
    }

    /// <summary>
    /// The tiled kernels (mma.sync, both products from one x tile). Wide: 128 × 128 tiles, 64 × 32 warp
    /// tiles, ldmatrix fragments, k-tiles of 64 streamed by cp.async through a ring of stages in dynamic
    /// shared memory, one persistent block per SM (382–386 TFLOP/s at M8192 H4096 I14336 bf16 on the H200;
    /// 91 µs at M128). RegisterStaged: 128 × 64 tiles staged through registers, for any K and GPUs without
    /// cp.async (222–226 TFLOP/s there).
    /// </summary>
    private static void LaunchTiled(GatedMlpTiling tiling, Tensor x, Tensor gateWeight, Tensor upWeight, Tensor output,
        Type activationType, GatedMlpShape shape, GatedMlpAddresses addresses, int? stages, int? blocks)
    {
        var device = x.Device;
        var stream = device.Accelerator.DefaultStream;
        Type element = ElementTypeOf(x.DType);
        if (tiling == GatedMlpTiling.WarpSpecialized)
        {
            LaunchWarpSpecialized(x, gateWeight, upWeight, output, activationType, shape, addresses, stages);
            return;
        }
        if (tiling == GatedMlpTiling.RegisterStaged)
        {
            shape.MTiles = Tiles(shape.M, GatedMlpKernel.BlockM);
            shape.NTiles = Tiles(shape.N, GatedMlpKernel.BlockN);
            device.Launcher<GatedMlpLauncher>(GatedMlpKernel.TensorCoreVariant(element, activationType))(stream,
                new KernelConfig(checked(shape.MTiles * shape.NTiles), GatedMlpKernel.Threads),
                x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape);
            return;
        }
        shape.MTiles = Tiles(shape.M, GatedMlpWideKernel.BlockM);
        shape.NTiles = Tiles(shape.N, GatedMlpWideKernel.BlockN);
        shape.KTiles = Tiles(shape.K, GatedMlpWideKernel.BlockK);
        int depth = stages ?? GatedMlpWideKernel.DefaultStages;
        var kernel = GatedMlpWideKernel.Variant(element, activationType);
        int tiles = checked(shape.MTiles * shape.NTiles);
        int grid = Math.Min(tiles, blocks ?? device.Multiprocessors * device.BlocksPerMultiprocessor(kernel, GatedMlpWideKernel.Threads, depth * GatedMlpWideKernel.StageWords * 4));
        device.Launcher<GatedMlpWideLauncher>(kernel)(stream,
            new KernelConfig(new Index1D(grid), new Index1D(GatedMlpWideKernel.Threads),
                SharedMemoryConfig.RequestDynamic<uint>(depth * GatedMlpWideKernel.StageWords)),
            x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape, addresses, depth);
    }

    /// <summary>Hopper: <see cref="WarpSpecializedGemmKernel"/>, the copy engine feeding two warpgroups of
    /// <c>wgmma</c> through 128 × 128 tiles (on the CPU accelerator, its cp.async producer).</summary>
    private static void LaunchWarpSpecialized(Tensor x, Tensor gateWeight, Tensor upWeight, Tensor output,
        Type activationType, GatedMlpShape shape, GatedMlpAddresses addresses, int? stages)
    {
        var device = x.Device;
        var stream = device.Accelerator.DefaultStream;
        shape.MTiles = Tiles(shape.M, WarpSpecializedGemmKernel.BlockM);
        shape.NTiles = Tiles(shape.N, WarpSpecializedGemmKernel.BlockN);
        shape.KTiles = Tiles(2 * shape.K, WarpSpecializedGemmKernel.BlockKBytes);
        int depth = stages ?? Math.Min(8, (224 * 1024 - WarpSpecializedGemmKernel.SharedBytes(0))
            / (WarpSpecializedGemmKernel.SharedBytes(1) - WarpSpecializedGemmKernel.SharedBytes(0)));
        var launcher = device.Launcher<GatedMlpSpecializedLauncher>(WarpSpecializedGemmKernel.GatedVariant(ElementTypeOf(x.DType), activationType));
        var config = new KernelConfig(new Index1D(checked(shape.MTiles * shape.NTiles)), new Index1D(WarpSpecializedGemmKernel.Threads),
            SharedMemoryConfig.RequestDynamic<byte>(WarpSpecializedGemmKernel.SharedBytes(depth)));
        void Launch(ulong xMap, ulong gateMap, ulong upMap) => launcher(stream, config,
            x.Bytes, gateWeight.Bytes, upWeight.Bytes, output.Bytes, shape, addresses, xMap, gateMap, upMap, depth,
            new EpilogueArgs { Bias = output.Bytes, Residual = output.Bytes });
        if (device.Kind != DeviceKind.Cuda)
        {
            Launch(0, 0, 0);
            return;
        }
        // Tensor maps of the three operands: 128-byte-swizzled boxes of 64 elements of K, zeros past the edges.
        device.WithConstantBytes((addresses.X, addresses.Gate, addresses.Up, shape.M, shape.N, shape.K), key =>
        {
            byte[] bytes = new byte[384];
            long rowBytes = 2L * key.K;
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(0, 128), key.X, rowBytes, key.M, WarpSpecializedGemmKernel.BlockM);
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(128, 128), key.Gate, rowBytes, key.N, WarpSpecializedGemmKernel.BlockN);
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(256, 128), key.Up, rowBytes, key.N, WarpSpecializedGemmKernel.BlockN);
            return bytes;
        }, maps => Launch(maps, maps + 128, maps + 256));
    }

    internal static int Tiles(int size, int tile) => (size + tile - 1) / tile;

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
            ? StripMma.SliceRows : GatedMlpDecodeKernel.MaxRows;
}
