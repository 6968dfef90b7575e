using ILGPU;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels.Elements;

namespace TritonOps.Kernels.Ptx;

/// <summary>One thread's 32 f32 accumulators of a warpgroup's 64 × 64 tile: <c>N[j]</c> holds the
/// m16n8 layout of <see cref="Acc4"/> for columns 8j…8j+7 of rows 16w…16w+15, w = the thread's warp
/// in the warpgroup (C0, C1 = row 16w + g, cols 8j + 2t, +1; C2, C3 = row + 8).</summary>
public struct WarpgroupAcc
{
    public Acc4 N0, N1, N2, N3, N4, N5, N6, N7;

    /// <summary>a + b, element by element, in float32.</summary>
    public static WarpgroupAcc Add(in WarpgroupAcc a, in WarpgroupAcc b) => new()
    {
        N0 = Add(a.N0, b.N0), N1 = Add(a.N1, b.N1), N2 = Add(a.N2, b.N2), N3 = Add(a.N3, b.N3),
        N4 = Add(a.N4, b.N4), N5 = Add(a.N5, b.N5), N6 = Add(a.N6, b.N6), N7 = Add(a.N7, b.N7),
    };

    private static Acc4 Add(Acc4 a, Acc4 b) => new() { C0 = a.C0 + b.C0, C1 = a.C1 + b.C1, C2 = a.C2 + b.C2, C3 = a.C3 + b.C3 };
}

/// <summary>
/// A K-major operand tile in shared memory, in the no-swizzle canonical layout <c>wgmma</c> reads:
/// 16-byte chunks of one row's K; a "core matrix" is 8 rows × one chunk stored as 128 contiguous
/// bytes. <see cref="Sbo"/>: bytes between core matrices 8 rows apart; <see cref="Lbo"/>: bytes
/// between adjacent chunks along K. <see cref="Offset"/>: the tile's first byte, counted from the
/// start of the kernel's first shared allocation (the symbol <c>__shared_alloca0</c>).
/// </summary>
public struct SmemOperand
{
    public int Offset, Lbo, Sbo;

    /// <summary>Byte of element k (of <paramref name="bytesPerElement"/>) of row r.</summary>
    public readonly int ByteOf(int row, int k, int bytesPerElement)
    {
        int kByte = k * bytesPerElement;
        return Offset + (row & 7) * 16 + (row >> 3) * Sbo + (kByte >> 4) * Lbo + (kByte & 15);
    }
}

/// <summary>
/// Warpgroup tensor-core products (<c>wgmma.mma_async</c>, sm_90a): 128 consecutive threads starting
/// at a multiple of 128 multiply a 64-row A tile by a 64-row B tile, both K-major in shared memory.
/// Each wrapper is one inline-PTX block that fences, issues two k steps, commits and waits, so the
/// accumulators are never touched while the tensor cores own them (ILGPU moves every asm operand
/// through registers before and after the block). Shared memory written by ordinary stores must be
/// made visible to the tensor cores first: <see cref="FenceProxyAsync"/>, then a barrier.
/// Off CUDA each thread computes its own accumulators from shared memory with the same layouts, so
/// layout bugs fail on the CPU accelerator too.
/// </summary>
public static class PtxWgmma
{
    /// <summary>
    /// Two k16 steps of <c>wgmma.mma_async.sync.aligned.m64n64k16.f32.{f16,bf16}.{f16,bf16}</c>: D (+)= A·Bᵀ
    /// over 32 elements of K: the second step reads chunks 2 and 3 of each row. <paramref name="accumulate"/>
    /// false: D = A·Bᵀ (the first k tile).
    /// </summary>
    public static WarpgroupAcc M64N64K32x16Bit<TElement>(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, bool accumulate)
        where TElement : struct, IMmaElement
    {
        if (CudaAsm.IsSupported)
        {
            uint baseAddress = SharedBase();
            return Issue(TElement.IsBFloat16 ? BFloat16Steps : Float16Steps, acc, Descriptor(baseAddress, a), Descriptor(baseAddress, b), (ulong)(2 * a.Lbo >> 4), (ulong)(2 * b.Lbo >> 4), accumulate);
        }
        return Emulate<TElement>(acc, shared, a, b, 32, accumulate);
    }

