namespace TritonOps.Kernels.QuantizeFp8;

/// <summary>Where a group-quantize kernel reads run <c>run</c> (elements 8·run … 8·run + 7) of its block's row
/// (<c>Grid.IdxX</c>): the elements' bits in the dtype, as <see cref="Fp8QuantizeKernels.LoadRawEight{TElement}"/> gives
/// them. <c>rowEights</c> = row · (cols / 8), computed once by the kernel (a source that took its row start per load paid
/// a 64-bit multiply a load, which the inlined loads do not share: 13 more instructions).</summary>
internal interface IEightSource<TSelf> where TSelf : struct, IEightSource<TSelf>
{
    static abstract Fp8QuantizeKernels.RawEight Load(in TSelf source, long rowEights, int run);
}

/// <summary>
/// FP8 quantization with scales computed on the device per token and group of G columns (1 × G, DeepSeek-V3's
/// activation scheme, vLLM's <c>per_token_group_quant_fp8</c>) and per G × G block (DeepSeek-V3's weights,
/// <c>weight_scale_inv</c>). Each group's scale is <c>amax · fl(1 / max(format))</c> (1 for an all-zero group; see
/// <see cref="Fp8QuantizeKernels.ScaleFromAmax{TFormat}"/>), and
/// <c>q = RNE_saturate(x / scale)</c>: the per-tensor kernels' conventions, so the codes equal
/// <see cref="Fp8QuantizeKernels"/>' for the same scale. Groups at the right (and bottom) edge hold what is left
/// of the row (ceil convention).
/// </summary>
internal static class Fp8GroupQuantizeKernels
{
    public const int Threads = 256;

    /// <summary>Runs of eight elements a thread of <see cref="QuantizeGroups{TElement, TFormat}"/> converts, all
    /// loaded before the first is used (as <see cref="Fp8QuantizeKernels.Quantize{TElement, TFormat}"/>, which
    /// reaches the copy rate that way).</summary>
    public const int RunsPerThread = 4;

    /// <summary>Runs of eight a block covers along a row.</summary>
    public const int BlockRuns = Threads * RunsPerThread;

    /// <summary>
    /// Per token and group, vectorized: the grid is (rows, ceil(runs of the row / <see cref="BlockRuns"/>)); run r of
    /// a row (columns 8r…8r+7, loaded as one or two 16-byte packs) belongs to group r / lanes, lanes = G / 8 (a power
    /// of two ≤ 32), whose lanes are adjacent in a warp: the group's amax is a butterfly over them, its first lane
    /// writes the scale. Needs cols a multiple of 8 and x 16-byte aligned. Runs past the row (the last group's
    /// ceil padding) load zeros and store nothing.
    /// </summary>
    [GlobalMemoryOnly]
    public static void QuantizeGroups<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<float> scales, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format =>
        QuantizeGroupsOf<DenseRuns<TElement>, TElement, TFormat>(new DenseRuns<TElement>(x), q, scales, shape);

