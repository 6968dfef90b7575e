namespace TritonOps.Kernels.Ptx;

/// <summary>Four f32 accumulators of one m16n8 tile, as one lane holds them:
/// C0, C1 = (row g, cols 2t, 2t+1); C2, C3 = (row g+8, cols 2t, 2t+1); lane = 4g + t.</summary>
internal struct Acc4
{
    public float C0, C1, C2, C3;

    /// <summary>a + b, element by element, in float32.</summary>
    public static Acc4 Add(Acc4 a, Acc4 b) => new() { C0 = a.C0 + b.C0, C1 = a.C1 + b.C1, C2 = a.C2 + b.C2, C3 = a.C3 + b.C3 };
}

/// <summary>Eight m16n8 accumulator tiles: one warp's 32 × 32 share of an output; Tij = rows 16i, cols 8j.</summary>
internal struct WarpAcc
{
    public Acc4 T00, T01, T02, T03, T10, T11, T12, T13;
}

/// <summary>One lane's A fragment of a 16×16 (row-major) operand: four words of two 16-bit
/// elements: R0 = (row g, k 2t..2t+1), R1 = (g+8, 2t..), R2 = (g, 2t+8..), R3 = (g+8, 2t+8..).</summary>
internal struct FragA
{
    public uint R0, R1, R2, R3;
}

/// <summary>How a GEMM kernel's warp mma runs, chosen per device by the op layer: the tensor cores (the GPU, and what
/// CI compiles to PTX), or the CPU accelerator's emulation batched per warp step (one exchange of fragments for a
/// step's products; an 8-bit element is <see cref="Float8E4M3Element"/>, the one 8-bit <see cref="IMmaElement"/>, so the
/// emulation decodes what the hardware path's e4m3 instruction reads). A trait, not a runtime branch: PTX keeps both sides of a branch on the accelerator, and the
/// batched emulation in every GEMM's PTX cost more CI codegen time than it saved (docs/ci-time.md, 2026-12-07). Each step
/// is a static abstract member, not an <c>if</c> on a trait constant: ILGPU builds a dead branch before folding it (the
/// strip decode kernel's codegen 0.5 → 13 s that way; docs/gpu-notes.md).</summary>
internal interface IMmaFlavour
{
    /// <summary>A warp's 32 × 32 step: A fragments <paramref name="f0"/> (rows 0–15) and <paramref name="f1"/> (16–31)
    /// against B pairs (b<i>j</i>0, b<i>j</i>1) of n-tiles j = 0…3; tile Tij gets fi × pair j. Eight mma on the tensor
    /// cores; emulated, one exchange for all eight (CI's CPU suite 232 → 212 s, 2026-12-07).</summary>
    static abstract WarpAcc WarpTile<TElement>(WarpAcc acc, FragA f0, FragA f1, uint b00, uint b01, uint b10, uint b11, uint b20, uint b21, uint b30, uint b31)
        where TElement : struct, IMmaElement;

    /// <summary>Two k steps of one m16n8 tile in order: <paramref name="first"/> × (b00, b01), then
    /// <paramref name="second"/> × (b10, b11) onto its result.</summary>
    static abstract Acc4 TwoSteps<TElement>(Acc4 c, FragA first, uint b00, uint b01, FragA second, uint b10, uint b11)
        where TElement : struct, IMmaElement;

    /// <summary>Four k steps of one m16n8 tile in order (A fragment <i>i</i> × B pair <i>i</i>).</summary>
    static abstract Acc4 FourSteps<TElement>(Acc4 c, FragA a0, uint b00, uint b01, FragA a1, uint b10, uint b11, FragA a2, uint b20, uint b21, FragA a3, uint b30, uint b31)
        where TElement : struct, IMmaElement;
}

