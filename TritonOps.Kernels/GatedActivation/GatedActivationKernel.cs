namespace TritonOps.Kernels.GatedActivation;

/// <summary>Sizes of a gated activation in runs (16-byte packs, or single elements on the scalar path): each of
/// <see cref="Rows"/> rows has <see cref="RowRuns"/> output runs; gate's row r starts at run r · <see cref="GateRowRuns"/>,
/// up's at r · <see cref="UpRowRuns"/> + <see cref="UpColumnRun"/> (both the halves of one <c>[…, 2d]</c> tensor, or two tensors).</summary>
internal struct GatedActivationShape
{
    public int Rows, RowRuns, GateRowRuns, UpRowRuns, UpColumnRun;
    /// <summary>1: act(gate) is rounded into the dtype before the product, which is rounded again (PyTorch eager's
    /// <c>act(gate) * up</c> in 16 bits, vLLM's <c>silu_and_mul</c>); 0: one rounding.</summary>
    public int RoundActivation;
}

/// <summary>
/// <c>output = act(gate) ⊙ up</c> elementwise (vLLM's <c>silu_and_mul</c>, FlashInfer's <c>silu_and_mul</c> /
/// <c>gelu_and_mul</c>): both widened to float32, the activation and product in float32, one rounding into the
/// output's dtype (or two, <see cref="GatedActivationShape.RoundActivation"/>). Block x covers <see cref="Threads"/> runs of a row, one run a thread; grid y walks the rows
/// (stride <c>Grid.DimY</c>, so any row count fits the 65535 limit of y). A streaming kernel: two reads and one write a run.
/// </summary>
internal static class GatedActivationKernel
{
    public const int Threads = 256;

    /// <summary>Rows per launch in grid y; more are walked by the stride loop.</summary>
    public const int MaxGridRows = 65535;

    [GlobalMemoryOnly]
    public static void Run<TAccess, TActivation>(ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedActivationShape s)
        where TAccess : struct, IRunAccess
        where TActivation : struct, IActivation
    {
        int run = Grid.IdxX * Group.DimX + Group.IdxX;
        if (run >= s.RowRuns)
            return;
        for (int row = Grid.IdxY; row < s.Rows; row += Grid.DimY)
        {
            // Both loads issued before either is unpacked.
            Vec4U gateRaw = TAccess.LoadRaw(gate, (long)row * s.GateRowRuns + run);
            Vec4U upRaw = TAccess.LoadRaw(up, (long)row * s.UpRowRuns + s.UpColumnRun + run);
            Vec8F a = Activate<TActivation>(TAccess.Unpack(gateRaw), TAccess.Width);
            if (s.RoundActivation != 0)
                a = TAccess.Unpack(TAccess.Pack(a)); // a uniform branch: the one-rounding path pays a compare a run
            Vec8F o = Multiply(a, TAccess.Unpack(upRaw), TAccess.Width);
            TAccess.Store(output, (long)row * s.RowRuns + run, o);
        }
    }

    /// <summary>act(gᵢ) in float32 on the first <paramref name="width"/> lanes (1, 4 or 8, a constant after inlining).</summary>
    internal static Vec8F Activate<TActivation>(in Vec8F g, int width) where TActivation : struct, IActivation
    {
        Vec8F a = default;
        a.E0 = TActivation.Apply(g.E0);
        if (width > 1)
        {
            a.E1 = TActivation.Apply(g.E1);
            a.E2 = TActivation.Apply(g.E2);
            a.E3 = TActivation.Apply(g.E3);
        }
        if (width > 4)
        {
            a.E4 = TActivation.Apply(g.E4);
            a.E5 = TActivation.Apply(g.E5);
            a.E6 = TActivation.Apply(g.E6);
            a.E7 = TActivation.Apply(g.E7);
        }
        return a;
    }

    /// <summary>aᵢ · uᵢ in float32 on the first <paramref name="width"/> lanes.</summary>
    internal static Vec8F Multiply(in Vec8F a, in Vec8F u, int width)
    {
        Vec8F o = default;
        o.E0 = a.E0 * u.E0;
        if (width > 1)
        {
            o.E1 = a.E1 * u.E1;
            o.E2 = a.E2 * u.E2;
            o.E3 = a.E3 * u.E3;
        }
        if (width > 4)
        {
            o.E4 = a.E4 * u.E4;
            o.E5 = a.E5 * u.E5;
            o.E6 = a.E6 * u.E6;
            o.E7 = a.E7 * u.E7;
        }
        return o;
    }

    /// <summary>The instantiation for an element type (<see cref="Float32Element"/>, …), packed (16-byte) or scalar
    /// access, and an activation type (<see cref="GatedMlpKernel.ActivationTypes"/>).</summary>
    public static MethodInfo Variant(Type element, bool packed, Type activation) =>
        KernelMethods.Get(typeof(GatedActivationKernel), nameof(Run), RunAccess.Of(element, packed), activation);

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats
        from packed in new[] { true, false }
        from activation in GatedMlpKernel.ActivationTypes
        select Variant(element, packed, activation);
}
