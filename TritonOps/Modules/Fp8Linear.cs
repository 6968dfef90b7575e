namespace TritonOps;

/// <summary>
/// A linear layer whose product runs on FP8 tensor cores (<c>FP8Linear</c>): <c>y = x · Wᵀ (+ b)</c>.
/// The weight stays in float (<c>[out, in]</c>, initialized like <c>nn.Linear</c>). The first forward
/// quantizes it (E4M3, per tensor) and caches <see cref="WeightFp8"/>, <see cref="WeightScale"/> and
/// <see cref="WeightFp8T"/>; later forwards reuse them. Each forward quantizes the activation
/// (per tensor, amax on the device) and calls <see cref="Ops.Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/> with the bias added in its epilogue.
/// <para>Pre-quantized weights (<see cref="FromQuantized"/>): E4M3 codes and their scales as a checkpoint stores them
/// (per tensor, per output channel, or DeepSeek-V3's 128 × 128 blocks, <c>weight_scale_inv</c>), used as they are;
/// each forward quantizes the activation as the weight's scheme asks (per tensor, per token, or per token and
/// 1 × 128 group).</para>
/// <para>On GPUs without FP8 arithmetic (before sm_89, e.g. A100) a pre-quantized layer runs weight-only: its codes are
/// dequantized once into the activations' dtype and the product is a 16-bit <see cref="Ops.Linear(Tensor, Tensor, Tensor?, Tensor?, Tensor?, ResidualRounding)"/> (vLLM runs FP8
/// checkpoints on Ampere the same way); a layer with a float weight raises <see cref="DeviceException"/> there.</para>
/// <para>Cache: changing the weight through <see cref="LoadWeight"/> bumps <see cref="WeightVersion"/>
/// and the next forward re-quantizes; <see cref="InvalidateCache"/> forces it after changes made any
/// other way (e.g. writing into <see cref="Weight"/>'s memory by another op).</para>
/// </summary>
public sealed class Fp8Linear : IDisposable
{
    private Tensor? _weightFp8, _weightFp8T, _weightScale;
    /// <summary>Pre-quantized, on a device without FP8 (before sm_89): the weight dequantized once into
    /// <see cref="_weightOnlyDType"/>, and the bias in that dtype.</summary>
    private Tensor? _weightOnly, _biasOnly;
    private DType _weightOnlyDType;
    private long _cachedVersion = -1;
    /// <summary>Pre-quantized: b's scale as fp8_gemm takes it ([1], [1, N], or the [K/128, N/128] view of the blocks).</summary>
    private Tensor? _bScale;

    /// <summary>A layer with weight (and bias) drawn like nn.Linear's from <paramref name="seed"/>.</summary>
    /// <param name="inFeatures">Input width (K).</param>
    /// <param name="outFeatures">Output width (N).</param>
    /// <param name="bias">Whether to add a float32 bias.</param>
    /// <param name="dtype">dtype of the float weight.</param>
    /// <param name="device">Defaults to <see cref="Device.Default"/>.</param>
    /// <param name="seed">Seed of the uniform initialization.</param>
    public Fp8Linear(int inFeatures, int outFeatures, bool bias = false, DType dtype = DType.Float32, Device? device = null, int seed = 0)
    {
        Check.Positive(inFeatures, nameof(inFeatures));
        Check.Positive(outFeatures, nameof(outFeatures));
        Check.FloatDType(dtype, nameof(dtype));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var random = new Random(seed);
        Weight = Tensor.FromArray(Init.Linear(random, (long)outFeatures * inFeatures, inFeatures), [outFeatures, inFeatures], dtype, device);
        if (bias)
            Bias = Tensor.FromArray(Init.Linear(random, outFeatures, inFeatures), [outFeatures], DType.Float32, device);
    }

