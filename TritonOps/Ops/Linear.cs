using ILGPU;
using ILGPU.Runtime;
using TritonOps.Cuda;
using TritonOps.Kernels.FusedGatedMlp;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Gemm;
using TritonOps.Kernels.Linear;

namespace TritonOps;

/// <summary>The general (one thread per output) or the tensor-core Linear kernel; Auto picks by dtype, device and alignment.</summary>
internal enum LinearKernelChoice
{
    Auto,
    Rows,
    WarpSpecialized,
    Decode,
}

public static partial class Ops
{
    private delegate void LinearRowsLauncher(AcceleratorStream stream, KernelConfig config,
        ArrayView<byte> x, ArrayView<byte> weight, ArrayView<byte> output, GatedMlpShape shape, EpilogueArgs epilogue);

    /// <summary>
    /// <c>x · weightᵀ (+ bias) (+ residual)</c>, as nn.Linear with the residual add of a transformer block fused in:
    /// the bias and the residual are added in float32 to the float32 sum, rounded once into x's dtype.
    /// float16 and bfloat16 run on Hopper's warpgroup tensor cores (the copy engine feeding <c>wgmma</c>, 128 × 256
    /// output tiles: the gated MLP's mainloop with a plain epilogue) when the input size is a multiple of 8;
    /// float32, other sizes and other GPUs take a general kernel (correct, not fast). The down projection that completes
    /// an MLP is <c>Linear(FusedGatedMlp(x), down, residual: x)</c>.
    /// </summary>
    /// <param name="x"><c>[…, in]</c>: any leading dims, float32, float16 or bfloat16, contiguous.</param>
    /// <param name="weight"><c>[out, in]</c> as nn.Linear stores it, x's dtype, contiguous.</param>
    /// <param name="bias">Optional <c>[out]</c>, x's dtype.</param>
    /// <param name="residual">Optional, the output's shape <c>[…, out]</c> and x's dtype; may also be <paramref name="output"/>.</param>
    /// <param name="output">Optional destination <c>[…, out]</c> of x's dtype.</param>
    /// <returns><c>[…, out]</c> in x's dtype.</returns>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null, Tensor? residual = null, Tensor? output = null) =>
        Linear(x, weight, bias, residual, output, LinearKernelChoice.Auto);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Tensor? residual, Tensor? output, LinearKernelChoice choice,
        int splitK = 0)
    {
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
        var shape = new GatedMlpShape { M = m, N = outFeatures, K = inFeatures, KAligned = inFeatures % 8 == 0 ? 1 : 0 };
        var epilogue = new EpilogueArgs
        {
            Bias = (bias ?? output).Bytes, Residual = (residual ?? output).Bytes,
            HasBias = bias is null ? 0 : 1, HasResidual = residual is null ? 0 : 1,
        };
        bool tensorCores = x.DType != DType.Float32 && device.HasWarpgroupMma && inFeatures > 0 && inFeatures % 8 == 0
            && (x.DeviceAddress | weight.DeviceAddress) % 16 == 0;
        if (choice == LinearKernelChoice.WarpSpecialized && !tensorCores)
            throw new InvalidOperationException("The pinned warp-specialized Linear kernel cannot take this call.");
        bool decode = x.DType != DType.Float32 && inFeatures > 0 && m <= GatedMlpDecodeKernel.MaxRows;
        if (choice == LinearKernelChoice.Decode && !decode)
            throw new InvalidOperationException("The pinned decode Linear kernel takes 16-bit x with M ≤ 64 and in > 0.");
        if (choice == LinearKernelChoice.Decode || choice == LinearKernelChoice.Auto && decode)
        {
            // Decode: the weight streams once at full rate, two 8-row strips of W a warp against 16-row slices of x
            // (the gated MLP's decode kernel with the Linear epilogue).
            shape.MTiles = Tiles(m, StripMma.SliceRows);
            shape.NTiles = Tiles(outFeatures, 2 * GatedMlpDecodeKernel.BlockN);
            LaunchDecode(device, GatedMlpDecodeKernel.LinearVariant(ElementTypeOf(x.DType)), x, weight, weight, output, shape, epilogue, splitK);
            return output;
        }
        if (choice != LinearKernelChoice.Rows && tensorCores)
        {
            LaunchLinearWarpSpecialized(x, weight, output, shape, epilogue);
            return output;
        }
        device.Launcher<LinearRowsLauncher>(LinearRowsKernel.Variant(ElementTypeOf(x.DType)))(device.Accelerator.DefaultStream,
            new KernelConfig(new Index2D(Tiles(outFeatures, LinearRowsKernel.Side), Tiles(m, LinearRowsKernel.Side)),
                new Index2D(LinearRowsKernel.Side, LinearRowsKernel.Side)),
            x.Bytes, weight.Bytes, output.Bytes, shape, epilogue);
        return output;
    }

    /// <summary>
    /// The decode kernel (<see cref="GatedMlpDecodeKernel"/>), split along K when its tiles alone would leave SMs idle:
    /// Llama's down projection at M = 16 makes 64 output tiles of 64 columns for 132 SMs. Each split streams its range
    /// of the weight; the last block to finish a tile adds the splits' float32 sums in split order (deterministic) and
    /// stores. <paramref name="splits"/>: 0 picks (enough blocks to fill the chip, ranges of at least 512 of K), 1 none.
    /// </summary>
    private static void LaunchDecode(Device device, System.Reflection.MethodInfo kernel, Tensor x, Tensor first, Tensor second,
        Tensor output, GatedMlpShape shape, EpilogueArgs epilogue, int splits)
    {
        int tiles = checked(shape.MTiles * shape.NTiles);
        if (splits == 0)
        {
            int resident = device.Multiprocessors * device.BlocksPerMultiprocessor(kernel, GatedMlpDecodeKernel.Threads);
            splits = Math.Clamp(resident / tiles, 1, Math.Max(1, shape.K / 512));
        }
        const int Granule = GatedMlpDecodeKernel.KParts * StripMma.KStep;
        int length = Tiles(Tiles(shape.K, splits), Granule) * Granule;
        splits = Math.Max(1, Tiles(shape.K, length));
        var launcher = device.Launcher<PairedDecodeLauncher>(kernel);
        var stream = device.Accelerator.DefaultStream;
        if (splits == 1)
        {
            launcher(stream, new KernelConfig(tiles, GatedMlpDecodeKernel.Threads), x.Bytes, first.Bytes, second.Bytes, output.Bytes, shape, epilogue);
            return;
        }
        shape.KSplits = splits;
        shape.KSplitLength = length;
        // Workspace: two Acc4 per owning lane per (tile, split); the arrival counters live with the device and are
        // left at zero by every launch (the last block of each tile resets its own).
        int floats = checked(tiles * splits * GatedMlpDecodeKernel.Strips * 32 * 2 * 4);
        using var partials = Tensor.Empty([floats], DType.Float32, device);
        int counters = Math.Max(1024, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)tiles));
        device.WithConstantTensor(("split-k arrivals", counters), key => new byte[4 * key.counters], arrivals =>
        {
            epilogue.Partials = partials.Bytes.Cast<float>();
            epilogue.PartialsAddress = partials.DeviceAddress;
            epilogue.Arrivals = arrivals.Bytes.Cast<int>();
            launcher(stream, new KernelConfig(new Index2D(tiles, splits), new Index2D(GatedMlpDecodeKernel.Threads, 1)),
                x.Bytes, first.Bytes, second.Bytes, output.Bytes, shape, epilogue);
        });
    }

    /// <summary>Hopper: <see cref="WarpSpecializedGemmKernel"/> with <see cref="LinearEpilogue{TElement}"/>: the copy engine
    /// brings 128 rows of x and 2 × 128 rows of W a stage; each block makes a 128 × 256 output tile.</summary>
    private static void LaunchLinearWarpSpecialized(Tensor x, Tensor weight, Tensor output, GatedMlpShape shape, EpilogueArgs epilogue)
    {
        var device = x.Device;
        var stream = device.Accelerator.DefaultStream;
        shape.MTiles = Tiles(shape.M, WarpSpecializedGemmKernel.BlockM);
        shape.NTiles = Tiles(shape.N, 2 * WarpSpecializedGemmKernel.BlockN);
        shape.KTiles = Tiles(2 * shape.K, WarpSpecializedGemmKernel.BlockKBytes);
        int depth = Math.Min(8, (224 * 1024 - WarpSpecializedGemmKernel.SharedBytes(0))
            / (WarpSpecializedGemmKernel.SharedBytes(1) - WarpSpecializedGemmKernel.SharedBytes(0)));
        var launcher = device.Launcher<GatedMlpSpecializedLauncher>(WarpSpecializedGemmKernel.LinearVariant(ElementTypeOf(x.DType)));
        var config = new KernelConfig(new Index1D(checked(shape.MTiles * shape.NTiles)), new Index1D(WarpSpecializedGemmKernel.Threads),
            SharedMemoryConfig.RequestDynamic<byte>(WarpSpecializedGemmKernel.SharedBytes(depth)));
        var addresses = new GatedMlpAddresses { X = x.DeviceAddress, Gate = weight.DeviceAddress, Up = weight.DeviceAddress };
        void Launch(ulong xMap, ulong wMap) => launcher(stream, config,
            x.Bytes, weight.Bytes, weight.Bytes, output.Bytes, shape, addresses, xMap, wMap, wMap, depth, epilogue);
        if (device.Kind != DeviceKind.Cuda)
        {
            Launch(0, 0); // the CPU accelerator: the producer warpgroup copies
            return;
        }
        // Tensor maps of x and W: 128-byte-swizzled boxes of 64 elements of K and 128 rows, zeros past the edges
        // (a tile's second W box may lie wholly past N: it reads zeros and its columns are not stored).
        device.WithConstantBytes(("linear", addresses.X, addresses.Gate, shape.M, shape.N, shape.K), key =>
        {
            byte[] bytes = new byte[256];
            long rowBytes = 2L * key.K;
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(0, 128), key.X, rowBytes, key.M, WarpSpecializedGemmKernel.BlockM);
            CudaDriver.EncodeSwizzledByteTiles(bytes.AsSpan(128, 128), key.Gate, rowBytes, key.N, WarpSpecializedGemmKernel.BlockN);
            return bytes;
        }, maps => Launch(maps, maps + 128));
    }
}
