namespace TritonOps.Kernels.QuantizeFp8;

/// <summary>Sizes of one <see cref="Fp8QuantizeFusedKernel"/> launch over a dense tensor of 16-byte packs.</summary>
internal struct FusedQuantizeShape
{
    /// <summary>16-byte packs of x (the element count is a multiple of a pack).</summary>
    public long Packs;
    /// <summary>Items of <see cref="Fp8QuantizeFusedKernel.HeldPacks"/> packs at the start of x, one per block of the grid.</summary>
    public int HeldItems;
    /// <summary>Items of <see cref="Fp8QuantizeFusedKernel.StreamPacks"/> packs after them (the last one partial).</summary>
    public int StreamItems;
    /// <summary>Phase 1 reads items from here on with L2 policy evict_last (they are phase 2's first reads),
    /// all others evict_first; items past the count: none.</summary>
    public int KeepFromItem;
    /// <summary>Device addresses of x and q (for the cache-hinted accesses).</summary>
    public ulong X, Q;
}

/// <summary>
/// Per-tensor quantization with a computed scale in one launch that reads part of x from device memory
/// only once. The two-pass form (<see cref="Fp8QuantizeKernels.AbsMax{TElement}"/>, then
/// <see cref="Fp8QuantizeKernels.Quantize{TElement, TFormat}"/>) reads x twice, because no code can be
/// written before the amax of the whole tensor is known; at 8192² bf16 that is 1.6× the bytes the op
/// counts. Here each block keeps one item of x in shared memory across the grid-wide wait for the amax,
/// and the items read last before the wait are read first after it, from L2.
/// <para>Work is handed out by atomic counters, so the wait cannot deadlock when not all blocks are
/// resident: phase 1 claims items (a block keeps the first one it claims, if it is one of the
/// <see cref="FusedQuantizeShape.HeldItems"/> held-size items at the front of x, and only takes the
/// amax of the others), adds its amax and its item count, and waits until every item is counted;
/// all items are claimed by running blocks, and a block that starts late finds none left and the wait
/// already over. Phase 2 claims the streamed items again, last-read first (plus any held-size item a
/// block could not keep), quantizes them, then the block's own kept item from shared memory.</para>
/// <para>Control words (<see cref="Control"/>) must be zero before the launch.</para>
/// </summary>
internal static class Fp8QuantizeFusedKernel
{
    public const int Threads = 256;

    /// <summary>Packs a thread keeps in shared memory (96 KB a block: two blocks per SM on Hopper).</summary>
    public const int HeldPacksPerThread = 24;

    /// <summary>Packs a thread loads per streamed round (all in flight together).</summary>
    public const int StreamPacksPerThread = 16;

    public const int HeldPacks = Threads * HeldPacksPerThread, StreamPacks = Threads * StreamPacksPerThread;

    /// <summary>Dynamic shared bytes of a launch.</summary>
    public const int SharedBytes = HeldPacks * 16;

    /// <summary>Indices of the control words: the amax bits, the scale (the op's returned scale tensor views
    /// it), the two phases' claim counters, the count of items done in phase 1, and the held-size items no
    /// block could keep (their count, then the list from <see cref="Requeued"/>).</summary>
    public static class Control
    {
        public const int Amax = 0, Scale = 1, Claims = 2, Done = 3, Claims2 = 4, RequeuedCount = 5, Requeued = 8;

        /// <summary>Control words for a grid of <paramref name="heldItems"/> blocks.</summary>
        public static int Words(int heldItems) => Requeued + heldItems;
    }

    [GlobalMemoryOnly]
    [MaxThreadsPerBlock(Threads)]
    public static void Run<TElement, TFormat>(ArrayView<byte> x, ArrayView<byte> q, ArrayView<uint> control, FusedQuantizeShape shape)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        var held = SharedMemory.GetDynamic<byte>();
        var claims = SharedMemory.Allocate<int>(2);
        var scratch = SharedMemory.Allocate<float>(BlockReduce.ScratchLength);
        var xs = x.Cast<Vec4U>();
        var heldRuns = held.Cast<Vec4U>();
        int t = Group.IdxX, heldItems = shape.HeldItems, items = heldItems + shape.StreamItems;
        ulong evictFirst = PtxCacheHint.EvictFirst(), evictLast = PtxCacheHint.EvictLast();