    /// <summary>A layer over pre-quantized weights, used without re-quantizing (the module keeps its own views;
    /// the caller may dispose its tensors).</summary>
    /// <param name="weight">E4M3 codes <c>[out, in]</c>, contiguous (a checkpoint's <c>weight</c>).</param>
    /// <param name="weightScale">float32, bfloat16 or float16 (a 16-bit one is widened to float32, exactly), contiguous:
    /// one element (per tensor), <c>[out]</c> or <c>[out, 1]</c> (per output channel), or <c>[ceil(out/128), ceil(in/128)]</c>
    /// (per 128 × 128 block: DeepSeek-V3's <c>weight_scale_inv</c>; a layer of one block has a <c>[1, 1]</c> one, which is
    /// read as a block scale). The activations are then quantized per tensor, per token, or per token and 1 × 128 group.</param>
    /// <param name="bias">Optional <c>[out]</c>, float32 or 16-bit (widened).</param>
    /// <param name="scheme">The checkpoint's scheme where the scale's shape leaves it open (default: from the shape).</param>
    public static Fp8Linear FromQuantized(Tensor weight, Tensor weightScale, Tensor? bias = null, Fp8WeightScheme? scheme = null)
    {
        Check.Usable(weight, nameof(weight));
        Check.Usable(weightScale, nameof(weightScale));
        Check.SameDevice(weightScale, nameof(weightScale), weight, nameof(weight));
        if (bias is not null)
        {
            Check.Usable(bias, nameof(bias));
            Check.SameDevice(bias, nameof(bias), weight, nameof(weight));
        }
        Check.DType(weight, nameof(weight), DType.Float8E4M3);
        Check.Rank(weight, nameof(weight), 2, "[out, in]");
        Check.Contiguous(weight, nameof(weight));
        Check.DType(weightScale, nameof(weightScale), DType.Float32, DType.BFloat16, DType.Float16);
        Check.Contiguous(weightScale, nameof(weightScale));
        if (scheme is { } given)
            Check.Defined(given, nameof(scheme));
        int n = weight.Shape[0], k = weight.Shape[1];
        Check.Positive(n, "weight.Shape[0]");
        Check.Positive(k, "weight.Shape[1]");
        int nb = Ops.Tiles(n, 128), kb = Ops.Tiles(k, 128);
        bool blockShape = weightScale.Rank == 2 && weightScale.Shape[0] == nb && weightScale.Shape[1] == kb;
        bool channelShape = weightScale.Shape.SequenceEqual([n]) || weightScale.Shape.SequenceEqual([n, 1]);
        bool oneElement = weightScale.ElementCount == 1 && weightScale.Rank <= 2;
        string expected = $"one element, [{n}] or [{n}, 1] (per channel) or [{nb}, {kb}] (per 128 × 128 block)";
        // A [1, 1] scale of a layer within one 128 × 128 block is DeepSeek's weight_scale_inv (a checkpoint's per-tensor
        // scale is [] or [1]): its activations go per 1 × 128 group, as transformers' FP8 layers quantize them.
        var resolved = scheme ?? (blockShape ? Fp8WeightScheme.Block
            : channelShape && n > 1 ? Fp8WeightScheme.PerChannel
            : oneElement ? Fp8WeightScheme.PerTensor
            : throw Check.ShapeMismatch(nameof(weightScale), $"expected {expected}, got shape {weightScale.ShapeText}."));
        bool fits = resolved switch
        {
            Fp8WeightScheme.Block => blockShape,
            Fp8WeightScheme.PerChannel => channelShape,
            _ => oneElement,
        };
        if (!fits)
            throw Check.ShapeMismatch(nameof(weightScale), $"expected {(resolved switch
            {
                Fp8WeightScheme.Block => $"[{nb}, {kb}] (per 128 × 128 block)",
                Fp8WeightScheme.PerChannel => $"[{n}] or [{n}, 1] (per channel)",
                _ => "one element (per tensor)",
            })} for scheme {resolved}, got shape {weightScale.ShapeText}.");
        if (bias is not null)
        {
            Check.DType(bias, nameof(bias), DType.Float32, DType.BFloat16, DType.Float16);
            Check.Shape(bias.Rank == 1 && bias.Shape[0] == n, nameof(bias), $"[out = {n}]", bias);
            Check.Contiguous(bias, nameof(bias));
        }
        // 16-bit scales and biases (compressed-tensors checkpoints store them in bf16) widen exactly to float32.
        using var wideScale = weightScale.DType == DType.Float32 ? null : weightScale.To(DType.Float32);
        using var wideBias = bias is null || bias.DType == DType.Float32 ? null : bias.To(DType.Float32);
        weightScale = wideScale ?? weightScale;
        bias = wideBias ?? bias;
        var layer = new Fp8Linear(k, n, resolved);
        layer._weightFp8 = weight.Reshape(n, k);
        layer._weightFp8T = weight.Transpose(0, 1);
        layer._weightScale = weightScale.Reshape(weightScale.Shape.ToArray());
        layer._bScale = resolved switch
        {
            Fp8WeightScheme.PerTensor => weightScale.Reshape(1),
            Fp8WeightScheme.PerChannel => weightScale.Reshape(1, n),
            _ => weightScale.Transpose(0, 1), // [K/128, N/128], no copy
        };
        layer.Bias = bias?.Reshape(n);
        return layer;
    }

    private Fp8Linear(int inFeatures, int outFeatures, Fp8WeightScheme scheme)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Scheme = scheme;
        IsPreQuantized = true;
    }

    /// <summary>How the weight is scaled (and so how each forward quantizes the activations).</summary>
    public Fp8WeightScheme Scheme { get; } = Fp8WeightScheme.PerTensor;

    /// <summary>True for a layer made by <see cref="FromQuantized"/>: no float weight, the codes are never rebuilt.</summary>
    public bool IsPreQuantized { get; }

    /// <summary>Input width (K).</summary>
    public int InFeatures { get; }

    /// <summary>Output width (N).</summary>
    public int OutFeatures { get; }

    /// <summary>The float weight, <c>[out, in]</c>; null for a pre-quantized layer (<see cref="FromQuantized"/>).</summary>
    public Tensor? Weight { get; private set; }

    /// <summary>Optional float32 bias, <c>[out]</c>.</summary>
    public Tensor? Bias { get; private set; }

    /// <summary>Bumped by every weight change made through this module.</summary>
    public long WeightVersion { get; private set; }

    /// <summary>The cached E4M3 weight codes <c>[out, in]</c> (null before the first forward).</summary>
    public Tensor? WeightFp8 => _weightFp8;

    /// <summary>The cached weight transpose <c>[in, out]</c> that <see cref="Ops.Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/> takes as b: a
    /// view over <see cref="WeightFp8"/>'s K-contiguous bytes, the layout the FP8 tensor cores read
    /// directly (no copy is made or needed).</summary>
    public Tensor? WeightFp8T => _weightFp8T;

    /// <summary>The float32 weight scale: the cached <c>[1]</c>, or the pre-quantized layer's own (per tensor, per channel or per block).</summary>
    public Tensor? WeightScale => _weightScale;

    /// <summary>Replaces the weight (row-major <c>[out, in]</c>); the FP8 cache is rebuilt on the next forward.</summary>
    public void LoadWeight(ReadOnlySpan<float> values)
    {
        if (Weight is null)
            throw new TritonOpsException("LoadWeight: this Fp8Linear holds pre-quantized weights (FromQuantized); make a new one from the new codes and scales.");
        var loaded = Tensor.FromArray(values, [OutFeatures, InFeatures], Weight.DType, Weight.Device);
        Weight.Dispose();
        Weight = loaded;
        WeightVersion++;
    }

    /// <summary>Replaces the bias (<c>[out]</c>).</summary>
    public void LoadBias(ReadOnlySpan<float> values)
    {
        if (Bias is null)
            throw new TritonOpsException("LoadBias: this Fp8Linear was created with bias: false.");
        var loaded = Tensor.FromArray(values, [OutFeatures], DType.Float32, Bias.Device);
        lock (_cacheLock)
        {
            Bias.Dispose();
            Bias = loaded;
            DropWeightOnly(); // its bias copy is the old bias
        }
    }

    /// <summary>Drops the FP8 weight cache; the next forward re-quantizes.</summary>
    public void InvalidateCache()
    {
        lock (_cacheLock)
        {
            if (IsPreQuantized)
                return; // the codes are the weight: nothing to rebuild
            _weightFp8T?.Dispose();
            _weightFp8?.Dispose();
            _weightScale?.Dispose();
            (_weightFp8, _weightFp8T, _weightScale) = (null, null, null);
            _cachedVersion = -1;
        }
    }

    /// <summary>x <c>[…, in]</c> (float32, float16 or bfloat16) → <c>[…, out]</c> in x's dtype.</summary>
    public Tensor Forward(Tensor x)
    {
        Check.Usable(x, nameof(x));
        Check.Shape(x.Rank >= 1 && x.Shape[^1] == InFeatures, nameof(x), $"[…, in = {InFeatures}]", x);
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        Check.Contiguous(x, nameof(x));
        Check.SameDevice(x, nameof(x), _weightFp8T ?? Weight!, nameof(Weight));
        int rows = (int)(x.ElementCount / InFeatures);
        using var x2 = x.Reshape(rows, InFeatures);
        Tensor y2;
        if (!IsPreQuantized)
            Check.SupportsFp8(x, nameof(x), "Fp8Linear (a float weight, quantized on the device)");
        if (IsPreQuantized && !x.Device.HasFp8)
        {
            lock (_cacheLock)
            {
                EnsureWeightOnly(x.DType);
                return Ops.Linear(x, _weightOnly!, _biasOnly);
            }
        }
        if (IsPreQuantized)
        {
            // The activations as the weight's scheme asks: per tensor, per token (row-wise), per token and 1 × 128 group (blocks).
            var (xq, xScale) = Ops.QuantizeFp8(x2, granularity: Scheme switch
            {
                Fp8WeightScheme.PerChannel => ScaleGranularity.PerRow,
                Fp8WeightScheme.Block => ScaleGranularity.PerTokenGroup,
                _ => ScaleGranularity.PerTensor,
            });
            using (xq)
            using (xScale)
                y2 = Ops.Fp8Gemm(xq, _weightFp8T!, xScale, _bScale, x.DType, Bias);
            using var __ = y2;
            int[] outShape = x.Shape.ToArray();
            outShape[^1] = OutFeatures;
            return y2.Reshape(outShape);
        }
        // The cache is rebuilt and read under the module's lock: concurrent forwards never see it half made or disposed.
        lock (_cacheLock)
        {
            EnsureCache();
            y2 = Ops.Fp8Gemm(x2, _weightFp8T!, null, _weightScale, x.DType, Bias);
        }
        using var _ = y2;
        int[] shape = x.Shape.ToArray();
        shape[^1] = OutFeatures;
        return y2.Reshape(shape);
    }

    private readonly object _cacheLock = new();

    /// <summary>The codes times their scales, rounded once into <paramref name="dtype"/>, and the bias in it (made once a dtype).</summary>
    private void EnsureWeightOnly(DType dtype)
    {
        if (_weightOnly is not null && _weightOnlyDType == dtype)
            return;
        DropWeightOnly();
        using var scale = Scheme == Fp8WeightScheme.PerChannel ? _weightScale!.Reshape(OutFeatures, 1) : _weightScale!.Reshape(_weightScale.Shape.ToArray());
        _weightOnly = Ops.DequantizeFp8(_weightFp8!, scale, dtype);
        _biasOnly = Bias?.To(dtype);
        _weightOnlyDType = dtype;
    }

    private void DropWeightOnly()
    {
        _weightOnly?.Dispose();
        _biasOnly?.Dispose();
        (_weightOnly, _biasOnly) = (null, null);
    }

    private void EnsureCache()
    {
        if (_cachedVersion == WeightVersion && _weightFp8 is not null)
            return;
        InvalidateCache();
        (_weightFp8, _weightScale) = Ops.QuantizeFp8(Weight!);
        _weightFp8T = _weightFp8.Transpose(0, 1);
        _cachedVersion = WeightVersion;
    }

    /// <summary>Releases the weight, bias and cache.</summary>
    public void Dispose()
    {
        InvalidateCache();
        if (IsPreQuantized)
        {
            _weightFp8T?.Dispose();
            _weightFp8?.Dispose();
            _weightScale?.Dispose();
            _bScale?.Dispose();
            DropWeightOnly();
        }
        Weight?.Dispose();
        Bias?.Dispose();
    }
}

/// <summary>How an <see cref="Fp8Linear"/>'s E4M3 weight is scaled.</summary>
public enum Fp8WeightScheme
{
    /// <summary>One scale; activations per tensor.</summary>
    PerTensor,
    /// <summary>One per output channel; activations per token (row-wise, as <c>torch._scaled_mm</c>'s).</summary>
    PerChannel,
    /// <summary>One per 128 × 128 block (DeepSeek-V3); activations per token and 1 × 128 group.</summary>
    Block,
}
