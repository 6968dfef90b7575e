namespace TritonOps.Kernels.QuantizeFp8;

/// <summary>Where an element's scale lives: one for the tensor, one per row, or one per column.</summary>
internal enum ScaleIndex
{
    Tensor = 0,
    Row = 1,
    Column = 2,
    /// <summary>Per row and group of <see cref="Fp8Shape.GroupSize"/> columns: scale [rows, ceil(cols / G)].</summary>
    Group = 3,
    /// <summary>Per G × G block: scale [ceil(rows / G), ceil(cols / G)].</summary>
    Block = 4,
}

/// <summary>Sizes of one quantize or dequantize launch over a dense [rows, cols] (or flat) tensor.</summary>
internal struct Fp8Shape
{
    public long Count;
    public int Cols;
    public ScaleIndex Scales;
    /// <summary>1: the per-tensor scale is derived here from the device amax (<see cref="Fp8QuantizeKernels.ScaleFromAmax{TFormat}"/>).</summary>
    public int ScaleFromAmax;
    /// <summary>Group / block side G (<see cref="ScaleIndex.Group"/>, <see cref="ScaleIndex.Block"/>).</summary>
    public int GroupSize;
    /// <summary>Scales in a row of the scale tensor: ceil(cols / G).</summary>
    public int ScaleCols;
    /// <summary>Rows of the [rows, cols] tensor (the group and block kernels).</summary>
    public int Rows;
    /// <summary><see cref="Fp8GroupQuantizeKernels.QuantizeGroups{TElement, TFormat}"/>: lanes a group (G / 8, a power of two ≤ 32).</summary>
    public int GroupLanes;
    /// <summary>log2 <see cref="GroupLanes"/>: the group of a run by a shift (an integer division is ~20 instructions).</summary>
    public int GroupShift;
}

/// <summary>
/// FP8 quantization: q = RNE_saturate(x / scale) (the quotient correctly rounded in float32, <see cref="ScaleDivisor"/>),
/// dequant x ≈ q · scale, all in float32.
/// With a computed per-tensor scale, scale = amax · fl(1 / max(format)) (1 when amax = 0) and the amax is
/// reduced on the device: <see cref="AbsMax{TElement}"/> then <see cref="Quantize{TElement, TFormat}"/>,
/// which walks the tensor in reverse block order so its first reads hit what the amax pass left in L2.
/// </summary>
internal static class Fp8QuantizeKernels
{
    public const int Threads = 256;

