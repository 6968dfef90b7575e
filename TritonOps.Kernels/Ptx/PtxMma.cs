using ILGPU;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Elements;

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

/// <summary>Warp-level tensor-core products.</summary>
internal static class PtxMma
{
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
    /// consecutive k. A[g][·], A[g+8][·] live in lane 4g + (w &amp; 3); B[·][n] in lane 4n + (w &amp; 3).
    /// A lane needs the fragments of twelve others (its quad-row g's four lanes for A, the eight of columns 2t
    /// and 2t + 1 for B). On the CPU accelerator every shuffle is a lock-step and two barriers across the
    /// warp's 32 threads whatever its size, the CPU tests' main cost, so the fragments move in five shuffles
    /// instead of twelve: three butterfly rounds gather each aligned group of eight lanes' fragments into every
    /// lane of the group (<see cref="Octet"/>), then one shuffle fetches group t's (both B columns) and one group
    /// g / 2's (the A rows). Products and sums in the same order as the hardware-shaped loop they replaced.</summary>
    private static Acc4 Emulate<TElement>(Acc4 c, FragA a, uint b0, uint b1)
        where TElement : struct, IMmaElement
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var own = new Record { A0 = a.R0, A1 = a.R1, A2 = a.R2, A3 = a.R3, B0 = b0, B1 = b1 };
        var other = Warp.Shuffle(own, lane ^ 1);
        var pair = (lane & 1) == 0 ? new Pair { Low = own, High = other } : new Pair { Low = other, High = own };
        var otherPair = Warp.Shuffle(pair, lane ^ 2);
        var quad = (lane & 2) == 0 ? new Quad { Low = pair, High = otherPair } : new Quad { Low = otherPair, High = pair };
        var otherQuad = Warp.Shuffle(quad, lane ^ 4);
        var octet = (lane & 4) == 0 ? new Octet { Low = quad, High = otherQuad } : new Octet { Low = otherQuad, High = quad };
        Octet columns = Warp.Shuffle(octet, 8 * t), rows = Warp.Shuffle(octet, 8 * (g >> 1));
        int rowBase = 4 * (g & 1);
        int bits = TElement.BitsPerElement;
        uint mask = (1u << bits) - 1u;
        for (int p = 0; p < 4; p++)
        {
            Record row = rows.Get(rowBase + p), left = columns.Get(p), right = columns.Get(4 + p);
            for (int half = 0; half < 2; half++)
            {
                uint top = half == 0 ? row.A0 : row.A2, bottom = half == 0 ? row.A1 : row.A3;
                uint l = half == 0 ? left.B0 : left.B1, r = half == 0 ? right.B0 : right.B1;
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

    /// <summary>One lane's fragments: A.R0–R3, b0, b1.</summary>
    private struct Record
    {
        public uint A0, A1, A2, A3, B0, B1;
    }

    /// <summary>The records of lanes 2i and 2i + 1.</summary>
    private struct Pair
    {
        public Record Low, High;
    }

    /// <summary>The records of lanes 4i … 4i + 3.</summary>
    private struct Quad
    {
        public Pair Low, High;
    }

    /// <summary>The records of lanes 8i … 8i + 7.</summary>
    private struct Octet
    {
        public Quad Low, High;

        /// <summary>The record of lane 8i + <paramref name="index"/>.</summary>
        public readonly Record Get(int index)
        {
            Quad quad = index < 4 ? Low : High;
            Pair pair = (index & 2) == 0 ? quad.Low : quad.High;
            return (index & 1) == 0 ? pair.Low : pair.High;
        }
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