        // Phase 1: amax over every item; the first held-size item a block claims stays in shared memory.
        int item = Claim(control, Control.Claims, claims, 0, t), buffer = 0, kept = -1, counted = 0;
        float amax = 0f;
        while (item < items)
        {
            if (t == 0)
                claims[buffer ^ 1] = (int)Atomic.Add(ref control[Control.Claims], 1u); // the next item, while this one streams
            if (item < heldItems && kept < 0)
            {
                kept = item;
                long first = (long)item * HeldPacks + t;
                for (int j = 0; j < HeldPacksPerThread; j++)
                    PtxAsyncCopy.Copy16ToDynamic(held, (j * Threads + t) * 16, x, shape.X, (first + j * Threads) * 16, 16);
                PtxAsyncCopy.Commit();
                PtxAsyncCopy.Wait(0);
                for (int j = 0; j < HeldPacksPerThread; j++) // each thread reads back only its own copies
                    amax = Fp8QuantizeKernels.MaxBits(amax, PackAbsMax<TElement>(heldRuns[j * Threads + t]));
            }
            else
            {
                if (item < heldItems && t == 0)
                    control[Control.Requeued + (int)Atomic.Add(ref control[Control.RequeuedCount], 1u)] = (uint)item;
                var (first, end) = Range(item, shape);
                for (long p = first + t; p < end; p += StreamPacksPerThread * Threads)
                    amax = Fp8QuantizeKernels.MaxBits(amax, Round.Load(xs, shape.X, p, end, item >= shape.KeepFromItem ? evictLast : evictFirst).AbsMax<TElement>());
            }
            counted++;
            Group.Barrier(); // the next claim is visible
            buffer ^= 1;
            item = claims[buffer];
        }
        float blockMax = BlockReduce.Max(amax, scratch);
        if (t == 0)
        {
            Atomic.Max(ref control[Control.Amax], Bits.Of(blockMax));
            MemoryFence.DeviceLevel();
            Atomic.Add(ref control[Control.Done], (uint)counted);
            while (Atomic.Add(ref control[Control.Done], 0u) < (uint)items)
            {
            }
            MemoryFence.DeviceLevel();
            claims[0] = (int)Atomic.Add(ref control[Control.Amax], 0u);
            claims[1] = (int)Atomic.Add(ref control[Control.RequeuedCount], 0u);
        }
        Group.Barrier();
        float scale = Fp8QuantizeKernels.ScaleFromAmax<TFormat>((uint)claims[0]);
        int requeued = claims[1];
        if (Grid.IdxX == 0 && t == 0)
            control[Control.Scale] = Bits.Of(scale);
        var divisor = ScaleDivisor.OfComputedScale(scale);
        Group.Barrier(); // everyone has read the words before the claims reuse them

