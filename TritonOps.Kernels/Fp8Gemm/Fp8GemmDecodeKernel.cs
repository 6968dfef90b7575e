using System.Reflection;
using ILGPU;
using TritonOps.Kernels.Common;
using TritonOps.Kernels.Elements;
using TritonOps.Kernels.Numerics;
using TritonOps.Kernels.Ptx;

using TritonOps.Kernels.QuantizeFp8;

namespace TritonOps.Kernels.Fp8Gemm;

/// <summary>
/// fp8_gemm for decode-sized M (≤ <see cref="MaxRows"/>): the [N, K] codes of b stream once from
/// device memory at full rate (the tiled <see cref="Fp8GemmKernel"/> at M = 16 reads them at about
/// 1 TB/s: 60.6 µs at N14336 K4096 on the H200). Each warp owns one 8-row strip of b
/// (<see cref="StripMma"/>: e4m3 fragments straight from 16-byte global loads) against a 16-row
/// slice of a, and keeps <see cref="Unroll"/> 16-byte loads of b in flight per lane. Block: 8 warps =
/// <see cref="Strips"/> strips × <see cref="KParts"/> interleaved k ranges, added through shared
/// memory before the epilogue (scales, bias, one rounding). Block b: slice b % MTiles, strip group
/// b / MTiles. Shape: MTiles = ceil(M / 16), NTiles = ceil(N / <see cref="BlockN"/>).
/// </summary>
internal static class Fp8GemmDecodeKernel
{
    public const int Threads = 256, KParts = 2, Strips = Threads / 32 / KParts, Unroll = 4;
    public const int BlockN = Strips * StripMma.StripRows;

    /// <summary>The largest M this kernel is chosen for.</summary>
    public const int MaxRows = 64;

    private const int KIteration = Unroll * StripMma.KStep;

