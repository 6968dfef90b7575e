namespace TritonOps.Kernels.Ptx;

/// <summary>One thread's 32 f32 accumulators of a warpgroup's 64 × 64 tile: <c>N[j]</c> holds the
/// m16n8 layout of <see cref="Acc4"/> for columns 8j…8j+7 of rows 16w…16w+15, w = the thread's warp
/// in the warpgroup (C0, C1 = row 16w + g, cols 8j + 2t, +1; C2, C3 = row + 8).</summary>
internal struct WarpgroupAcc
{
    public Acc4 N0, N1, N2, N3, N4, N5, N6, N7;

    /// <summary>a + b, element by element, in float32.</summary>
    public static WarpgroupAcc Add(in WarpgroupAcc a, in WarpgroupAcc b) => new()
    {
        N0 = Acc4.Add(a.N0, b.N0), N1 = Acc4.Add(a.N1, b.N1), N2 = Acc4.Add(a.N2, b.N2), N3 = Acc4.Add(a.N3, b.N3),
        N4 = Acc4.Add(a.N4, b.N4), N5 = Acc4.Add(a.N5, b.N5), N6 = Acc4.Add(a.N6, b.N6), N7 = Acc4.Add(a.N7, b.N7),
    };
}

/// <summary>One thread's 64 f32 accumulators of a warpgroup's 64 × 128 tile: columns 0–63 in
/// <see cref="Left"/>, 64–127 in <see cref="Right"/>, each in <see cref="WarpgroupAcc"/>'s layout.</summary>
internal struct WarpgroupAccN128
{
    public WarpgroupAcc Left, Right;
}

/// <summary>One thread's 8 f32 accumulators of a warpgroup's 64 × 16 tile: columns 0–7 in <see cref="N0"/>, 8–15 in
/// <see cref="N1"/>, each in <see cref="WarpgroupAcc"/>'s m16n8 layout.</summary>
internal struct WarpgroupAccN16
{
    public Acc4 N0, N1;
}

/// <summary>
/// A K-major operand tile in shared memory, in one of the canonical layouts <c>wgmma</c> reads.
/// No swizzle: 16-byte chunks of one row's K; a "core matrix" is 8 rows × one chunk stored as 128
/// contiguous bytes; <see cref="Sbo"/>: bytes between core matrices 8 rows apart; <see cref="Lbo"/>:
/// bytes between adjacent chunks along K.
/// <see cref="Swizzled"/> (128-byte swizzle): each row's 128 bytes of K contiguous, 8 rows an atom of
/// 1024 bytes at a 1024-byte-aligned address, chunk c of row r stored at chunk position c ^ (r mod 8);
/// <see cref="Sbo"/> = 1024; the operand may start 32·i bytes into its rows (k step i).
/// <see cref="Offset"/>: the tile's first byte, counted from the start of the shared allocation the
/// caller's base address names.
/// </summary>
internal struct SmemOperand
{
    public int Offset, Lbo, Sbo;
    public bool Swizzled;

    /// <summary>Byte of element k (of <paramref name="bytesPerElement"/>) of row r.</summary>
    public readonly int ByteOf(int row, int k, int bytesPerElement)
    {
        int kByte = k * bytesPerElement;
        if (Swizzled)
        {
            int address = Offset + (row >> 3) * Sbo + (row & 7) * 128 + kByte;
            return address ^ (((address >> 7) & 7) << 4); // the hardware's XOR of address bits 4–6 with 7–9
        }
        return Offset + (row & 7) * 16 + (row >> 3) * Sbo + (kByte >> 4) * Lbo + (kByte & 15);
    }

    /// <summary>The descriptor's start-address step (16-byte units) to the next 32 bytes of K.</summary>
    public readonly ulong KStep32 => Swizzled ? 2ul : (ulong)(2 * Lbo >> 4);
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
internal static class PtxWgmma
{
    /// <summary>Two k32 steps of <c>wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3</c> over 64 codes of K.</summary>
    public static WarpgroupAcc M64N64K64E4M3(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, bool accumulate) =>
        M64N64K64E4M3(acc, shared, a, b, accumulate, SharedBase());

