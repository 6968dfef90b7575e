namespace TritonOps.Kernels.FusedGatedMlp;

/// <summary>Sizes of one gated-MLP launch: x [M, K], gate/up [N, K], out [M, N].</summary>
internal struct GatedMlpShape
{
    public int M, N, K;
    /// <summary>ceil(K / BlockK).</summary>
    public int KTiles;
    /// <summary>Output tiles along M and N.</summary>
    public int MTiles, NTiles;
    /// <summary>K % 8 == 0: rows start on 16-byte boundaries, so whole chunks load as one 16-byte access.</summary>
    public int KAligned;
    /// <summary>Split-K (the decode kernel): grid rows, each a KSplitLength range of K (a multiple of 128); ≤ 1: none.</summary>
    public int KSplits, KSplitLength;
    /// <summary>1: the gated epilogue rounds each product into the dtype, then the activation, then the product (a PyTorch
    /// eager MLP's <c>act_fn(gate_proj(x)) * up_proj(x)</c>); 0: one rounding.</summary>
    public int RoundProducts;
}

/// <summary>
/// The gated MLP's float32 kernel (no tensor cores), and the activations every gated kernel is instantiated with. The
/// 16-bit kernels are the GEMMs of <c>Gemm/</c> with <see cref="Gemm.GatedEpilogue{TElement, TActivation}"/>:
/// <see cref="Gemm.WarpSpecializedGemmKernel"/> (Hopper), <see cref="Gemm.WideGemmKernel"/> (before Hopper),
/// <see cref="Gemm.RegisterStagedGemmKernel"/> (rows not 16-byte aligned) and <see cref="Gemm.DecodeGemmKernel"/> (M ≤ 64).
/// </summary>
internal static class GatedMlpKernel
{
    /// <summary>
    /// The float32 path (no tensor cores): one thread per output element, both dot products in
    /// float32 over K. Grid (N, M) covered by 16×16 blocks.
    /// </summary>
    [GlobalMemoryOnly]
    public static void RunFloat32<TActivation>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s)
        where TActivation : struct, IActivation
    {
        int n = Grid.IdxX * Group.DimX + Group.IdxX, m = Grid.IdxY * Group.DimY + Group.IdxY;
        if (n >= s.N || m >= s.M)
            return;
        var xs = x.Cast<float>();
        var gs = gate.Cast<float>();
        var us = up.Cast<float>();
        long xRow = (long)m * s.K, wRow = (long)n * s.K;
        float g = 0f, u = 0f;
        for (int k = 0; k < s.K; k++)
        {
            float xv = xs[xRow + k];
            g += xv * gs[wRow + k];
            u += xv * us[wRow + k];
        }
        output.Cast<float>()[(long)m * s.N + n] = TActivation.Apply(g) * u;
    }

    public static readonly Type[] ActivationTypes = [typeof(Silu), typeof(Gelu), typeof(GeluTanh)];

    public static MethodInfo Float32Variant(Type activation) =>
        KernelMethods.Get(typeof(GatedMlpKernel), nameof(RunFloat32), activation);

    public static IEnumerable<MethodInfo> AllVariants() => ActivationTypes.Select(Float32Variant);
}
