using TritonOps.Kernels.Linear;

namespace TritonOps.Kernels.Gemm;

/// <summary>What an epilogue may read beside the accumulators: a bias [N] and a residual [M, N], both in the
/// output's dtype (flags say which are there; absent views are never read).</summary>
internal struct EpilogueArgs
{
    public ArrayView<byte> Bias, Residual;
    public int HasBias, HasResidual;
    /// <summary>1: the product (+ bias) is rounded into the output's dtype before the residual is added, and the sum
    /// rounded again (PyTorch eager's <c>residual + linear(x)</c>); 0: one rounding of the float32 sum.</summary>
    public int RoundBeforeResidual;
    /// <summary>Split-K only: float32 partial sums (every split's accumulators in the lanes' own layout) at device
    /// address PartialsAddress, and the kernel's split-K counters (one a tile for the strip kernel, three for the
    /// swapped one), zero between launches.</summary>
    public ArrayView<float> Partials;
    public ulong PartialsAddress;
    public ArrayView<int> Arrivals;
}

/// <summary>
/// The end of a mainloop that multiplies one x tile by two B tiles (<see cref="WarpSpecializedGemmKernel"/>,
/// <see cref="WideGemmKernel"/>, <see cref="RegisterStagedGemmKernel"/>, <see cref="DecodeGemmKernel"/>): what the two
/// accumulators become. A lane holds rows row and row + 8,
/// columns col and col + 1 of each (the mma / wgmma accumulator layout).
/// </summary>
internal interface IPairedTileEpilogue
{
    /// <summary>False: both B tiles are different matrices' rows for the same output columns (gate and up);
    /// true: the second B tile is the same matrix's next rows, so it makes the next output columns (a kernel's
    /// block then covers twice its B tile's columns, the second half <c>secondColumns</c> past the first).</summary>
    static abstract bool SplitsColumns { get; }

    /// <summary>Whether this launch rounds after each operation (<see cref="GatedMlpShape.RoundProducts"/>,
    /// <see cref="EpilogueArgs.RoundBeforeResidual"/>): a kernel tests it once a tile and passes the answer to
    /// <see cref="Store"/> as a constant in each arm, so the one-rounding arm carries no second path (tested once a
    /// fragment: gated M1024 339.0 → 348.4 µs, H200, 12-04).</summary>
    static abstract bool RoundsPerOp(in GatedMlpShape s, in EpilogueArgs e);

    static abstract void Store(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, int secondColumns, in GatedMlpShape s, in EpilogueArgs e,
        bool perOp);

    /// <summary>One output of each accumulator at (row, col) (the swapped decode kernel's lanes hold columns, not row
    /// pairs): masked to the matrix, rounded as <see cref="Store"/> rounds.</summary>
    static abstract void StoreOne(ArrayView<byte> output, float first, float second, int row, int col, int secondColumns, in GatedMlpShape s,
        in EpilogueArgs e, bool perOp);
}

/// <summary>act(first) ⊙ second: the gated MLP (first: x · gateᵀ, second: x · upᵀ, the same columns).</summary>
internal struct GatedEpilogue<TElement, TActivation> : IPairedTileEpilogue
    where TElement : struct, IMmaElement
    where TActivation : struct, IActivation
{
    public static bool SplitsColumns => false;

    public static bool RoundsPerOp(in GatedMlpShape s, in EpilogueArgs e) => s.RoundProducts != 0;

    /// <summary>act(gate) · up for the accumulator tile at (row, col), masked to the matrix; <paramref name="perOp"/>: each
    /// product rounded into the dtype, then the activation, then the product.</summary>
    public static void Store(ArrayView<byte> output, Acc4 gate, Acc4 up, int row, int col, int secondColumns, in GatedMlpShape s, in EpilogueArgs e,
        bool perOp)
    {
        if (col >= s.N)
            return;
        bool hasSecond = col + 1 < s.N;
        if (perOp)
        {
            if (row < s.M)
                PairStores.Store<TElement>(output, (long)row * s.N + col, RoundedProduct(gate.C0, up.C0), RoundedProduct(gate.C1, up.C1), hasSecond, s.N);
            if (row + 8 < s.M)
                PairStores.Store<TElement>(output, (long)(row + 8) * s.N + col, RoundedProduct(gate.C2, up.C2), RoundedProduct(gate.C3, up.C3), hasSecond, s.N);
            return;
        }
        if (row < s.M)
            PairStores.Store<TElement>(output, (long)row * s.N + col, TActivation.Apply(gate.C0) * up.C0, TActivation.Apply(gate.C1) * up.C1, hasSecond, s.N);
        if (row + 8 < s.M)
            PairStores.Store<TElement>(output, (long)(row + 8) * s.N + col, TActivation.Apply(gate.C2) * up.C2, TActivation.Apply(gate.C3) * up.C3, hasSecond, s.N);
    }

    public static void StoreOne(ArrayView<byte> output, float gate, float up, int row, int col, int secondColumns, in GatedMlpShape s,
        in EpilogueArgs e, bool perOp)
    {
        if (row >= s.M || col >= s.N)
            return;
        float value = perOp ? RoundedProduct(gate, up) : TActivation.Apply(gate) * up;
        TElement.StoreBits(output, (long)row * s.N + col, TElement.Narrow(value));
    }

    /// <summary>round(act(round(g))) · round(u), the last rounding left to the store.</summary>
    private static float RoundedProduct(float g, float u) =>
        TElement.Widen(TElement.Narrow(TActivation.Apply(TElement.Widen(TElement.Narrow(g))))) * TElement.Widen(TElement.Narrow(u));
}