    /// <summary><see cref="M64N64K64E4M3(WarpgroupAcc, ArrayView{byte}, SmemOperand, SmemOperand, bool)"/> with operand
    /// offsets from <paramref name="sharedBase"/> (<see cref="DynamicSharedBase"/> in a kernel with no static shared
    /// allocation: there <c>__shared_alloca0</c> does not exist and the PTX fails to load).</summary>
    public static WarpgroupAcc M64N64K64E4M3(WarpgroupAcc acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, bool accumulate, uint sharedBase)
    {
        if (CudaAsm.IsSupported)
            return IssueE4M3(acc, Descriptor(sharedBase, a), Descriptor(sharedBase, b),
                (ulong)(2 * a.Lbo >> 4), (ulong)(2 * b.Lbo >> 4), accumulate);
        return Emulate<Float8E4M3Element>(acc, shared, a, b, 2 * 32, accumulate);
    }

    /// <summary>
    /// D += A·Bᵀ over 64 elements of K and 128 columns: four k16 steps of
    /// <c>wgmma.mma_async.sync.aligned.m64n128k16.f32.{bf16,f16}</c> (16-bit elements: one 128-byte row of K
    /// per operand row). B's 128 rows follow each other in <paramref name="b"/>'s layout. The 64 accumulators
    /// go in and out of the asm block packed in pairs (32 64-bit operands: one block may name only 44).
    /// </summary>
    public static WarpgroupAccN128 M64N128K64x16Bit<TElement>(WarpgroupAccN128 acc, ArrayView<byte> shared, SmemOperand a, SmemOperand b, uint sharedBase)
        where TElement : struct, IMmaElement
    {
        if (CudaAsm.IsSupported)
            return IssueN128Accumulate(TElement.IsBFloat16, acc, Descriptor(sharedBase, a), Descriptor(sharedBase, b), a.KStep32, b.KStep32);
        SmemOperand upper = b;
        upper.Offset += 8 * b.Sbo; // rows 64–127
        return new()
        {
            Left = Emulate<TElement>(acc.Left, shared, a, b, 64, accumulate: true),
            Right = Emulate<TElement>(acc.Right, shared, a, upper, 64, accumulate: true),
        };
    }

    /// <summary>
    /// Two products of one 16-row B over 64 elements of K: <paramref name="first"/> += A1·Bᵀ and <paramref name="second"/>
    /// += A2·Bᵀ, four k16 steps each of <c>wgmma.mma_async.sync.aligned.m64n16k16.f32.{bf16,f16}</c> in one asm block
    /// (one fence, one commit, one wait for all eight). The swapped decode GEMM's step: A1, A2 are 64 weight rows each,
    /// B the 16 rows of x.
    /// </summary>
    public static void M64N16K64x16BitPair<TElement>(ref WarpgroupAccN16 first, ref WarpgroupAccN16 second, ArrayView<byte> shared,
        SmemOperand a1, SmemOperand a2, SmemOperand b, uint sharedBase)
        where TElement : struct, IMmaElement
    {
        if (CudaAsm.IsSupported)
        {
            IssueN16Pair(TElement.IsBFloat16, ref first, ref second, Descriptor(sharedBase, a1), Descriptor(sharedBase, a2), Descriptor(sharedBase, b),
                a1.KStep32, b.KStep32);
            return;
        }
        int thread = Group.IdxX & 127, lane = thread & 31;
        int row = (thread >> 5) * 16 + (lane >> 2), col = 2 * (lane & 3), bytes = TElement.BitsPerElement / 8;
        first.N0 = EmulateBlock<TElement>(first.N0, shared, a1, b, row, col, 64, bytes, accumulate: true);
        first.N1 = EmulateBlock<TElement>(first.N1, shared, a1, b, row, col + 8, 64, bytes, accumulate: true);
        second.N0 = EmulateBlock<TElement>(second.N0, shared, a2, b, row, col, 64, bytes, accumulate: true);
        second.N1 = EmulateBlock<TElement>(second.N1, shared, a2, b, row, col + 8, 64, bytes, accumulate: true);
    }

