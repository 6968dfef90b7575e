namespace TritonOps;

/// <summary>
/// A linear layer whose product runs on FP8 tensor cores (<c>FP8Linear</c>): <c>y = x · Wᵀ (+ b)</c>.
/// The weight stays in float (<c>[out, in]</c>, initialized like <c>nn.Linear</c>). The first forward
/// quantizes it (E4M3, per tensor) and caches <see cref="WeightFp8"/>, <see cref="WeightScale"/> and
/// <see cref="WeightFp8T"/>; later forwards reuse them. Each forward quantizes the activation
/// (per tensor, amax on the device) and calls <see cref="Ops.Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/> with the bias added in its epilogue.
/// <para>Cache: changing the weight through <see cref="LoadWeight"/> bumps <see cref="WeightVersion"/>
/// and the next forward re-quantizes; <see cref="InvalidateCache"/> forces it after changes made any
/// other way (e.g. writing into <see cref="Weight"/>'s memory by another op).</para>
/// </summary>
public sealed class Fp8Linear : IDisposable
{
    private Tensor? _weightFp8, _weightFp8T, _weightScale;
    private long _cachedVersion = -1;

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

    /// <summary>Input width (K).</summary>
    public int InFeatures { get; }

    /// <summary>Output width (N).</summary>
    public int OutFeatures { get; }

    /// <summary>The float weight, <c>[out, in]</c>.</summary>
    public Tensor Weight { get; private set; }

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

    /// <summary>The cached float32 weight scale <c>[1]</c>.</summary>
    public Tensor? WeightScale => _weightScale;

    /// <summary>Replaces the weight (row-major <c>[out, in]</c>); the FP8 cache is rebuilt on the next forward.</summary>
    public void LoadWeight(ReadOnlySpan<float> values)
    {
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
        Bias.Dispose();
        Bias = loaded;
    }

    /// <summary>Drops the FP8 weight cache; the next forward re-quantizes.</summary>
    public void InvalidateCache()
    {
        lock (_cacheLock)
        {
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
        Check.SameDevice(x, nameof(x), Weight, nameof(Weight));
        int rows = (int)(x.ElementCount / InFeatures);
        using var x2 = x.Reshape(rows, InFeatures);
        Tensor y2;
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

    private void EnsureCache()
    {
        if (_cachedVersion == WeightVersion && _weightFp8 is not null)
            return;
        InvalidateCache();
        (_weightFp8, _weightScale) = Ops.QuantizeFp8(Weight);
        _weightFp8T = _weightFp8.Transpose(0, 1);
        _cachedVersion = WeightVersion;
    }

    /// <summary>Releases the weight, bias and cache.</summary>
    public void Dispose()
    {
        InvalidateCache();
        Weight.Dispose();
        Bias?.Dispose();
    }
}