    /// <summary>max |x| into <paramref name="amaxBits"/>[0] (which must start at 0) as float bits: for
    /// non-negative floats the bit patterns order like the values, so an integer atomic max works;
    /// a NaN (bits above +Inf) wins, so a NaN input makes the scale NaN, as in PyTorch.</summary>
    [GlobalMemoryOnly]
    public static void AbsMax<TElement>(ArrayView<byte> x, ArrayView<uint> amaxBits, Fp8Shape shape)
        where TElement : struct, IElementType
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        int width = TElement.PackWidth;
        long packs = shape.Count / width, stride = (long)Grid.DimX * Group.DimX;
        var xs = x.Cast<Vec4U>();
        float amax = 0f;
        long p = Grid.GlobalIndex.X;
        // Four packs a thread per round, loads issued together: a 16-byte load per thread at a time
        // keeps too little in flight to reach the copy rate.
        for (; p + 3 * stride < packs; p += 4 * stride)
        {
            Vec4U r0 = xs[p], r1 = xs[p + stride], r2 = xs[p + 2 * stride], r3 = xs[p + 3 * stride];
            amax = MaxBits(MaxBits(amax, AbsMaxOf(TElement.Unpack(r0))), AbsMaxOf(TElement.Unpack(r1)));
            amax = MaxBits(MaxBits(amax, AbsMaxOf(TElement.Unpack(r2))), AbsMaxOf(TElement.Unpack(r3)));
        }
        for (; p < packs; p += stride)
            amax = MaxBits(amax, AbsMaxOf(TElement.Unpack(xs[p])));
        for (long i = packs * width + Grid.GlobalIndex.X; i < shape.Count; i += (long)Grid.DimX * Group.DimX)
            amax = MaxBits(amax, XAbs(TElement.Widen(TElement.LoadBits(x, i))));
        float blockMax = BlockReduce.Max(amax, scratch);
        if (Group.IdxX == 0)
            Atomic.Max(ref amaxBits[0], Bits.Of(blockMax));
    }

    /// <summary>Groups of eight elements each thread of <see cref="Quantize{TElement, TFormat}"/> converts.</summary>
    public const int GroupsPerThread = 4;

    /// <summary>Elements one block of <see cref="Quantize{TElement, TFormat}"/> covers.</summary>
    public const int QuantizeBlockElements = Threads * GroupsPerThread * 8;

    /// <summary>Elementwise quantization: a block converts <see cref="QuantizeBlockElements"/> consecutive
    /// elements, each thread <see cref="GroupsPerThread"/> groups of eight (one or two 16-byte packs in,
    /// eight codes out) a block width apart, all its loads issued before the first conversion.</summary>
    [GlobalMemoryOnly]
    public static void Quantize<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<float> scales, ArrayView<uint> amaxBits, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        // Reverse block order: the AbsMax pass ended at the tensor's tail, which is still in L2.
        int block = Grid.DimX - 1 - Grid.IdxX;
        if (shape.ScaleFromAmax != 0 && block == 0 && Group.IdxX == 0)
            scales[0] = ScaleFromAmax<TFormat>(amaxBits[0]);
        long firstGroup = (long)block * Threads * GroupsPerThread + Group.IdxX;
        if ((firstGroup + (GroupsPerThread - 1) * Threads) * 8 + 8 <= shape.Count && shape.Scales == ScaleIndex.Tensor)
        {
            var divisor = new ScaleDivisor(shape.ScaleFromAmax != 0 ? ScaleFromAmax<TFormat>(amaxBits[0]) : scales[0]);
            Vec8F v0 = LoadEight<TElement>(x, firstGroup), v1 = LoadEight<TElement>(x, firstGroup + Threads);
            Vec8F v2 = LoadEight<TElement>(x, firstGroup + 2 * Threads), v3 = LoadEight<TElement>(x, firstGroup + 3 * Threads);
            var codes = q.Cast<ulong>();
            codes[firstGroup] = EncodeEight<TFormat>(v0, divisor, bounded: false);
            codes[firstGroup + Threads] = EncodeEight<TFormat>(v1, divisor, bounded: false);
            codes[firstGroup + 2 * Threads] = EncodeEight<TFormat>(v2, divisor, bounded: false);
            codes[firstGroup + 3 * Threads] = EncodeEight<TFormat>(v3, divisor, bounded: false);
            return;
        }
        for (int g = 0; g < GroupsPerThread; g++)
        {
            long first = (firstGroup + g * Threads) * 8;
            for (long i = first; i < first + 8 && i < shape.Count; i++)
            {
                float scale = shape.ScaleFromAmax != 0 ? ScaleFromAmax<TFormat>(amaxBits[0]) : scales[ScaleSlot(i, shape)];
                q[i] = TFormat.Encode(new ScaleDivisor(scale).Divide(TElement.Widen(TElement.LoadBits(x, i))));
            }
        }
    }

    /// <summary>
    /// Per-row quantization of a dense [rows, cols] tensor, one block per row: the row's amax (block
    /// reduction), its scale written to scales[row], then the row quantized (its second read comes
    /// from cache).
    /// </summary>
    [GlobalMemoryOnly]
    public static void QuantizeRows<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<float> scales, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        long rowStart = (long)Grid.IdxX * shape.Cols;
        float amax = 0f;
        for (int c = Group.IdxX; c < shape.Cols; c += Group.DimX)
            amax = MaxBits(amax, XAbs(TElement.Widen(TElement.LoadBits(x, rowStart + c))));
        float scale = ScaleFromAmax<TFormat>(Bits.Of(BlockReduce.Max(amax, scratch)));
        if (Group.IdxX == 0)
            scales[Grid.IdxX] = scale;
        var divisor = ScaleDivisor.OfComputedScale(scale);
        for (int c = Group.IdxX; c < shape.Cols; c += Group.DimX)
            q[rowStart + c] = TFormat.Encode(divisor.DivideBounded(TElement.Widen(TElement.LoadBits(x, rowStart + c))));
    }

    /// <summary>Per-column scales of a dense [rows, cols] tensor: thread per column, reads coalesced across the warp.</summary>
    [GlobalMemoryOnly]
    public static void ColumnScales<TElement, TFormat>(ArrayView<byte> x, ArrayView<float> scales, Fp8Shape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        int c = Grid.GlobalIndex.X;
        if (c >= shape.Cols)
            return;
        float amax = 0f;
        for (long i = c; i < shape.Count; i += shape.Cols)
            amax = MaxBits(amax, XAbs(TElement.Widen(TElement.LoadBits(x, i))));
        scales[c] = ScaleFromAmax<TFormat>(Bits.Of(amax));
    }

    /// <summary>x = q · scale, rounded once into the output dtype.</summary>
    [GlobalMemoryOnly]
    public static void Dequantize<TFormat, TOut>(ArrayView<byte> q, ArrayView<float> scales, ArrayView<byte> output, Fp8Shape shape)
        where TFormat : struct, IFloat8Format
        where TOut : struct, IElementType
    {
        long i = Grid.GlobalLinearIndex;
        if (i < shape.Count)
            TOut.StoreBits(output, i, TOut.Narrow(TFormat.Decode(q[i]) * scales[ScaleSlot(i, shape)]));
    }

    /// <summary>out[c, r] = in[r, c] for a [rows, cols] byte matrix, 32×32 tiles through shared memory.</summary>
    [GlobalMemoryOnly]
    public static void TransposeBytes(ArrayView<byte> input, ArrayView<byte> output, int rows, int cols)
    {
        var tile = SharedMemory.Allocate<byte>(32 * 33);
        int c = Grid.IdxX * 32 + Group.IdxX;
        for (int r = Grid.IdxY * 32 + Group.IdxY, j = Group.IdxY; j < 32; r += 8, j += 8)
        {
            if (r < rows && c < cols)
                tile[j * 33 + Group.IdxX] = input[(long)r * cols + c];
        }
        Group.Barrier();
        int outRow = Grid.IdxX * 32, outCol = Grid.IdxY * 32 + Group.IdxX;
        for (int j = Group.IdxY; j < 32; j += 8)
        {
            if (outRow + j < cols && outCol < rows)
                output[(long)(outRow + j) * rows + outCol] = tile[Group.IdxX * 33 + j];
        }
    }

    /// <summary>The smallest computed scale, 2⁻⁶⁴: <see cref="ScaleDivisor.DivideBounded"/> is exact above it without a
    /// prescale. A group whose amax · fl(1/max) falls below it (amax under ~2.4·10⁻¹⁷ for E4M3) is scaled as if its amax
    /// were that large; PyTorch would divide by the smaller scale (vLLM and DeepGEMM clamp much higher, at 1e-10 and
    /// 1e-4 of amax).</summary>
    public const float MinComputedScale = ScaleDivisor.TwoToMinus64;

    /// <summary>amax · (1 / max(format)), the reciprocal rounded to float32 first: what PyTorch computes for
    /// <c>amax / 448.0</c> on a CUDA tensor (a CPU-scalar divisor becomes a multiply by its float32 reciprocal,
    /// <c>div_true_kernel_cuda</c>), and so what transformers' FineGrainedFP8 and the usual <c>x.abs().amax() / finfo.max</c>
    /// recipes give on the GPU. It differs from amax / max correctly rounded by an ulp for about a third of amaxes, and at
    /// exact code ties that ulp picks the code: on transformers' FP8 Qwen3 fixture it moved 2 of 10 rows of the q
    /// projection. 1 when amax is 0 (an all-zero group quantizes to zeros); at least <see cref="MinComputedScale"/>
    /// otherwise; NaN and ∞ pass through (a NaN or infinite amax).</summary>
    public static float ScaleFromAmax<TFormat>(uint amaxBits) where TFormat : struct, IFloat8Format
    {
        float amax = Bits.ToFloat(amaxBits);
        float scale = amax * TFormat.InverseMaxFinite;
        return amax == 0f ? 1f : scale < MinComputedScale ? MinComputedScale : scale;
    }

    private static long ScaleSlot(long i, in Fp8Shape shape) => shape.Scales switch
    {
        ScaleIndex.Row => i / shape.Cols,
        ScaleIndex.Column => i % shape.Cols,
        ScaleIndex.Group => i / shape.Cols * shape.ScaleCols + i % shape.Cols / shape.GroupSize,
        ScaleIndex.Block => i / shape.Cols / shape.GroupSize * shape.ScaleCols + i % shape.Cols / shape.GroupSize,
        _ => 0,
    };

    /// <summary>Eight elements' raw bits: one 16-byte pack of a 16-bit dtype (<see cref="Lo"/>), two of float32.</summary>
    internal struct RawEight
    {
        public Vec4U Lo, Hi;
    }

    internal static RawEight LoadRawEight<TElement>(ArrayView<byte> x, long group) where TElement : struct, IElementType =>
        TElement.PackWidth == 8
            ? new RawEight { Lo = x.Cast<Vec4U>()[group] }
            : new RawEight { Lo = x.Cast<Vec4U>()[2 * group], Hi = x.Cast<Vec4U>()[2 * group + 1] };

    internal static float AbsMaxOf<TElement>(in RawEight raw) where TElement : struct, IElementType =>
        TElement.PackWidth == 8 ? TElement.AbsMaxOfPack(raw.Lo) : MaxBits(TElement.AbsMaxOfPack(raw.Lo), TElement.AbsMaxOfPack(raw.Hi));

    internal static Vec8F Unpack<TElement>(in RawEight raw) where TElement : struct, IElementType
    {
        if (TElement.PackWidth == 8)
            return TElement.Unpack(raw.Lo);
        Vec8F lo = TElement.Unpack(raw.Lo), hi = TElement.Unpack(raw.Hi);
        lo.E4 = hi.E0; lo.E5 = hi.E1; lo.E6 = hi.E2; lo.E7 = hi.E3;
        return lo;
    }

    /// <summary>Eight values rounded into the dtype, as <see cref="LoadRawEight{TElement}"/> would have read them.</summary>
    internal static RawEight PackEight<TElement>(in Vec8F v) where TElement : struct, IElementType
    {
        if (TElement.PackWidth == 8)
            return new RawEight { Lo = TElement.Pack(v) };
        var hi = new Vec8F { E0 = v.E4, E1 = v.E5, E2 = v.E6, E3 = v.E7 };
        return new RawEight { Lo = TElement.Pack(v), Hi = TElement.Pack(hi) };
    }

    internal static Vec8F LoadEight<TElement>(ArrayView<byte> x, long group) where TElement : struct, IElementType =>
        Unpack<TElement>(LoadRawEight<TElement>(x, group));

    /// <summary>Eight codes; <paramref name="bounded"/> (a constant at every call site, folded after inlining): the scale
    /// came from an amax that bounds these values (<see cref="ScaleDivisor.DivideBounded"/>), else a given scale.</summary>
    internal static ulong EncodeEight<TFormat>(in Vec8F v, in ScaleDivisor scale, bool bounded) where TFormat : struct, IFloat8Format =>
        Encode4<TFormat>(v.E0, v.E1, v.E2, v.E3, scale, bounded) | ((ulong)Encode4<TFormat>(v.E4, v.E5, v.E6, v.E7, scale, bounded) << 32);

    internal static uint Encode4<TFormat>(float a, float b, float c, float d, in ScaleDivisor scale, bool bounded) where TFormat : struct, IFloat8Format =>
        bounded
            ? TFormat.EncodeQuad(scale.DivideBounded(a), scale.DivideBounded(b), scale.DivideBounded(c), scale.DivideBounded(d))
            : TFormat.EncodeQuad(scale.Divide(a), scale.Divide(b), scale.Divide(c), scale.Divide(d));

    internal static float AbsMaxOf(in Vec8F v) =>
        MaxBits(MaxBits(MaxBits(XAbs(v.E0), XAbs(v.E1)), MaxBits(XAbs(v.E2), XAbs(v.E3))),
                MaxBits(MaxBits(XAbs(v.E4), XAbs(v.E5)), MaxBits(XAbs(v.E6), XAbs(v.E7))));

    /// <summary>Max by bit pattern of two non-negative floats: NaN (above +Inf) propagates.</summary>
    internal static float MaxBits(float a, float b) => Bits.ToFloat(Math.Max(Bits.Of(a), Bits.Of(b))); // one max.u32, not a compare and a select

    internal static float XAbs(float v) => Bits.ToFloat(Bits.Of(v) & 0x7FFF_FFFFu);

    public static readonly Type[] Formats = [typeof(E4M3), typeof(E5M2)];

    public static MethodInfo Method(string name, Type? a = null, Type? b = null) =>
        KernelMethods.Get(typeof(Fp8QuantizeKernels), name, a, b);

    public static IEnumerable<MethodInfo> AllVariants()
    {
        foreach (Type element in ElementTypes.Floats)
        {
            yield return Method(nameof(AbsMax), element);
            foreach (Type format in Formats)
            {
                yield return Method(nameof(Quantize), element, format);
                yield return Method(nameof(QuantizeRows), element, format);
                yield return Method(nameof(ColumnScales), element, format);
                yield return Method(nameof(Dequantize), format, element);
            }
        }
        yield return Method(nameof(TransposeBytes));
    }
}