/// <summary>The tensor cores (<c>mma.sync</c>).</summary>
internal struct TensorCoreMma : IMmaFlavour
{
    public static WarpAcc WarpTile<TElement>(WarpAcc acc, FragA f0, FragA f1, uint b00, uint b01, uint b10, uint b11, uint b20, uint b21, uint b30, uint b31)
        where TElement : struct, IMmaElement
    {
        acc.T00 = PtxMma.Mma<TElement>(acc.T00, f0, b00, b01);
        acc.T01 = PtxMma.Mma<TElement>(acc.T01, f0, b10, b11);
        acc.T02 = PtxMma.Mma<TElement>(acc.T02, f0, b20, b21);
        acc.T03 = PtxMma.Mma<TElement>(acc.T03, f0, b30, b31);
        acc.T10 = PtxMma.Mma<TElement>(acc.T10, f1, b00, b01);
        acc.T11 = PtxMma.Mma<TElement>(acc.T11, f1, b10, b11);
        acc.T12 = PtxMma.Mma<TElement>(acc.T12, f1, b20, b21);
        acc.T13 = PtxMma.Mma<TElement>(acc.T13, f1, b30, b31);
        return acc;
    }

    public static Acc4 TwoSteps<TElement>(Acc4 c, FragA first, uint b00, uint b01, FragA second, uint b10, uint b11)
        where TElement : struct, IMmaElement =>
        PtxMma.Mma<TElement>(PtxMma.Mma<TElement>(c, first, b00, b01), second, b10, b11);

    public static Acc4 FourSteps<TElement>(Acc4 c, FragA a0, uint b00, uint b01, FragA a1, uint b10, uint b11, FragA a2, uint b20, uint b21, FragA a3, uint b30, uint b31)
        where TElement : struct, IMmaElement =>
        PtxMma.Mma<TElement>(PtxMma.Mma<TElement>(PtxMma.Mma<TElement>(PtxMma.Mma<TElement>(c, a0, b00, b01), a1, b10, b11), a2, b20, b21), a3, b30, b31);
}

/// <summary>The CPU accelerator's batched emulation: one exchange of fragments for a step's products.</summary>
internal struct EmulatedMma : IMmaFlavour
{
    public static WarpAcc WarpTile<TElement>(WarpAcc acc, FragA f0, FragA f1, uint b00, uint b01, uint b10, uint b11, uint b20, uint b21, uint b30, uint b31)
        where TElement : struct, IMmaElement =>
        PtxMma.EmulateWarpTile<TElement>(acc, f0, f1, b00, b01, b10, b11, b20, b21, b30, b31);

    public static Acc4 TwoSteps<TElement>(Acc4 c, FragA first, uint b00, uint b01, FragA second, uint b10, uint b11)
        where TElement : struct, IMmaElement =>
        PtxMma.EmulateTwoSteps<TElement>(c, first, b00, b01, second, b10, b11);

    public static Acc4 FourSteps<TElement>(Acc4 c, FragA a0, uint b00, uint b01, FragA a1, uint b10, uint b11, FragA a2, uint b20, uint b21, FragA a3, uint b30, uint b31)
        where TElement : struct, IMmaElement =>
        PtxMma.EmulateFourSteps<TElement>(c, a0, b00, b01, a1, b10, b11, a2, b20, b21, a3, b30, b31);
}

/// <summary>Warp-level tensor-core products.</summary>
internal static class PtxMma
{
    /// <summary>The flavour type a GEMM variant takes: <see cref="EmulatedMma"/> for the CPU accelerator.</summary>
    public static Type Flavour(bool emulated) => emulated ? typeof(EmulatedMma) : typeof(TensorCoreMma);

