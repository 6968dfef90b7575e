using TritonOps.Kernels.Numerics;

namespace TritonOps;

public static partial class Reference
{
    /// <summary>
    /// quantize_fp8 on the host, with the same float32 steps as the kernels (so codes compare bit for
    /// bit): scale = given, or amax · fl(1 / max) (PyTorch's <c>amax / 448.0</c> on CUDA; 1 for an all-zero group, at least 2⁻⁶⁴ otherwise); q = encode(x / scale) (float32 division, correctly rounded: as PyTorch and the kernels).
    /// <paramref name="scaleOf"/> maps an element index to its scale group; <paramref name="groups"/> groups.
    /// </summary>
    internal static (byte[] Codes, float[] Scales) QuantizeFp8(ReadOnlySpan<float> x, DType format, int groups, Func<long, int> scaleOf, float[]? scales = null)
    {
        Func<float, byte> encode = format == DType.Float8E4M3 ? E4M3.Encode : E5M2.Encode;
        float max = format == DType.Float8E4M3 ? E4M3.MaxFinite : E5M2.MaxFinite;
        if (scales is null)
        {
            var amax = new float[groups];
            for (long i = 0; i < x.Length; i++)
            {
                float v = MathF.Abs(x[(int)i]);
                int group = scaleOf(i);
                if (float.IsNaN(v) || float.IsNaN(amax[group]))
                    amax[group] = float.NaN; // NaN wins, as on the device
                else if (v > amax[group])
                    amax[group] = v;
            }
            scales = amax.Select(a => a == 0f ? 1f : a * (1f / max) is var s && s < TritonOps.Kernels.Numerics.ScaleDivisor.TwoToMinus64 ? TritonOps.Kernels.Numerics.ScaleDivisor.TwoToMinus64 : s).ToArray();
        }
        var codes = new byte[x.Length];
        for (long i = 0; i < x.Length; i++)
            codes[i] = encode(x[(int)i] / scales[scaleOf(i)]);
        return (codes, scales);
    }

    /// <summary>
    /// <see cref="Ops.QuantizeFp8(Tensor, Tensor?, DType, ScaleGranularity, int)"/> on the host, from the tensor's
    /// exact values: the codes in x's row-major order and the scales (one, one per row, one per column, one per row
    /// and group of <paramref name="groupSize"/> columns, or one per G × G block; row-major in the scale's shape).
    /// x may be a strided view (it is read through <see cref="Tensor.Contiguous"/>).
    /// </summary>
    /// <param name="x">float32, float16 or bfloat16; <c>[..., K]</c> for per-row and per-token-group scales, rank 2 for
    /// per-column and block ones.</param>
    /// <param name="scale">Optional float32 scale(s) to use: one element, [..., 1], [1, N], [..., ceil(K/G)] or the blocks' by granularity.</param>
    /// <param name="format"><see cref="DType.Float8E4M3"/> (default) or <see cref="DType.Float8E5M2"/>.</param>
    /// <param name="granularity">One scale, one per row, one per column, per token and group, or per block.</param>
    /// <param name="groupSize">G of the group and block granularities.</param>
    public static (byte[] Codes, float[] Scales) QuantizeFp8(Tensor x, Tensor? scale = null, DType format = DType.Float8E4M3,
        ScaleGranularity granularity = ScaleGranularity.PerTensor, int groupSize = 128)
    {
        Check.NotNull(x, nameof(x));
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        if (format is not (DType.Float8E4M3 or DType.Float8E5M2))
            throw new UnsupportedDtypeException($"Argument 'format': expected float8_e4m3fn or float8_e5m2, got {DTypes.Name(format)}.");
        if (!Enum.IsDefined(granularity))
            throw new ArgumentOutOfRangeException(nameof(granularity), granularity, $"Argument 'granularity': expected {string.Join(", ", Enum.GetNames<ScaleGranularity>())}, got {(int)granularity}.");
        Check.Positive(groupSize, nameof(groupSize));
        // Per row and per token and group, x [..., K]: the leading dims are rows, the scales [..., 1] or [..., ceil(K / G)].
        bool tokenRows = granularity is ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup && x.Rank >= 1;
        if (granularity != ScaleGranularity.PerTensor && !tokenRows)
            Check.Rank(x, nameof(x), 2, "[rows, cols] for scales other than per tensor");
        int cols = x.Rank == 2 || tokenRows ? x.Shape[^1] : 1, rows = 1, g = groupSize;
        if (x.Rank == 2 || tokenRows)
            for (int d = 0; d < x.Rank - 1; d++)
                rows = checked(rows * x.Shape[d]);
        int groupCols = (cols + g - 1) / g, groupRows = (rows + g - 1) / g;
        int[] lead = x.Shape.Take(Math.Max(0, x.Rank - 1)).ToArray();
        (int groups, Func<long, int> scaleOf, int[] scaleShape) = granularity switch
        {
            ScaleGranularity.PerRow => (rows, i => (int)(i / cols), [.. lead, 1]),
            ScaleGranularity.PerColumn => (cols, i => (int)(i % cols), new[] { 1, cols }),
            ScaleGranularity.PerTokenGroup => (rows * groupCols, i => (int)(i / cols) * groupCols + (int)(i % cols) / g, [.. lead, groupCols]),
            ScaleGranularity.Block => (groupRows * groupCols, i => (int)(i / cols) / g * groupCols + (int)(i % cols) / g, new[] { groupRows, groupCols }),
            _ => (1, (Func<long, int>)(_ => 0), new[] { 1 }),
        };
        if (scale is not null)
            CheckScale(scale, nameof(scale), scaleShape);
        float[]? given = scale?.ToFloatArray();
        if (given is { Length: 1 }) // one given scale serves every group, as in the op
            (groups, scaleOf) = (1, _ => 0);
        return QuantizeFp8(x.ToFloatArray(), format, groups, scaleOf, given);
    }