    /// <summary>Two k32 steps of <c>wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3</c> over 64 codes of K.</summary>
    public static WarpgroupAcc M64N64K64E4M3(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, bool accumulate)
    {
        if (CudaAsm.IsSupported)
        {
            uint baseAddress = SharedBase();
            return Issue(E4M3Steps, acc, Descriptor(baseAddress, a), Descriptor(baseAddress, b),
                (ulong)(2 * a.Lbo >> 4), (ulong)(2 * b.Lbo >> 4), accumulate);
        }
        return Emulate<Float8E4M3Element>(acc, shared, a, b, 2 * 32, accumulate);
    }

    /// <summary>Four k32 steps of <c>wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3</c> over 128 codes of K
    /// (chunks 2i and 2i + 1 of each row in step i), offsets counted from <paramref name="sharedBase"/>
    /// (<see cref="SharedBase"/> or <see cref="DynamicSharedBase"/>).</summary>
    public static WarpgroupAcc M64N64K128E4M3(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, bool accumulate, uint sharedBase)
    {
        if (CudaAsm.IsSupported)
            return Issue(E4M3FourSteps, acc, Descriptor(sharedBase, a), Descriptor(sharedBase, b),
                (ulong)(2 * a.Lbo >> 4), (ulong)(2 * b.Lbo >> 4), accumulate);
        return Emulate<Float8E4M3Element>(acc, shared, a, b, 4 * 32, accumulate);
    }