    /// <summary><see cref="QuantizeGroups{TElement, TFormat}"/>'s body over any source of a row's runs of eight (x's
    /// own, or values computed on load, as the gated activation's): the grid, the group butterfly and the stores.</summary>
    internal static void QuantizeGroupsOf<TSource, TElement, TFormat>(in TSource source, ArrayView<byte> q, ArrayView<float> scales, in Fp8Shape shape)
        where TSource : struct, IEightSource<TSource>
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        int row = Grid.IdxX, rowRuns = shape.Cols / 8;
        int r0 = Grid.IdxY * BlockRuns + Group.IdxX;
        long rowEights = (long)row * rowRuns;
        // Every load before the first conversion.
        var v0 = Load(source, rowEights, r0, rowRuns);
        var v1 = Load(source, rowEights, r0 + Threads, rowRuns);
        var v2 = Load(source, rowEights, r0 + 2 * Threads, rowRuns);
        var v3 = Load(source, rowEights, r0 + 3 * Threads, rowRuns);
        Store<TElement, TFormat>(q, scales, v0, row, rowEights, r0, rowRuns, shape);
        Store<TElement, TFormat>(q, scales, v1, row, rowEights, r0 + Threads, rowRuns, shape);
        Store<TElement, TFormat>(q, scales, v2, row, rowEights, r0 + 2 * Threads, rowRuns, shape);
        Store<TElement, TFormat>(q, scales, v3, row, rowEights, r0 + 3 * Threads, rowRuns, shape);
    }

    private static Fp8QuantizeKernels.RawEight Load<TSource>(in TSource source, long rowEights, int run, int rowRuns)
        where TSource : struct, IEightSource<TSource> =>
        run < rowRuns ? TSource.Load(source, rowEights, run) : default;

    /// <summary>A dense [rows, cols] tensor's runs.</summary>
    private readonly struct DenseRuns<TElement> : IEightSource<DenseRuns<TElement>> where TElement : struct, IElementType
    {
        private readonly ArrayView<byte> x;

        public DenseRuns(ArrayView<byte> x) => this.x = x;

        public static Fp8QuantizeKernels.RawEight Load(in DenseRuns<TElement> s, long rowEights, int run) =>
            Fp8QuantizeKernels.LoadRawEight<TElement>(s.x, rowEights + run);
    }

    private static void Store<TElement, TFormat>(ArrayView<byte> q, ArrayView<float> scales, in Fp8QuantizeKernels.RawEight raw, int row, long rowEights,
        int run, int rowRuns, in Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        // Every lane takes part in the butterfly (warp-uniform trip count); padding lanes bring 0.
        float amax = Fp8QuantizeKernels.AbsMaxOf<TElement>(raw);
        for (int mask = 1; mask < shape.GroupLanes; mask <<= 1)
            amax = Fp8QuantizeKernels.MaxBits(amax, Warp.ShuffleXor(amax, mask));
        float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>(Bits.Of(amax));
        if (run >= rowRuns)
            return;
        if ((run & (shape.GroupLanes - 1)) == 0)
            scales[(long)row * shape.ScaleCols + (run >> shape.GroupShift)] = scale;
        q.Cast<ulong>()[rowEights + run] = Fp8QuantizeKernels.EncodeEight<TFormat>(Fp8QuantizeKernels.Unpack<TElement>(raw), ScaleDivisor.OfComputedScale(scale), bounded: true);
    }

    /// <summary>Per token and group, any shape: one thread a group, element by element (the amax pass, then the
    /// codes: the second read comes from cache). For rows whose width is not a multiple of 8, unaligned x, or G
    /// that <see cref="QuantizeGroups{TElement, TFormat}"/> does not take.</summary>
    [GlobalMemoryOnly]
    public static void QuantizeGroupsScalar<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<float> scales, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        long group = Grid.GlobalIndex.X;
        if (group >= (long)shape.Rows * shape.ScaleCols)
            return;
        long row = group / shape.ScaleCols;
        int c0 = (int)(group - row * shape.ScaleCols) * shape.GroupSize, c1 = Math.Min(c0 + shape.GroupSize, shape.Cols);
        long start = row * shape.Cols;
        float amax = 0f;
        for (int c = c0; c < c1; c++)
            amax = Fp8QuantizeKernels.MaxBits(amax, Fp8QuantizeKernels.XAbs(TElement.Widen(TElement.LoadBits(x, start + c))));
        float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>(Bits.Of(amax));
        scales[group] = scale;
        var divisor = ScaleDivisor.OfComputedScale(scale);
        for (int c = c0; c < c1; c++)
            q[start + c] = TFormat.Encode(divisor.DivideBounded(TElement.Widen(TElement.LoadBits(x, start + c))));
    }

    /// <summary>Per G × G block (weights, offline): one thread block per block of x (grid: ceil(rows / G) ·
    /// ceil(cols / G), row-major), its amax by a block reduction, then its codes (the second read from cache).</summary>
    [GlobalMemoryOnly]
    public static void QuantizeBlocks<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<float> scales, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int g = shape.GroupSize, blockRow = Grid.IdxX / shape.ScaleCols, blockCol = Grid.IdxX - blockRow * shape.ScaleCols;
        int r0 = blockRow * g, c0 = blockCol * g;
        int rows = Math.Min(g, shape.Rows - r0), cols = Math.Min(g, shape.Cols - c0), count = rows * cols;
        float amax = 0f;
        for (int i = Group.IdxX; i < count; i += Group.DimX)
        {
            int r = i / cols;
            amax = Fp8QuantizeKernels.MaxBits(amax, Fp8QuantizeKernels.XAbs(TElement.Widen(TElement.LoadBits(x, (long)(r0 + r) * shape.Cols + c0 + i - r * cols))));
        }
        float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>(Bits.Of(BlockReduce.Max(amax, scratch)));
        if (Group.IdxX == 0)
            scales[Grid.IdxX] = scale;
        var divisor = ScaleDivisor.OfComputedScale(scale);
        for (int i = Group.IdxX; i < count; i += Group.DimX)
        {
            int r = i / cols;
            long at = (long)(r0 + r) * shape.Cols + c0 + i - r * cols;
            q[at] = TFormat.Encode(divisor.DivideBounded(TElement.Widen(TElement.LoadBits(x, at))));
        }
    }

    public static MethodInfo Method(string name, Type element, Type format) =>
        KernelMethods.Get(typeof(Fp8GroupQuantizeKernels), name, element, format);

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats
        from format in Fp8QuantizeKernels.Formats
        from name in new[] { nameof(QuantizeGroups), nameof(QuantizeGroupsScalar), nameof(QuantizeBlocks) }
        select Method(name, element, format);
}