    /// <summary>
    /// float64 <see cref="Ops.Fp8Gemm(Tensor, Tensor, Tensor?, Tensor?, DType, Tensor?)"/> of operands already
    /// quantized: Σₖ (a[m,k]·sa) · (b[k,n]·sb) (+ bias[n]), row-major [M, N], unrounded. b may be any strided
    /// view, such as the transposed view of an [N, K] weight's codes (<see cref="Fp8Linear.WeightFp8T"/>).
    /// With scales per 128-deep block of K (DeepSeek-V3's), sa = a_scale[m, k / 128] and sb = b_scale[k / 128, n / 128].
    /// </summary>
    /// <param name="aCodes">[M, K] float8_e4m3fn codes.</param>
    /// <param name="aScale">float32, one element, [M, 1] or [M, ceil(K/128)] (any strides).</param>
    /// <param name="bCodes">[K, N] float8_e4m3fn codes, any strides.</param>
    /// <param name="bScale">float32, one element, [1, N] or [ceil(K/128), ceil(N/128)] (any strides: the transposed
    /// view of a checkpoint's [N/128, K/128] <c>weight_scale_inv</c> works as it is).</param>
    /// <param name="bias">Optional float32 [N].</param>
    public static double[] Fp8Gemm(Tensor aCodes, Tensor aScale, Tensor bCodes, Tensor bScale, Tensor? bias = null)
    {
        Check.NotNull(aCodes, nameof(aCodes));
        Check.NotNull(aScale, nameof(aScale));
        Check.NotNull(bCodes, nameof(bCodes));
        Check.NotNull(bScale, nameof(bScale));
        Check.DType(aCodes, nameof(aCodes), DType.Float8E4M3);
        Check.DType(bCodes, nameof(bCodes), DType.Float8E4M3);
        Check.Rank(aCodes, nameof(aCodes), 2, "[M, K]");
        Check.Rank(bCodes, nameof(bCodes), 2, "[K, N]");
        int m = aCodes.Shape[0], k = aCodes.Shape[1], n = bCodes.Shape[1];
        Check.Dim(bCodes, nameof(bCodes), 0, k, "K, from aCodes");
        int kb = (k + 127) / 128, nb = (n + 127) / 128;
        Check.DType(aScale, nameof(aScale), DType.Float32);
        Check.DType(bScale, nameof(bScale), DType.Float32);
        bool aOne = aScale.ElementCount == 1 && aScale.Rank <= 2, bOne = bScale.ElementCount == 1 && bScale.Rank <= 2;
        bool aRow = !aOne && aScale.Shape.SequenceEqual([m, 1]), aGroup = !aOne && !aRow && aScale.Shape.SequenceEqual([m, kb]);
        bool bCol = !bOne && bScale.Shape.SequenceEqual([1, n]), bBlock = !bOne && !bCol && bScale.Shape.SequenceEqual([kb, nb]);
        Check.Shape(aOne || aRow || aGroup, nameof(aScale), $"one element, [{m}, 1] or [{m}, {kb}]", aScale);
        Check.Shape(bOne || bCol || bBlock, nameof(bScale), $"one element, [1, {n}] or [{kb}, {nb}]", bScale);
        if (bias is not null)
        {
            Check.DType(bias, nameof(bias), DType.Float32);
            Check.Shape(bias.Rank == 1 && bias.Shape[0] == n, nameof(bias), $"[N = {n}]", bias);
        }
        float[] sa = aScale.ToFloatArray(), sb = bScale.ToFloatArray();
        return Fp8Gemm(aCodes.ToFloatArray(), bCodes.ToFloatArray(), m, k, n,
            aOne ? (_, _) => sa[0] : aRow ? (row, _) => sa[row] : (row, block) => sa[row * kb + block],
            bOne ? (_, _) => sb[0] : bCol ? (_, col) => sb[col] : (block, col) => sb[block * nb + col / 128],
            bias?.ToFloatArray());
    }