    /// <summary><c>fence.proxy.async.shared::cta</c>: this thread's ordinary shared-memory writes become
    /// visible to the async proxy (wgmma, bulk copies) once a barrier follows.</summary>
    public static void FenceProxyAsync()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("fence.proxy.async.shared::cta;");
    }

    /// <summary>The shared-window address of the kernel's first shared allocation.</summary>
    public static uint SharedBase()
    {
        if (!CudaAsm.IsSupported)
            return 0;
        CudaAsm.Emit("{ .reg .u64 t; mov.u64 t, __shared_alloca0; cvt.u32.u64 %0, t; }", out uint address);
        return address;
    }

    /// <summary>The shared-window address of the kernel's dynamic shared memory (<c>__dyn_shared_alloca</c>).</summary>
    public static uint DynamicSharedBase()
    {
        if (!CudaAsm.IsSupported)
            return 0;
        CudaAsm.Emit("{ .reg .u64 t; mov.u64 t, __dyn_shared_alloca; cvt.u32.u64 %0, t; }", out uint address);
        return address;
    }

    /// <summary>The 64-bit matrix descriptor: start, LBO and SBO in 16-byte units; no swizzle, base offset 0.</summary>
    public static ulong Descriptor(uint sharedBase, SmemOperand m) =>
        ((ulong)((sharedBase + (uint)m.Offset) >> 4) & 0x3FFF)
        | ((ulong)((uint)m.Lbo >> 4) & 0x3FFF) << 16
        | ((ulong)((uint)m.Sbo >> 4) & 0x3FFF) << 32;

    private const string D = "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}";

    // Operands: %0–%31 accumulators, %32/%33 descriptors of A/B, %34 accumulate (0: overwrite),
    // %35/%36 descriptor steps to the second k step. p: scale-d of the first step; q (true): the second's.
    private const string Prologue = "{ .reg .pred p; .reg .pred q; .reg .b64 da, db; .reg .b32 one;\n"
        + "setp.ne.b32 p, %34, 0; mov.b32 one, 1; setp.ne.b32 q, one, 0;\n"
        + "add.s64 da, %32, %35; add.s64 db, %33, %36;\n"
        + "wgmma.fence.sync.aligned;\n";

    private const string Epilogue = "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0; }";

    private const string TwoStepsBf16 = Prologue
        + "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " + D + ", %32, %33, p, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " + D + ", da, db, q, 1, 1, 0, 0;\n" + Epilogue;

    private const string TwoStepsF16 = Prologue
        + "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " + D + ", %32, %33, p, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " + D + ", da, db, q, 1, 1, 0, 0;\n" + Epilogue;

    private const string TwoStepsE4M3 = Prologue
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", %32, %33, p, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", da, db, q, 1, 1;\n" + Epilogue;

    private const string FourStepsE4M3 = "{ .reg .pred p; .reg .pred q; .reg .b64 a1, b1, a2, b2, a3, b3; .reg .b32 one;\n"
        + "setp.ne.b32 p, %34, 0; mov.b32 one, 1; setp.ne.b32 q, one, 0;\n"
        + "add.s64 a1, %32, %35; add.s64 b1, %33, %36; add.s64 a2, a1, %35; add.s64 b2, b1, %36; add.s64 a3, a2, %35; add.s64 b3, b2, %36;\n"
        + "wgmma.fence.sync.aligned;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", %32, %33, p, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", a1, b1, q, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", a2, b2, q, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", a3, b3, q, 1, 1;\n" + Epilogue;

    private const int BFloat16Steps = 0, Float16Steps = 1, E4M3Steps = 2, E4M3FourSteps = 3;

    /// <summary>One of the two-step blocks above. ILGPU takes only a literal string at the EmitRef call
    /// itself, so each variant has its own call.</summary>
    private static WarpgroupAcc Issue(int variant, WarpgroupAcc acc, ulong descA, ulong descB, ulong stepA, ulong stepB, bool accumulate)
    {
        Ref<float> r0 = acc.N0.C0, r1 = acc.N0.C1, r2 = acc.N0.C2, r3 = acc.N0.C3;
        Ref<float> r4 = acc.N1.C0, r5 = acc.N1.C1, r6 = acc.N1.C2, r7 = acc.N1.C3;
        Ref<float> r8 = acc.N2.C0, r9 = acc.N2.C1, r10 = acc.N2.C2, r11 = acc.N2.C3;
        Ref<float> r12 = acc.N3.C0, r13 = acc.N3.C1, r14 = acc.N3.C2, r15 = acc.N3.C3;
        Ref<float> r16 = acc.N4.C0, r17 = acc.N4.C1, r18 = acc.N4.C2, r19 = acc.N4.C3;
        Ref<float> r20 = acc.N5.C0, r21 = acc.N5.C1, r22 = acc.N5.C2, r23 = acc.N5.C3;
        Ref<float> r24 = acc.N6.C0, r25 = acc.N6.C1, r26 = acc.N6.C2, r27 = acc.N6.C3;
        Ref<float> r28 = acc.N7.C0, r29 = acc.N7.C1, r30 = acc.N7.C2, r31 = acc.N7.C3;
        Input<ulong> da = descA, db = descB, sa = stepA, sb = stepB;
        Input<uint> scale = accumulate ? 1u : 0u;
        if (variant == BFloat16Steps)
            CudaAsm.EmitRef(TwoStepsBf16,
                ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15,
                ref r16, ref r17, ref r18, ref r19, ref r20, ref r21, ref r22, ref r23,
                ref r24, ref r25, ref r26, ref r27, ref r28, ref r29, ref r30, ref r31,
                ref da, ref db, ref scale, ref sa, ref sb);
        else if (variant == Float16Steps)
            CudaAsm.EmitRef(TwoStepsF16,
                ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15,
                ref r16, ref r17, ref r18, ref r19, ref r20, ref r21, ref r22, ref r23,
                ref r24, ref r25, ref r26, ref r27, ref r28, ref r29, ref r30, ref r31,
                ref da, ref db, ref scale, ref sa, ref sb);
        else if (variant == E4M3Steps)
            CudaAsm.EmitRef(TwoStepsE4M3,
                ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15,
                ref r16, ref r17, ref r18, ref r19, ref r20, ref r21, ref r22, ref r23,
                ref r24, ref r25, ref r26, ref r27, ref r28, ref r29, ref r30, ref r31,
                ref da, ref db, ref scale, ref sa, ref sb);
        else
            CudaAsm.EmitRef(FourStepsE4M3,
                ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref r8, ref r9, ref r10, ref r11, ref r12, ref r13, ref r14, ref r15,
                ref r16, ref r17, ref r18, ref r19, ref r20, ref r21, ref r22, ref r23,
                ref r24, ref r25, ref r26, ref r27, ref r28, ref r29, ref r30, ref r31,
                ref da, ref db, ref scale, ref sa, ref sb);
        return new WarpgroupAcc
        {
            N0 = new Acc4 { C0 = r0.Value, C1 = r1.Value, C2 = r2.Value, C3 = r3.Value },
            N1 = new Acc4 { C0 = r4.Value, C1 = r5.Value, C2 = r6.Value, C3 = r7.Value },
            N2 = new Acc4 { C0 = r8.Value, C1 = r9.Value, C2 = r10.Value, C3 = r11.Value },
            N3 = new Acc4 { C0 = r12.Value, C1 = r13.Value, C2 = r14.Value, C3 = r15.Value },
            N4 = new Acc4 { C0 = r16.Value, C1 = r17.Value, C2 = r18.Value, C3 = r19.Value },
            N5 = new Acc4 { C0 = r20.Value, C1 = r21.Value, C2 = r22.Value, C3 = r23.Value },
            N6 = new Acc4 { C0 = r24.Value, C1 = r25.Value, C2 = r26.Value, C3 = r27.Value },
            N7 = new Acc4 { C0 = r28.Value, C1 = r29.Value, C2 = r30.Value, C3 = r31.Value },
        };
    }

    /// <summary>Each thread sums its own 32 outputs over <paramref name="kCount"/> elements of K, reading
    /// both tiles through their layouts (all writes to them must precede this behind a barrier).</summary>
    private static WarpgroupAcc Emulate<TElement>(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, int kCount, bool accumulate)
        where TElement : struct, IMmaElement
    {
        int thread = Group.IdxX & 127, lane = thread & 31;
        int row = (thread >> 5) * 16 + (lane >> 2), col = 2 * (lane & 3);
        int bytes = TElement.BitsPerElement / 8;
        acc.N0 = EmulateBlock<TElement>(acc.N0, shared, a, b, row, col, kCount, bytes, accumulate);
        acc.N1 = EmulateBlock<TElement>(acc.N1, shared, a, b, row, col + 8, kCount, bytes, accumulate);
        acc.N2 = EmulateBlock<TElement>(acc.N2, shared, a, b, row, col + 16, kCount, bytes, accumulate);
        acc.N3 = EmulateBlock<TElement>(acc.N3, shared, a, b, row, col + 24, kCount, bytes, accumulate);
        acc.N4 = EmulateBlock<TElement>(acc.N4, shared, a, b, row, col + 32, kCount, bytes, accumulate);
        acc.N5 = EmulateBlock<TElement>(acc.N5, shared, a, b, row, col + 40, kCount, bytes, accumulate);
        acc.N6 = EmulateBlock<TElement>(acc.N6, shared, a, b, row, col + 48, kCount, bytes, accumulate);
        acc.N7 = EmulateBlock<TElement>(acc.N7, shared, a, b, row, col + 56, kCount, bytes, accumulate);
        return acc;
    }

    private static Acc4 EmulateBlock<TElement>(Acc4 c, ArrayView<byte> shared, SmemOperand a, SmemOperand b,
        int row, int col, int kCount, int bytes, bool accumulate)
        where TElement : struct, IMmaElement
    {
        if (!accumulate)
            c = default;
        for (int k = 0; k < kCount; k++)
        {
            float top = Element<TElement>(shared, a.ByteOf(row, k, bytes), bytes), bottom = Element<TElement>(shared, a.ByteOf(row + 8, k, bytes), bytes);
            float left = Element<TElement>(shared, b.ByteOf(col, k, bytes), bytes), right = Element<TElement>(shared, b.ByteOf(col + 1, k, bytes), bytes);
            c.C0 += top * left;
            c.C1 += top * right;
            c.C2 += bottom * left;
            c.C3 += bottom * right;
        }
        return c;
    }

    private static float Element<TElement>(ArrayView<byte> shared, int at, int bytes) where TElement : struct, IMmaElement =>
        TElement.Widen(bytes == 1 ? shared[at] : shared[at] | ((uint)shared[at + 1] << 8));
}