/// <summary>x · Wᵀ (+ bias) (+ residual), added in float32 and rounded once (or twice, <see cref="EpilogueArgs.RoundBeforeResidual"/>):
/// first covers the tile's first columns, second the same number of columns past them (W's next rows).</summary>
internal struct LinearEpilogue<TElement> : IPairedTileEpilogue where TElement : struct, IMmaElement
{
    public static bool SplitsColumns => true;

    public static bool RoundsPerOp(in GatedMlpShape s, in EpilogueArgs e) => e.HasResidual != 0 && e.RoundBeforeResidual != 0;

    public static void Store(ArrayView<byte> output, Acc4 first, Acc4 second, int row, int col, int secondColumns, in GatedMlpShape s, in EpilogueArgs e,
        bool perOp)
    {
        StoreTile(output, first, row, col, s, e, perOp);
        StoreTile(output, second, row, col + secondColumns, s, e, perOp);
    }

    public static void StoreOne(ArrayView<byte> output, float first, float second, int row, int col, int secondColumns, in GatedMlpShape s,
        in EpilogueArgs e, bool perOp)
    {
        if (row >= s.M)
            return;
        StoreElement(output, first, row, col, s, e, perOp);
        StoreElement(output, second, row, col + secondColumns, s, e, perOp);
    }

    private static void StoreElement(ArrayView<byte> output, float value, int row, int col, in GatedMlpShape s, in EpilogueArgs e, bool perOp)
    {
        if (col >= s.N)
            return;
        if (e.HasBias != 0)
            value += TElement.Widen(TElement.LoadBits(e.Bias, col));
        long at = (long)row * s.N + col;
        if (e.HasResidual != 0)
        {
            if (perOp)
                value = TElement.Widen(TElement.Narrow(value));
            value += TElement.Widen(TElement.LoadBits(e.Residual, at));
        }
        TElement.StoreBits(output, at, TElement.Narrow(value));
    }

    private static void StoreTile(ArrayView<byte> output, Acc4 a, int row, int col, in GatedMlpShape s, in EpilogueArgs e, bool perOp)
    {
        if (col >= s.N)
            return;
        bool hasSecond = col + 1 < s.N;
        float bias0 = 0f, bias1 = 0f;
        if (e.HasBias != 0)
        {
            bias0 = TElement.Widen(TElement.LoadBits(e.Bias, col));
            bias1 = hasSecond ? TElement.Widen(TElement.LoadBits(e.Bias, col + 1)) : 0f;
        }
        if (row < s.M)
            StorePair(output, (long)row * s.N + col, a.C0 + bias0, a.C1 + bias1, hasSecond, s.N, e, perOp);
        if (row + 8 < s.M)
            StorePair(output, (long)(row + 8) * s.N + col, a.C2 + bias0, a.C3 + bias1, hasSecond, s.N, e, perOp);
    }

    private static void StorePair(ArrayView<byte> output, long at, float first, float second, bool hasSecond, int n, in EpilogueArgs e, bool perOp)
    {
        if (e.HasResidual != 0)
        {
            if (perOp)
            {
                first = TElement.Widen(TElement.Narrow(first));
                second = TElement.Widen(TElement.Narrow(second));
            }
            first += TElement.Widen(TElement.LoadBits(e.Residual, at));
            if (hasSecond)
                second += TElement.Widen(TElement.LoadBits(e.Residual, at + 1));
        }
        PairStores.Store<TElement>(output, at, first, second, hasSecond, n);
    }
}

/// <summary>The store every paired epilogue ends in.</summary>
internal static class PairStores
{
    /// <summary>A lane's two adjacent outputs at element <paramref name="at"/> of a row of <paramref name="n"/>, rounded once
    /// into the dtype: with N even they start on an even element and go out as one 4-byte store.</summary>
    public static void Store<TElement>(ArrayView<byte> output, long at, float first, float second, bool hasSecond, int n)
        where TElement : struct, IMmaElement
    {
        if (hasSecond && (n & 1) == 0)
        {
            output.Cast<uint>()[at >> 1] = TElement.Narrow(first) | TElement.Narrow(second) << 16;
            return;
        }
        TElement.StoreBits(output, at, TElement.Narrow(first));
        if (hasSecond)
            TElement.StoreBits(output, at + 1, TElement.Narrow(second));
    }
}

/// <summary>The paired epilogue types every 16-bit GEMM kernel is instantiated with (its catalog entries).</summary>
internal static class PairedEpilogues
{
    public static readonly Type[] Elements = [typeof(Float16Element), typeof(BFloat16Element)];

    public static Type Gated(Type element, Type activation) => typeof(GatedEpilogue<,>).MakeGenericType(element, activation);

    public static Type Linear(Type element) => typeof(LinearEpilogue<>).MakeGenericType(element);

    /// <summary>The gated epilogue of each activation, then the plain one.</summary>
    public static IEnumerable<Type> For(Type element) => GatedMlpKernel.ActivationTypes.Select(activation => Gated(element, activation)).Append(Linear(element));

    /// <summary>Every (element, epilogue) instantiation of a paired kernel's <c>Run&lt;TElement, TEpilogue, T3&gt;</c>, with
    /// <paramref name="third"/> (the mma flavour, the slice count, the tile walk; <see cref="TensorCoreMma"/> when null).</summary>
    public static IEnumerable<MethodInfo> Variants(Type kernel, Type? third = null, Type? fourth = null, Type? fifth = null) =>
        from element in Elements
        from epilogue in For(element)
        select KernelMethods.Get(kernel, "Run", element, epilogue, third ?? typeof(TensorCoreMma), fourth, fifth);
}