        // Phase 2: streamed items last-read first (they are what L2 still holds), then held-size items no
        // block kept, then this block's own item from shared memory.
        int items2 = shape.StreamItems + requeued;
        item = Claim(control, Control.Claims2, claims, 0, t);
        buffer = 0;
        while (item < items2)
        {
            if (t == 0)
                claims[buffer ^ 1] = (int)Atomic.Add(ref control[Control.Claims2], 1u);
            int source = item < shape.StreamItems ? heldItems + shape.StreamItems - 1 - item
                : (int)Atomic.Add(ref control[Control.Requeued + item - shape.StreamItems], 0u);
            var (first, end) = Range(source, shape);
            for (long p = first + t; p < end; p += StreamPacksPerThread * Threads)
                Round.Load(xs, shape.X, p, end, evictFirst).Store<TElement, TFormat>(q, shape.Q, p, end, divisor, evictFirst);
            Group.Barrier();
            buffer ^= 1;
            item = claims[buffer];
        }
        if (kept >= 0)
        {
            long first = (long)kept * HeldPacks + t;
            for (int j = 0; j < HeldPacksPerThread; j++)
                StoreCodes<TElement, TFormat>(q, shape.Q, first + j * Threads, heldRuns[j * Threads + t], divisor, evictFirst);
        }
    }

    /// <summary>Thread 0 claims an item from the counter; after the barrier every thread has it.</summary>
    private static int Claim(ArrayView<uint> control, int counter, ArrayView<int> claims, int slot, int t)
    {
        if (t == 0)
            claims[slot] = (int)Atomic.Add(ref control[counter], 1u);
        Group.Barrier();
        return claims[slot];
    }

    /// <summary>The packs [first, end) of an item.</summary>
    private static (long First, long End) Range(int item, in FusedQuantizeShape shape)
    {
        if (item < shape.HeldItems)
            return ((long)item * HeldPacks, (long)(item + 1) * HeldPacks);
        long first = (long)shape.HeldItems * HeldPacks + (long)(item - shape.HeldItems) * StreamPacks;
        return (first, Math.Min(first + StreamPacks, shape.Packs));
    }

    private static float PackAbsMax<TElement>(Vec4U raw) where TElement : struct, IElementType =>
        Fp8QuantizeKernels.AbsMaxOf(TElement.Unpack(raw)); // a float32 pack leaves lanes 4–7 zero

    /// <summary>One pack's codes: eight (16-bit elements) or four (float32).</summary>
    private static void StoreCodes<TElement, TFormat>(ArrayView<byte> q, ulong qAddress, long pack, Vec4U raw, in ScaleDivisor divisor, ulong policy)
        where TElement : struct, IElementType
        where TFormat : struct, IFloat8Format
    {
        Vec8F v = TElement.Unpack(raw);
        if (TElement.PackWidth == 8)
            PtxCacheHint.Store(q.Cast<ulong>(), qAddress, pack, Fp8QuantizeKernels.EncodeEight<TFormat>(v, divisor, bounded: true), policy);
        else
            PtxCacheHint.Store(q.Cast<uint>(), qAddress, pack, Fp8QuantizeKernels.Encode4<TFormat>(v.E0, v.E1, v.E2, v.E3, divisor, bounded: true), policy);
    }

    /// <summary>A thread's packs of one streamed round: p, p + Threads, … (<see cref="StreamPacksPerThread"/>
    /// of them), loaded together; those at or past the end read as zeros and store nothing.</summary>
    private struct Round
    {
        public Vec4U P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15;

        public static Round Load(ArrayView<Vec4U> xs, ulong x, long p, long end, ulong policy) => new()
        {
            P0 = Get(xs, x, p, end, policy), P1 = Get(xs, x, p + Threads, end, policy),
            P2 = Get(xs, x, p + 2 * Threads, end, policy), P3 = Get(xs, x, p + 3 * Threads, end, policy),
            P4 = Get(xs, x, p + 4 * Threads, end, policy), P5 = Get(xs, x, p + 5 * Threads, end, policy),
            P6 = Get(xs, x, p + 6 * Threads, end, policy), P7 = Get(xs, x, p + 7 * Threads, end, policy),
            P8 = Get(xs, x, p + 8 * Threads, end, policy), P9 = Get(xs, x, p + 9 * Threads, end, policy),
            P10 = Get(xs, x, p + 10 * Threads, end, policy), P11 = Get(xs, x, p + 11 * Threads, end, policy),
            P12 = Get(xs, x, p + 12 * Threads, end, policy), P13 = Get(xs, x, p + 13 * Threads, end, policy),
            P14 = Get(xs, x, p + 14 * Threads, end, policy), P15 = Get(xs, x, p + 15 * Threads, end, policy),
        };

        public readonly float AbsMax<TElement>() where TElement : struct, IElementType =>
            Max(Max(Max(Max(PackAbsMax<TElement>(P0), PackAbsMax<TElement>(P1)), Max(PackAbsMax<TElement>(P2), PackAbsMax<TElement>(P3))),
                    Max(Max(PackAbsMax<TElement>(P4), PackAbsMax<TElement>(P5)), Max(PackAbsMax<TElement>(P6), PackAbsMax<TElement>(P7)))),
                Max(Max(Max(PackAbsMax<TElement>(P8), PackAbsMax<TElement>(P9)), Max(PackAbsMax<TElement>(P10), PackAbsMax<TElement>(P11))),
                    Max(Max(PackAbsMax<TElement>(P12), PackAbsMax<TElement>(P13)), Max(PackAbsMax<TElement>(P14), PackAbsMax<TElement>(P15)))));

        public readonly void Store<TElement, TFormat>(ArrayView<byte> q, ulong qAddress, long p, long end, in ScaleDivisor divisor, ulong policy)
            where TElement : struct, IElementType
            where TFormat : struct, IFloat8Format
        {
            Put<TElement, TFormat>(q, qAddress, p, end, P0, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + Threads, end, P1, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 2 * Threads, end, P2, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 3 * Threads, end, P3, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 4 * Threads, end, P4, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 5 * Threads, end, P5, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 6 * Threads, end, P6, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 7 * Threads, end, P7, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 8 * Threads, end, P8, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 9 * Threads, end, P9, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 10 * Threads, end, P10, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 11 * Threads, end, P11, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 12 * Threads, end, P12, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 13 * Threads, end, P13, divisor, policy);
            Put<TElement, TFormat>(q, qAddress, p + 14 * Threads, end, P14, divisor, policy); Put<TElement, TFormat>(q, qAddress, p + 15 * Threads, end, P15, divisor, policy);
        }

        private static Vec4U Get(ArrayView<Vec4U> xs, ulong x, long p, long end, ulong policy) =>
            p < end ? PtxCacheHint.Load(xs, x, p, policy) : default;

        private static void Put<TElement, TFormat>(ArrayView<byte> q, ulong qAddress, long p, long end, Vec4U raw, in ScaleDivisor divisor, ulong policy)
            where TElement : struct, IElementType
            where TFormat : struct, IFloat8Format
        {
            if (p < end)
                StoreCodes<TElement, TFormat>(q, qAddress, p, raw, divisor, policy);
        }

        private static float Max(float a, float b) => Fp8QuantizeKernels.MaxBits(a, b);
    }

    public static MethodInfo Variant(Type element, Type format) =>
        KernelMethods.Get(typeof(Fp8QuantizeFusedKernel), nameof(Run), element, format);

    public static IEnumerable<MethodInfo> AllVariants() =>
        from element in ElementTypes.Floats from format in Fp8QuantizeKernels.Formats select Variant(element, format);
}