    /// <summary>
    /// <c>mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 {d}, {a}, {b}, {c}</c>:
    /// D = A·B + C for a 16×16 A (<see cref="FragA"/>), a 16×8 B held column-wise
    /// (b0 = (k 2t..2t+1, col g), b1 = (k 2t+8..2t+9, col g)) and f32 accumulators (<see cref="Acc4"/>).
    /// All 32 lanes must call it together. Off CUDA it is emulated with warp shuffles over the same
    /// per-lane layout (products and sums in float32), so a fragment-layout bug fails on the CPU too.
    /// </summary>
    public static Acc4 MmaM16N8K16<TElement>(Acc4 c, FragA a, uint b0, uint b1)
        where TElement : struct, IMmaElement
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
            Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, x0 = b0, x1 = b1;
            if (TElement.IsBFloat16)
                CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                    ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref x0, ref x1);
            else
                CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                    ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref x0, ref x1);
            return new Acc4 { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
        }
        return Emulate<TElement>(c, a, b0, b1);
    }

    /// <summary>The fragment layouts of m16n8k16 (16-bit) and m16n8k32 (8-bit) are the same in
    /// words: word w of the k range (w &lt; 4: A.R0/R1 and b0; w ≥ 4: A.R2/R3 and b1) holds 32 / bits
    /// consecutive k. A[g][·], A[g+8][·] live in lane 4g + (w &amp; 3); B[·][n] in lane 4n + (w &amp; 3).</summary>
    private static Acc4 Emulate<TElement>(Acc4 c, FragA a, uint b0, uint b1)
        where TElement : struct, IMmaElement
    {
        Gather(new OneMma { A0 = a, B0 = b0, B1 = b1 }, out var rows, out var columns);
        return Product<TElement, OneMma>(c, rows, columns, 0, 0);
    }

    /// <summary>
    /// A lane's products need the fragments of twelve other lanes (its quad-row g's four lanes for A, the eight of
    /// columns 2t and 2t + 1 for B). On the CPU accelerator every shuffle is a lock-step and two barriers across the
    /// warp's 32 threads whatever its size, the CPU tests' main cost, so the operands move in five shuffles: three
    /// butterfly rounds gather each aligned group of eight lanes' operands into every lane of the group, then one
    /// shuffle fetches group t's (both B columns: <paramref name="columns"/>) and one group g / 2's (the A rows:
    /// <paramref name="rows"/>). A batch of mma that one warp issues together (<typeparamref name="T"/> holds all their
    /// operands) shares the five: <see cref="IMmaFlavour.WarpTile{TElement}"/>, <see cref="IMmaFlavour.TwoSteps{TElement}"/> and <see cref="IMmaFlavour.FourSteps{TElement}"/>.
    /// </summary>
    private static void Gather<T>(T own, out Octet<T> rows, out Octet<T> columns)
        where T : unmanaged
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var other = Warp.Shuffle(own, lane ^ 1);
        var pair = (lane & 1) == 0 ? new Pair<T> { Low = own, High = other } : new Pair<T> { Low = other, High = own };
        var otherPair = Warp.Shuffle(pair, lane ^ 2);
        var quad = (lane & 2) == 0 ? new Quad<T> { Low = pair, High = otherPair } : new Quad<T> { Low = otherPair, High = pair };
        var otherQuad = Warp.Shuffle(quad, lane ^ 4);
        var octet = (lane & 4) == 0 ? new Octet<T> { Low = quad, High = otherQuad } : new Octet<T> { Low = otherQuad, High = quad };
        columns = Warp.Shuffle(octet, 8 * t);
        rows = Warp.Shuffle(octet, 8 * (g >> 1));
    }

    /// <summary>One m16n8 product from gathered operands: A fragment <paramref name="a"/> of the row lanes against B
    /// pair <paramref name="b"/> (words 2b, 2b + 1) of the column lanes, plus <paramref name="c"/>. Products and sums in
    /// the same order as the hardware-shaped loop the emulation started from, so every batch gives the same bits.</summary>
    private static Acc4 Product<TElement, T>(Acc4 c, Octet<T> rows, Octet<T> columns, int a, int b)
        where TElement : struct, IMmaElement
        where T : unmanaged, IMmaOperands
    {
        int rowBase = 4 * ((Warp.LaneIdx >> 2) & 1);
        int bits = TElement.BitsPerElement;
        uint mask = (1u << bits) - 1u;
        for (int p = 0; p < 4; p++)
        {
            FragA row = rows.Get(rowBase + p).A(a);
            T left = columns.Get(p), right = columns.Get(4 + p);
            for (int half = 0; half < 2; half++)
            {
                uint top = half == 0 ? row.R0 : row.R2, bottom = half == 0 ? row.R1 : row.R3;
                uint l = left.B(2 * b + half), r = right.B(2 * b + half);
                for (int shift = 0; shift < 32; shift += bits)
                {
                    float aTop = TElement.Widen((top >> shift) & mask), aBottom = TElement.Widen((bottom >> shift) & mask);
                    float bLeft = TElement.Widen((l >> shift) & mask), bRight = TElement.Widen((r >> shift) & mask);
                    c.C0 += aTop * bLeft;
                    c.C1 += aTop * bRight;
                    c.C2 += aBottom * bLeft;
                    c.C3 += aBottom * bRight;
                }
            }
        }
        return c;
    }

    /// <summary>The A fragments and B words one lane brings to a batch of emulated mma.</summary>
    private interface IMmaOperands
    {
        FragA A(int index);

        uint B(int word);
    }

    /// <summary>One mma's operands.</summary>
    private struct OneMma : IMmaOperands
    {
        public FragA A0;
        public uint B0, B1;

        public readonly FragA A(int index) => A0;

        public readonly uint B(int word) => word == 0 ? B0 : B1;
    }

    /// <summary>Two A fragments and four B pairs (words 2j, 2j + 1 = pair j).</summary>
    private struct TwoByFour : IMmaOperands
    {
        public FragA A0, A1;
        public uint B0, B1, B2, B3, B4, B5, B6, B7;

        public readonly FragA A(int index) => index == 0 ? A0 : A1;

        public readonly uint B(int word) => word switch { 0 => B0, 1 => B1, 2 => B2, 3 => B3, 4 => B4, 5 => B5, 6 => B6, _ => B7 };
    }

    /// <summary>Four A fragments and four B pairs.</summary>
    private struct FourByFour : IMmaOperands
    {
        public FragA A0, A1, A2, A3;
        public uint B0, B1, B2, B3, B4, B5, B6, B7;

        public readonly FragA A(int index) => index switch { 0 => A0, 1 => A1, 2 => A2, _ => A3 };

        public readonly uint B(int word) => word switch { 0 => B0, 1 => B1, 2 => B2, 3 => B3, 4 => B4, 5 => B5, 6 => B6, _ => B7 };
    }

    /// <summary>The operands of lanes 2i and 2i + 1.</summary>
    private struct Pair<T>
        where T : unmanaged
    {
        public T Low, High;
    }

    /// <summary>The operands of lanes 4i … 4i + 3.</summary>
    private struct Quad<T>
        where T : unmanaged
    {
        public Pair<T> Low, High;
    }

    /// <summary>The operands of lanes 8i … 8i + 7.</summary>
    private struct Octet<T>
        where T : unmanaged
    {
        public Quad<T> Low, High;

        /// <summary>The operands of lane 8i + <paramref name="index"/>.</summary>
        public readonly T Get(int index)
        {
            Quad<T> quad = index < 4 ? Low : High;
            Pair<T> pair = (index & 2) == 0 ? quad.Low : quad.High;
            return (index & 1) == 0 ? pair.Low : pair.High;
        }
    }

    internal static WarpAcc EmulateWarpTile<TElement>(WarpAcc acc, FragA f0, FragA f1, uint b00, uint b01, uint b10, uint b11, uint b20, uint b21, uint b30, uint b31)
        where TElement : struct, IMmaElement
    {
        var own = new TwoByFour { A0 = f0, A1 = f1, B0 = b00, B1 = b01, B2 = b10, B3 = b11, B4 = b20, B5 = b21, B6 = b30, B7 = b31 };
        Gather(own, out var rows, out var columns);
        acc.T00 = Product<TElement, TwoByFour>(acc.T00, rows, columns, 0, 0);
        acc.T01 = Product<TElement, TwoByFour>(acc.T01, rows, columns, 0, 1);
        acc.T02 = Product<TElement, TwoByFour>(acc.T02, rows, columns, 0, 2);
        acc.T03 = Product<TElement, TwoByFour>(acc.T03, rows, columns, 0, 3);
        acc.T10 = Product<TElement, TwoByFour>(acc.T10, rows, columns, 1, 0);
        acc.T11 = Product<TElement, TwoByFour>(acc.T11, rows, columns, 1, 1);
        acc.T12 = Product<TElement, TwoByFour>(acc.T12, rows, columns, 1, 2);
        acc.T13 = Product<TElement, TwoByFour>(acc.T13, rows, columns, 1, 3);
        return acc;
    }

    internal static Acc4 EmulateTwoSteps<TElement>(Acc4 c, FragA first, uint b00, uint b01, FragA second, uint b10, uint b11)
        where TElement : struct, IMmaElement
    {
        Gather(new TwoByFour { A0 = first, A1 = second, B0 = b00, B1 = b01, B2 = b10, B3 = b11 }, out var rows, out var columns);
        return Product<TElement, TwoByFour>(Product<TElement, TwoByFour>(c, rows, columns, 0, 0), rows, columns, 1, 1);
    }

    internal static Acc4 EmulateFourSteps<TElement>(Acc4 c, FragA a0, uint b00, uint b01, FragA a1, uint b10, uint b11, FragA a2, uint b20, uint b21, FragA a3, uint b30, uint b31)
        where TElement : struct, IMmaElement
    {
        var own = new FourByFour { A0 = a0, A1 = a1, A2 = a2, A3 = a3, B0 = b00, B1 = b01, B2 = b10, B3 = b11, B4 = b20, B5 = b21, B6 = b30, B7 = b31 };
        Gather(own, out var rows, out var columns);
        c = Product<TElement, FourByFour>(c, rows, columns, 0, 0);
        c = Product<TElement, FourByFour>(c, rows, columns, 1, 1);
        c = Product<TElement, FourByFour>(c, rows, columns, 2, 2);
        return Product<TElement, FourByFour>(c, rows, columns, 3, 3);
    }

    /// <summary>The element's warp mma: m16n8k16 for 16-bit elements, m16n8k32 for e4m3 (the same fragment layout in
    /// words, <see cref="Emulate{TElement}"/>).</summary>
    public static Acc4 Mma<TElement>(Acc4 c, FragA a, uint b0, uint b1)
        where TElement : struct, IMmaElement =>
        TElement.BitsPerElement == 8 ? MmaM16N8K32E4M3(c, a, b0, b1) : MmaM16N8K16<TElement>(c, a, b0, b1);

    /// <summary>
    /// <c>mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {d}, {a}, {b}, {c}</c> (sm_89+; the
    /// loader assembles it for sm_90a): the 8-bit layout is the 16-bit one with four elements per
    /// word: A word (row g or g+8) holds k = 4t…4t+3 (R0, R1) or 16+4t… (R2, R3); b0 holds k = 4t…
    /// of column g, b1 k = 16+4t…. Emulated off CUDA with warp shuffles over the same layout.
    /// </summary>
    public static Acc4 MmaM16N8K32E4M3(Acc4 c, FragA a, uint b0, uint b1)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
            Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, x0 = b0, x1 = b1;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref x0, ref x1);
            return new Acc4 { C0 = d0.Value, C1 = d1.Value, C2 = d2.Value, C3 = d3.Value };
        }
        return Emulate<Float8E4M3Element>(c, a, b0, b1);
    }
}