    /// <summary>
    /// A fresh 128-deep partial over 128 columns: four k32 steps of <c>wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3</c>,
    /// the first overwriting. <paramref name="left"/> gets columns 0–63 and <paramref name="right"/> 64–127, each in
    /// <see cref="WarpgroupAcc"/>'s layout; B's 128 rows follow each other in <paramref name="b"/>'s layout. The 64
    /// accumulators leave the asm block packed in pairs (32 64-bit operands): one block may name only 44.
    /// </summary>
    public static void M64N128K128E4M3(ArrayView<byte> shared, SmemOperand a, SmemOperand b, uint sharedBase, out WarpgroupAcc left, out WarpgroupAcc right)
    {
        if (CudaAsm.IsSupported)
        {
            IssueN128(Descriptor(sharedBase, a), Descriptor(sharedBase, b), a.KStep32, b.KStep32, out left, out right);
            return;
        }
        SmemOperand upper = b;
        upper.Offset += 8 * b.Sbo; // rows 64–127
        left = Emulate<Float8E4M3Element>(default, shared, a, b, 4 * 32, accumulate: false);
        right = Emulate<Float8E4M3Element>(default, shared, a, upper, 4 * 32, accumulate: false);
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

    /// <summary>The 64-bit matrix descriptor: start, LBO and SBO in 16-byte units, base offset 0, layout type
    /// in bits 62–63 (0: no swizzle, 1: 128-byte swizzle).</summary>
    public static ulong Descriptor(uint sharedBase, SmemOperand m) =>
        ((ulong)((sharedBase + (uint)m.Offset) >> 4) & 0x3FFF)
        | ((ulong)((uint)m.Lbo >> 4) & 0x3FFF) << 16
        | ((ulong)((uint)m.Sbo >> 4) & 0x3FFF) << 32
        | (m.Swizzled ? 1ul << 62 : 0ul);

    private const string D = "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}";

    // Operands: %0–%31 accumulators, %32/%33 descriptors of A/B, %34 accumulate (0: overwrite),
    // %35/%36 descriptor steps to the second k step. p: scale-d of the first step; q (true): the second's.
    private const string Prologue = "{ .reg .pred p; .reg .pred q; .reg .b64 da, db; .reg .b32 one;\n"
        + "setp.ne.b32 p, %34, 0; mov.b32 one, 1; setp.ne.b32 q, one, 0;\n"
        + "add.s64 da, %32, %35; add.s64 db, %33, %36;\n"
        + "wgmma.fence.sync.aligned;\n";

    private const string Epilogue = "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0; }";

    private const string TwoStepsE4M3 = Prologue
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", %32, %33, p, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " + D + ", da, db, q, 1, 1;\n" + Epilogue;

    /// <summary>The two-step block above.</summary>
    private static WarpgroupAcc IssueE4M3(WarpgroupAcc acc, ulong descA, ulong descB, ulong stepA, ulong stepB, bool accumulate)
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
        CudaAsm.EmitRef(TwoStepsE4M3,
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

    private const string D128 = "{d0,d1,d2,d3,d4,d5,d6,d7,d8,d9,d10,d11,d12,d13,d14,d15,d16,d17,d18,d19,d20,d21,d22,d23,d24,d25,d26,d27,d28,d29,d30,d31,"
        + "d32,d33,d34,d35,d36,d37,d38,d39,d40,d41,d42,d43,d44,d45,d46,d47,d48,d49,d50,d51,d52,d53,d54,d55,d56,d57,d58,d59,d60,d61,d62,d63}";

    // Operands: %0–%31 the 64 accumulators packed in pairs (out), %32/%33 descriptors of A/B, %34/%35 descriptor steps.
    private const string FourStepsE4M3N128 = "{ .reg .pred p; .reg .pred q; .reg .b64 a1, b1, a2, b2, a3, b3; .reg .b32 zero; .reg .f32 d<64>;\n"
        + "mov.b32 zero, 0; setp.ne.b32 p, zero, 0; setp.eq.b32 q, zero, 0;\n"
        + "add.s64 a1, %32, %34; add.s64 b1, %33, %35; add.s64 a2, a1, %34; add.s64 b2, b1, %35; add.s64 a3, a2, %34; add.s64 b3, b2, %35;\n"
        + "wgmma.fence.sync.aligned;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " + D128 + ", %32, %33, p, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " + D128 + ", a1, b1, q, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " + D128 + ", a2, b2, q, 1, 1;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " + D128 + ", a3, b3, q, 1, 1;\n"
        + "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n" + PackD128;

    private const string UnpackD128 = "mov.b64 {d0, d1}, %0; mov.b64 {d2, d3}, %1; mov.b64 {d4, d5}, %2; mov.b64 {d6, d7}, %3;\n"
        + "mov.b64 {d8, d9}, %4; mov.b64 {d10, d11}, %5; mov.b64 {d12, d13}, %6; mov.b64 {d14, d15}, %7;\n"
        + "mov.b64 {d16, d17}, %8; mov.b64 {d18, d19}, %9; mov.b64 {d20, d21}, %10; mov.b64 {d22, d23}, %11;\n"
        + "mov.b64 {d24, d25}, %12; mov.b64 {d26, d27}, %13; mov.b64 {d28, d29}, %14; mov.b64 {d30, d31}, %15;\n"
        + "mov.b64 {d32, d33}, %16; mov.b64 {d34, d35}, %17; mov.b64 {d36, d37}, %18; mov.b64 {d38, d39}, %19;\n"
        + "mov.b64 {d40, d41}, %20; mov.b64 {d42, d43}, %21; mov.b64 {d44, d45}, %22; mov.b64 {d46, d47}, %23;\n"
        + "mov.b64 {d48, d49}, %24; mov.b64 {d50, d51}, %25; mov.b64 {d52, d53}, %26; mov.b64 {d54, d55}, %27;\n"
        + "mov.b64 {d56, d57}, %28; mov.b64 {d58, d59}, %29; mov.b64 {d60, d61}, %30; mov.b64 {d62, d63}, %31;\n";

    private const string PackD128 = "mov.b64 %0, {d0, d1}; mov.b64 %1, {d2, d3}; mov.b64 %2, {d4, d5}; mov.b64 %3, {d6, d7};\n"
        + "mov.b64 %4, {d8, d9}; mov.b64 %5, {d10, d11}; mov.b64 %6, {d12, d13}; mov.b64 %7, {d14, d15};\n"
        + "mov.b64 %8, {d16, d17}; mov.b64 %9, {d18, d19}; mov.b64 %10, {d20, d21}; mov.b64 %11, {d22, d23};\n"
        + "mov.b64 %12, {d24, d25}; mov.b64 %13, {d26, d27}; mov.b64 %14, {d28, d29}; mov.b64 %15, {d30, d31};\n"
        + "mov.b64 %16, {d32, d33}; mov.b64 %17, {d34, d35}; mov.b64 %18, {d36, d37}; mov.b64 %19, {d38, d39};\n"
        + "mov.b64 %20, {d40, d41}; mov.b64 %21, {d42, d43}; mov.b64 %22, {d44, d45}; mov.b64 %23, {d46, d47};\n"
        + "mov.b64 %24, {d48, d49}; mov.b64 %25, {d50, d51}; mov.b64 %26, {d52, d53}; mov.b64 %27, {d54, d55};\n"
        + "mov.b64 %28, {d56, d57}; mov.b64 %29, {d58, d59}; mov.b64 %30, {d60, d61}; mov.b64 %31, {d62, d63}; }";

    // Operands: %0–%31 the 64 accumulators packed in pairs (in and out), %32/%33 descriptors of A/B, %34/%35 steps.
    private const string AccumulatePrologue = "{ .reg .pred q; .reg .b64 a1, b1, a2, b2, a3, b3; .reg .b32 one; .reg .f32 d<64>;\n"
        + "mov.b32 one, 1; setp.ne.b32 q, one, 0;\n"
        + "add.s64 a1, %32, %34; add.s64 b1, %33, %35; add.s64 a2, a1, %34; add.s64 b2, b1, %35; add.s64 a3, a2, %34; add.s64 b3, b2, %35;\n";

    private const string FourStepsBf16N128 = AccumulatePrologue + UnpackD128
        + "wgmma.fence.sync.aligned;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " + D128 + ", %32, %33, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " + D128 + ", a1, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " + D128 + ", a2, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " + D128 + ", a3, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n" + PackD128;

    private const string FourStepsF16N128 = AccumulatePrologue + UnpackD128
        + "wgmma.fence.sync.aligned;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " + D128 + ", %32, %33, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " + D128 + ", a1, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " + D128 + ", a2, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " + D128 + ", a3, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;\n" + PackD128;

    private static WarpgroupAccN128 IssueN128Accumulate(bool bf16, WarpgroupAccN128 acc, ulong descA, ulong descB, ulong stepA, ulong stepB)
    {
        Ref<ulong> o0 = Pack(acc.Left.N0.C0, acc.Left.N0.C1), o1 = Pack(acc.Left.N0.C2, acc.Left.N0.C3);
        Ref<ulong> o2 = Pack(acc.Left.N1.C0, acc.Left.N1.C1), o3 = Pack(acc.Left.N1.C2, acc.Left.N1.C3);
        Ref<ulong> o4 = Pack(acc.Left.N2.C0, acc.Left.N2.C1), o5 = Pack(acc.Left.N2.C2, acc.Left.N2.C3);
        Ref<ulong> o6 = Pack(acc.Left.N3.C0, acc.Left.N3.C1), o7 = Pack(acc.Left.N3.C2, acc.Left.N3.C3);
        Ref<ulong> o8 = Pack(acc.Left.N4.C0, acc.Left.N4.C1), o9 = Pack(acc.Left.N4.C2, acc.Left.N4.C3);
        Ref<ulong> o10 = Pack(acc.Left.N5.C0, acc.Left.N5.C1), o11 = Pack(acc.Left.N5.C2, acc.Left.N5.C3);
        Ref<ulong> o12 = Pack(acc.Left.N6.C0, acc.Left.N6.C1), o13 = Pack(acc.Left.N6.C2, acc.Left.N6.C3);
        Ref<ulong> o14 = Pack(acc.Left.N7.C0, acc.Left.N7.C1), o15 = Pack(acc.Left.N7.C2, acc.Left.N7.C3);
        Ref<ulong> o16 = Pack(acc.Right.N0.C0, acc.Right.N0.C1), o17 = Pack(acc.Right.N0.C2, acc.Right.N0.C3);
        Ref<ulong> o18 = Pack(acc.Right.N1.C0, acc.Right.N1.C1), o19 = Pack(acc.Right.N1.C2, acc.Right.N1.C3);
        Ref<ulong> o20 = Pack(acc.Right.N2.C0, acc.Right.N2.C1), o21 = Pack(acc.Right.N2.C2, acc.Right.N2.C3);
        Ref<ulong> o22 = Pack(acc.Right.N3.C0, acc.Right.N3.C1), o23 = Pack(acc.Right.N3.C2, acc.Right.N3.C3);
        Ref<ulong> o24 = Pack(acc.Right.N4.C0, acc.Right.N4.C1), o25 = Pack(acc.Right.N4.C2, acc.Right.N4.C3);
        Ref<ulong> o26 = Pack(acc.Right.N5.C0, acc.Right.N5.C1), o27 = Pack(acc.Right.N5.C2, acc.Right.N5.C3);
        Ref<ulong> o28 = Pack(acc.Right.N6.C0, acc.Right.N6.C1), o29 = Pack(acc.Right.N6.C2, acc.Right.N6.C3);
        Ref<ulong> o30 = Pack(acc.Right.N7.C0, acc.Right.N7.C1), o31 = Pack(acc.Right.N7.C2, acc.Right.N7.C3);
        Input<ulong> da = descA, db = descB, sa = stepA, sb = stepB;
        if (bf16)
            CudaAsm.EmitRef(FourStepsBf16N128,
                ref o0, ref o1, ref o2, ref o3, ref o4, ref o5, ref o6, ref o7,
                ref o8, ref o9, ref o10, ref o11, ref o12, ref o13, ref o14, ref o15,
                ref o16, ref o17, ref o18, ref o19, ref o20, ref o21, ref o22, ref o23,
                ref o24, ref o25, ref o26, ref o27, ref o28, ref o29, ref o30, ref o31,
                ref da, ref db, ref sa, ref sb);
        else
            CudaAsm.EmitRef(FourStepsF16N128,
                ref o0, ref o1, ref o2, ref o3, ref o4, ref o5, ref o6, ref o7,
                ref o8, ref o9, ref o10, ref o11, ref o12, ref o13, ref o14, ref o15,
                ref o16, ref o17, ref o18, ref o19, ref o20, ref o21, ref o22, ref o23,
                ref o24, ref o25, ref o26, ref o27, ref o28, ref o29, ref o30, ref o31,
                ref da, ref db, ref sa, ref sb);
        return FromPairs(o0.Value, o1.Value, o2.Value, o3.Value, o4.Value, o5.Value, o6.Value, o7.Value,
            o8.Value, o9.Value, o10.Value, o11.Value, o12.Value, o13.Value, o14.Value, o15.Value,
            o16.Value, o17.Value, o18.Value, o19.Value, o20.Value, o21.Value, o22.Value, o23.Value,
            o24.Value, o25.Value, o26.Value, o27.Value, o28.Value, o29.Value, o30.Value, o31.Value);
    }

    // Operands: %0–%7 the first product's accumulators, %8–%15 the second's (in and out), %16/%17 descriptors of A1/A2,
    // %18 of B, %19/%20 the descriptor steps of A and B to the next k16 step.
    private const string N16PairPrologue = "{ .reg .pred q; .reg .b64 a1, a2, b1, c1, c2, b2, e1, e2, b3; .reg .b32 one;\n"
        + "mov.b32 one, 1; setp.ne.b32 q, one, 0;\n"
        + "add.s64 a1, %16, %19; add.s64 a2, %17, %19; add.s64 b1, %18, %20;\n"
        + "add.s64 c1, a1, %19; add.s64 c2, a2, %19; add.s64 b2, b1, %20;\n"
        + "add.s64 e1, c1, %19; add.s64 e2, c2, %19; add.s64 b3, b2, %20;\n"
        + "wgmma.fence.sync.aligned;\n";

    private const string D16First = "{%0,%1,%2,%3,%4,%5,%6,%7}", D16Second = "{%8,%9,%10,%11,%12,%13,%14,%15}";

    private const string FourStepPairBf16N16 = N16PairPrologue
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16First + ", %16, %18, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16Second + ", %17, %18, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16First + ", a1, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16Second + ", a2, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16First + ", c1, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16Second + ", c2, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16First + ", e1, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 " + D16Second + ", e2, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0; }";

    private const string FourStepPairF16N16 = N16PairPrologue
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16First + ", %16, %18, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16Second + ", %17, %18, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16First + ", a1, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16Second + ", a2, b1, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16First + ", c1, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16Second + ", c2, b2, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16First + ", e1, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16 " + D16Second + ", e2, b3, q, 1, 1, 0, 0;\n"
        + "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0; }";

    private static void IssueN16Pair(bool bf16, ref WarpgroupAccN16 first, ref WarpgroupAccN16 second, ulong descA1, ulong descA2, ulong descB,
        ulong stepA, ulong stepB)
    {
        Ref<float> r0 = first.N0.C0, r1 = first.N0.C1, r2 = first.N0.C2, r3 = first.N0.C3;
        Ref<float> r4 = first.N1.C0, r5 = first.N1.C1, r6 = first.N1.C2, r7 = first.N1.C3;
        Ref<float> s0 = second.N0.C0, s1 = second.N0.C1, s2 = second.N0.C2, s3 = second.N0.C3;
        Ref<float> s4 = second.N1.C0, s5 = second.N1.C1, s6 = second.N1.C2, s7 = second.N1.C3;
        Input<ulong> a1 = descA1, a2 = descA2, b = descB, sa = stepA, sb = stepB;
        if (bf16)
            CudaAsm.EmitRef(FourStepPairBf16N16, ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7, ref a1, ref a2, ref b, ref sa, ref sb);
        else
            CudaAsm.EmitRef(FourStepPairF16N16, ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7,
                ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7, ref a1, ref a2, ref b, ref sa, ref sb);
        first.N0 = new Acc4 { C0 = r0.Value, C1 = r1.Value, C2 = r2.Value, C3 = r3.Value };
        first.N1 = new Acc4 { C0 = r4.Value, C1 = r5.Value, C2 = r6.Value, C3 = r7.Value };
        second.N0 = new Acc4 { C0 = s0.Value, C1 = s1.Value, C2 = s2.Value, C3 = s3.Value };
        second.N1 = new Acc4 { C0 = s4.Value, C1 = s5.Value, C2 = s6.Value, C3 = s7.Value };
    }

    /// <summary>Two accumulators as one 64-bit operand, low word first (what <c>mov.b64 {lo, hi}, %k</c> unpacks).</summary>
    private static ulong Pack(float low, float high) => Interop.FloatAsInt(low) | (ulong)Interop.FloatAsInt(high) << 32;

    private static void IssueN128(ulong descA, ulong descB, ulong stepA, ulong stepB, out WarpgroupAcc left, out WarpgroupAcc right)
    {
        Output<ulong> o0 = default, o1 = default, o2 = default, o3 = default, o4 = default, o5 = default, o6 = default, o7 = default;
        Output<ulong> o8 = default, o9 = default, o10 = default, o11 = default, o12 = default, o13 = default, o14 = default, o15 = default;
        Output<ulong> o16 = default, o17 = default, o18 = default, o19 = default, o20 = default, o21 = default, o22 = default, o23 = default;
        Output<ulong> o24 = default, o25 = default, o26 = default, o27 = default, o28 = default, o29 = default, o30 = default, o31 = default;
        Input<ulong> da = descA, db = descB, sa = stepA, sb = stepB;
        CudaAsm.EmitRef(FourStepsE4M3N128,
            ref o0, ref o1, ref o2, ref o3, ref o4, ref o5, ref o6, ref o7,
            ref o8, ref o9, ref o10, ref o11, ref o12, ref o13, ref o14, ref o15,
            ref o16, ref o17, ref o18, ref o19, ref o20, ref o21, ref o22, ref o23,
            ref o24, ref o25, ref o26, ref o27, ref o28, ref o29, ref o30, ref o31,
            ref da, ref db, ref sa, ref sb);
        var acc = FromPairs(o0.Value, o1.Value, o2.Value, o3.Value, o4.Value, o5.Value, o6.Value, o7.Value,
            o8.Value, o9.Value, o10.Value, o11.Value, o12.Value, o13.Value, o14.Value, o15.Value,
            o16.Value, o17.Value, o18.Value, o19.Value, o20.Value, o21.Value, o22.Value, o23.Value,
            o24.Value, o25.Value, o26.Value, o27.Value, o28.Value, o29.Value, o30.Value, o31.Value);
        left = acc.Left;
        right = acc.Right;
    }

    /// <summary>The 64 accumulators from 32 packed pairs: pair k holds accumulators 2k, 2k+1, i.e. column block
    /// k/2 (of 8 columns; Left for k &lt; 16), C0/C1 for even k and C2/C3 for odd.</summary>
    private static WarpgroupAccN128 FromPairs(ulong p0, ulong p1, ulong p2, ulong p3, ulong p4, ulong p5, ulong p6, ulong p7,
        ulong p8, ulong p9, ulong p10, ulong p11, ulong p12, ulong p13, ulong p14, ulong p15,
        ulong p16, ulong p17, ulong p18, ulong p19, ulong p20, ulong p21, ulong p22, ulong p23,
        ulong p24, ulong p25, ulong p26, ulong p27, ulong p28, ulong p29, ulong p30, ulong p31) => new()
    {
        Left = new WarpgroupAcc
        {
            N0 = Unpack(p0, p1), N1 = Unpack(p2, p3), N2 = Unpack(p4, p5), N3 = Unpack(p6, p7),
            N4 = Unpack(p8, p9), N5 = Unpack(p10, p11), N6 = Unpack(p12, p13), N7 = Unpack(p14, p15),
        },
        Right = new WarpgroupAcc
        {
            N0 = Unpack(p16, p17), N1 = Unpack(p18, p19), N2 = Unpack(p20, p21), N3 = Unpack(p22, p23),
            N4 = Unpack(p24, p25), N5 = Unpack(p26, p27), N6 = Unpack(p28, p29), N7 = Unpack(p30, p31),
        },
    };

    /// <summary>Two packed pairs (low word first, as <c>mov.b64 %o, {lo, hi}</c> packs them) as one m16n8 block.</summary>
    private static Acc4 Unpack(ulong c01, ulong c23) => new()
    {
        C0 = Interop.IntAsFloat((uint)c01), C1 = Interop.IntAsFloat((uint)(c01 >> 32)),
        C2 = Interop.IntAsFloat((uint)c23), C3 = Interop.IntAsFloat((uint)(c23 >> 32)),
    };

    /// <summary><c>setmaxnreg.dec</c> to 40 registers a thread: a producer warpgroup gives registers back to the
    /// block's pool (all four warps of the warpgroup execute it; sm_90a; the kernel needs <c>.maxntid</c>).</summary>
    public static void ReleaseRegistersTo40()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("setmaxnreg.dec.sync.aligned.u32 40;");
    }

    /// <summary><c>setmaxnreg.inc</c> to 232 registers a thread: a consumer warpgroup takes what producers released
    /// (blocks until the pool has them).</summary>
    public static void ClaimRegistersTo232()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("setmaxnreg.inc.sync.aligned.u32 232;");
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
