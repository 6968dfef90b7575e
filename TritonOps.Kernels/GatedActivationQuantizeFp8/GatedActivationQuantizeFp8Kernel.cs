using TritonOps.Kernels.GatedActivation;

namespace TritonOps.Kernels.GatedActivationQuantizeFp8;

/// <summary>Where a gated row's runs of eight elements lie (in runs of eight): gate's row r starts at
/// r · <see cref="GateRowRuns"/>, up's at r · <see cref="UpRowRuns"/> + <see cref="UpColumnRun"/> (the two halves of one
/// <c>[…, 2d]</c> tensor, or two tensors).</summary>
internal struct GatedRowsShape
{
    public int GateRowRuns, UpRowRuns, UpColumnRun;
    /// <summary>1: act(gate) rounds into the dtype before the product (<see cref="GatedActivationShape.RoundActivation"/>).</summary>
    public int RoundActivation;
}

/// <summary>
/// <c>act(gate) ⊙ up</c> quantized to FP8 per token and group of G columns in one pass: the gated MLP's middle as an FP8
/// down projection reads it, never written in 16 bits (the 16-bit product of a 4096-token Llama-3-8B MLP is 117 MB
/// written and read back). The product is <see cref="GatedActivationKernel"/>'s arithmetic rounded into the dtype, then
/// quantized as <see cref="Fp8GroupQuantizeKernels.QuantizeGroups{TElement, TFormat}"/> does (its grid, butterfly and
/// stores), so codes and scales equal the two ops' bit for bit.
/// </summary>
internal static class GatedActivationQuantizeFp8Kernel
{
    [GlobalMemoryOnly]
    public static void Run<TElement, TActivation, TFormat>(ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> q, ArrayView<float> scales,
        Fp8Shape shape, GatedRowsShape rows)
        where TElement : struct, IElementType
        where TActivation : struct, IActivation
        where TFormat : struct, IFloat8Format =>
        Fp8GroupQuantizeKernels.QuantizeGroupsOf<GatedRuns<TElement, TActivation>, TElement, TFormat>(
            new GatedRuns<TElement, TActivation>(gate, up, rows, Grid.IdxX), q, scales, shape);

    /// <summary>act(gate) ⊙ up of a run of this block's row (its starts taken once: per load, the inlined loads do not
    /// share their 64-bit multiplies), rounded into the dtype as the gated activation stores it.</summary>
    private readonly struct GatedRuns<TElement, TActivation> : IEightSource<GatedRuns<TElement, TActivation>>
        where TElement : struct, IElementType
        where TActivation : struct, IActivation
    {
        private readonly ArrayView<byte> gate, up;
        private readonly long gateStart, upStart;
        private readonly int roundActivation;

        public GatedRuns(ArrayView<byte> gate, ArrayView<byte> up, in GatedRowsShape s, int row)
        {
            this.gate = gate;
            this.up = up;
            gateStart = (long)row * s.GateRowRuns;
            upStart = (long)row * s.UpRowRuns + s.UpColumnRun;
            roundActivation = s.RoundActivation;
        }

        public static Fp8QuantizeKernels.RawEight Load(in GatedRuns<TElement, TActivation> r, long rowEights, int run)
        {
            // Both loads issued before either is unpacked.
            var gateRaw = Fp8QuantizeKernels.LoadRawEight<TElement>(r.gate, r.gateStart + run);
            var upRaw = Fp8QuantizeKernels.LoadRawEight<TElement>(r.up, r.upStart + run);
            Vec8F a = GatedActivationKernel.Activate<TActivation>(Fp8QuantizeKernels.Unpack<TElement>(gateRaw), 8);
            if (r.roundActivation != 0)
                a = Fp8QuantizeKernels.Unpack<TElement>(Fp8QuantizeKernels.PackEight<TElement>(a));
            return Fp8QuantizeKernels.PackEight<TElement>(GatedActivationKernel.Multiply(a, Fp8QuantizeKernels.Unpack<TElement>(upRaw), 8));
        }
    }

    public static MethodInfo Variant(Type element, Type activation, Type format) =>
        KernelMethods.Get(typeof(GatedActivationQuantizeFp8Kernel), nameof(Run), element, activation, format);

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats
        from activation in GatedMlpKernel.ActivationTypes
        select Variant(element, activation, typeof(E4M3));
}