    [GlobalMemoryOnly]
    public static void Run<TOut, TScales>(ArrayView<byte> a, ArrayView<byte> b, ArrayView<float> aScale, ArrayView<float> bScale,
        ArrayView<float> bias, ArrayView<byte> output, Fp8GemmShape s)
        where TOut : struct, IElementType
        where TScales : struct, IFp8ScaleMode
    {
        var parked = SharedMemory.Allocate<float>((KParts - 1) * Strips * 128);
        int warp = Group.IdxX >> 5, lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        int strip = warp % Strips, part = warp / Strips;
        int m0 = Grid.IdxX % s.MTiles * StripMma.SliceRows;
        int n0 = (Grid.IdxX / s.MTiles * Strips + strip) * StripMma.StripRows;
        bool aligned = s.KAligned != 0;

        Acc4 acc = default;
        if (n0 < s.N) // warp-uniform
        {
            // Whole, aligned iterations load without checks; rows past M or N are clamped (see StripMma.Chunk).
            long kChunks = s.K / 16;
            long wRow = Math.Min(n0 + g, s.N - 1) * kChunks;
            long top = Math.Min(m0 + g, s.M - 1) * kChunks, bottom = Math.Min(m0 + g + 8, s.M - 1) * kChunks;
            int fullEnd = aligned ? s.K / KIteration * KIteration : 0;
            int k0 = part * KIteration;
            // b is prefetched one iteration ahead: without the loop-carried registers ptxas sinks each
            // load to just before its mma, leaving about one 16-byte load of b in flight per lane.
            int c = k0 / 16 + t;
            Vec4U w0 = default, w1 = default, w2 = default, w3 = default;
            if (k0 < fullEnd)
            {
                w0 = StripMma.Chunk(b, wRow, c); w1 = StripMma.Chunk(b, wRow, c + 4);
                w2 = StripMma.Chunk(b, wRow, c + 8); w3 = StripMma.Chunk(b, wRow, c + 12);
            }
            for (; k0 < fullEnd; k0 += KParts * KIteration)
            {
                // The next iteration's b (on the last one, this one's again: in bounds, unused).
                int next = k0 + KParts * KIteration < fullEnd ? c + KParts * KIteration / 16 : c;
                Vec4U p0 = StripMma.Chunk(b, wRow, next), p1 = StripMma.Chunk(b, wRow, next + 4);
                Vec4U p2 = StripMma.Chunk(b, wRow, next + 8), p3 = StripMma.Chunk(b, wRow, next + 12);
                Vec4U top0 = StripMma.Chunk(a, top, c), bottom0 = StripMma.Chunk(a, bottom, c);
                Vec4U top1 = StripMma.Chunk(a, top, c + 4), bottom1 = StripMma.Chunk(a, bottom, c + 4);
                Vec4U top2 = StripMma.Chunk(a, top, c + 8), bottom2 = StripMma.Chunk(a, bottom, c + 8);
                Vec4U top3 = StripMma.Chunk(a, top, c + 12), bottom3 = StripMma.Chunk(a, bottom, c + 12);
                if (TScales.PerKBlock)
                {
                    // k0 is a multiple of 256: the first two steps are scale block k0 / 128, the last two the next.
                    acc = Promote(acc, StripMma.MmaE4M3(StripMma.MmaE4M3(default, top0, bottom0, w0), top1, bottom1, w1), aScale, bScale, m0 + g, n0, k0 / 128, s);
                    acc = Promote(acc, StripMma.MmaE4M3(StripMma.MmaE4M3(default, top2, bottom2, w2), top3, bottom3, w3), aScale, bScale, m0 + g, n0, k0 / 128 + 1, s);
                }
                else
                {
                    acc = StripMma.MmaE4M3(acc, top0, bottom0, w0);
                    acc = StripMma.MmaE4M3(acc, top1, bottom1, w1);
                    acc = StripMma.MmaE4M3(acc, top2, bottom2, w2);
                    acc = StripMma.MmaE4M3(acc, top3, bottom3, w3);
                }
                w0 = p0; w1 = p1; w2 = p2; w3 = p3;
                c = next;
            }
            for (; k0 < s.K; k0 += KParts * KIteration) // the K tail, zero-filled, one 64-wide step at a time
            {
                for (int step = 0; step < KIteration; step += StripMma.KStep)
                {
                    int k = k0 + step + 16 * t;
                    Vec4U xTop = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + g, k, s.M, s.K, aligned);
                    Vec4U xBottom = MmaTiles.LoadChunk<Float8E4M3Element>(a, m0 + g + 8, k, s.M, s.K, aligned);
                    Vec4U w = MmaTiles.LoadChunk<Float8E4M3Element>(b, n0 + g, k, s.N, s.K, aligned);
                    if (!TScales.PerKBlock)
                        acc = StripMma.MmaE4M3(acc, xTop, xBottom, w);
                    else if (k0 + step < s.K) // a 64-deep step lies in one scale block; steps past K hold zeros only
                        acc = Promote(acc, StripMma.MmaE4M3(default, xTop, xBottom, w), aScale, bScale, m0 + g, n0, (k0 + step) / 128, s);
                }
            }
        }

        if (part > 0)
            StripMma.Park(parked, (part - 1) * Strips + strip, acc);
        Group.Barrier();
        if (part != 0 || n0 >= s.N)
            return;
        for (int p = 1; p < KParts; p++)
            acc = StripMma.AddParked(parked, (p - 1) * Strips + strip, acc);
        Fp8GemmKernel.Store<TOut>(output, acc, m0 + g, n0 + 2 * t, aScale, bScale, bias, s);
    }

    /// <summary>acc + partial · a_scale[row, kb] · b_scale[kb, n0 / 128] for rows row (C0, C1) and row + 8 (C2, C3):
    /// a strip's 8 columns lie in one 128-wide block.</summary>
    private static Acc4 Promote(Acc4 acc, Acc4 partial, ArrayView<float> aScale, ArrayView<float> bScale, int row, int n0, int kb, in Fp8GemmShape s)
    {
        float fb = KBlockScale.B(bScale, n0, kb, s);
        return KBlockScale.Promote(acc, partial, KBlockScale.A(aScale, row, kb, s) * fb, KBlockScale.A(aScale, row + 8, kb, s) * fb);
    }

    public static MethodInfo Variant(Type output, bool perKBlock = false) =>
        KernelMethods.Get(typeof(Fp8GemmDecodeKernel), nameof(Run), output, Fp8GemmKernel.ScaleMode(perKBlock));

    public static IEnumerable<MethodInfo> AllVariants() =>
        Fp8GemmKernel.OutputElements.SelectMany(output => new[] { Variant(output), Variant(output, perKBlock: true) });
}