    /// <summary>
    /// float64 product of dequantized operands with scales that may change every 128 along K (DeepSeek-V3's block
    /// scaling): Σ_kb (Σ_{k in block kb} a[m,k]·b[k,n]) · aScale(m, kb) · bScale(kb, n) (+ bias[n]), for a [M, K] and b
    /// [K, N] given as decoded values (row-major), kb = k / 128.
    /// </summary>
    internal static double[] Fp8Gemm(float[] aDecoded, float[] bDecoded, int m, int k, int n,
        Func<int, int, double> aScale, Func<int, int, double> bScale, float[]? bias = null)
    {
        var output = new double[(long)m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k0 = 0; k0 < k; k0 += 128)
                {
                    double partial = 0;
                    for (int p = k0; p < Math.Min(k, k0 + 128); p++)
                        partial += (double)aDecoded[i * k + p] * bDecoded[p * n + j];
                    sum += partial * aScale(i, k0 / 128) * bScale(k0 / 128, j);
                }
                output[(long)i * n + j] = sum + (bias is null ? 0 : bias[j]);
            }
        return output;
    }

    /// <summary>A float32 scale tensor: one element, or <paramref name="perGroup"/>.</summary>
    private static void CheckScale(Tensor scale, string name, int[] perGroup)
    {
        Check.DType(scale, name, DType.Float32);
        bool ok = scale.ElementCount == 1 && scale.Rank <= 2 || scale.Shape.SequenceEqual(perGroup);
        Check.Shape(ok, name, $"one element or [{string.Join(", ", perGroup)}]", scale);
    }

    /// <summary>float64 product of dequantized operands: Σₖ (a[m,k]·sa) · (b[k,n]·sb), for a [M, K]
    /// and b [K, N] given as decoded values with per-row (a) and per-column (b) scales.</summary>
    internal static double[] Fp8Gemm(float[] aDecoded, float[] aScales, float[] bDecoded, float[] bScales, int m, int k, int n, float[]? bias = null)
    {
        var output = new double[(long)m * n];
        for (int i = 0; i < m; i++)
        {
            double sa = aScales.Length == 1 ? aScales[0] : aScales[i];
            for (int j = 0; j < n; j++)
            {
                double sb = bScales.Length == 1 ? bScales[0] : bScales[j];
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)aDecoded[i * k + p] * bDecoded[p * n + j];
                output[(long)i * n + j] = sum * sa * sb + (bias is null ? 0 : bias[j]);
            }
        }
        return output;
    }
}

public static partial class Reference
{
    /// <summary>
    /// <see cref="Ops.RmsNormQuantizeFp8"/> on the host: the float64 RMSNorm (<see cref="RmsNorm(Tensor, Tensor, double, float, NormRounding)"/>)
    /// rounded into x's dtype, then quantized to E4M3 per token ([rows, 1]) or per token and group of
    /// <paramref name="groupSize"/> ([rows, ceil(hidden / G)]) with the kernels' float32 steps.
    /// The device's norm uses a float32 sum and, on CUDA, <c>rsqrt.approx</c>: a y that lies within that error of a
    /// rounding boundary of the dtype may round the other way there, so codes are compared allowing for it.
    /// </summary>
    public static (byte[] Codes, float[] Scales) RmsNormQuantizeFp8(Tensor x, Tensor weight, double eps = 1e-6,
        ScaleGranularity granularity = ScaleGranularity.PerRow, int groupSize = 128, float weightOffset = 0, NormRounding rounding = NormRounding.Once)
    {
        Check.NotNull(x, nameof(x));
        Check.DType(x, nameof(x), DType.Float32, DType.Float16, DType.BFloat16);
        if (granularity is not (ScaleGranularity.PerRow or ScaleGranularity.PerTokenGroup))
            throw new InvalidArgumentException(nameof(granularity), $"Argument 'granularity': expected PerRow or PerTokenGroup, got {granularity}.");
        Check.Positive(groupSize, nameof(groupSize));
        int hidden = x.Shape[^1], rows = (int)(x.ElementCount / Math.Max(1, hidden));
        float[] y = RmsNorm(x, weight, eps, weightOffset, rounding).Select(v => DTypes.Round((float)v, x.DType)).ToArray();
        int groupCols = granularity == ScaleGranularity.PerRow ? 1 : (hidden + groupSize - 1) / groupSize;
        int g = granularity == ScaleGranularity.PerRow ? Math.Max(1, hidden) : groupSize;
        return QuantizeFp8(y, DType.Float8E4M3, rows * groupCols, i => (int)(i / hidden) * groupCols + (int)(i % hidden) / g);
    }
}
