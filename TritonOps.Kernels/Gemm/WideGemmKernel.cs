namespace TritonOps.Kernels.Gemm;

/// <summary>Device addresses of the wide kernel's operands, for its <c>cp.async</c> copies.</summary>
internal struct GatedMlpAddresses
{
    public ulong X, Gate, Up;
}

/// <summary>A warp's 64 × 32 share of one product: <see cref="WarpAcc"/> for rows 0–31 and rows 32–63.</summary>
internal struct WideWarpAcc
{
    public WarpAcc Top, Bottom;
}

/// <summary>One k16 step's fragments of a warp's 64 × 32 tile: x rows 0, 16, 32, 48, and gate's and
/// up's two B pairs (<see cref="PtxLoadMatrix"/> order: b0, b1 of n-tile 0, then of n-tile 1).</summary>
internal struct WideFragments
{
    public FragA A0, A1, A2, A3, Gate01, Gate23, Up01, Up23;
}

/// <summary>
/// The large-M 16-bit <c>mma.sync</c> GEMM for GPUs before Hopper: one x tile against two B tiles of 128 rows, the
/// epilogue a struct trait (<see cref="IPairedTileEpilogue"/>: the gated MLP's 128 × 128 output tile, or Linear's
/// 128 × 256 with W's next 128 rows as the second B tile). Each warp holds a 64 × 32 share of both products
/// (128 float accumulators a thread, one 256-thread block per SM), so every B fragment feeds four
/// <c>mma</c> and every A fragment eight: half the shared-memory bytes per <c>mma</c> of the 128 × 64
/// <see cref="RegisterStagedGemmKernel"/>. Warps: 2 (M) × 4 (N). Fragments come by <c>ldmatrix</c>, one k16
/// step ahead of the <c>mma</c> that use them. k-tiles of 64 stream by <c>cp.async</c> through a ring of
/// stages in dynamic shared memory; as in CUTLASS's multistage loop, the barrier that hands over the next
/// k-tile sits before the third step's <c>mma</c> and the next tile's first fragments load before the
/// fourth's, so the tensor cores have work queued while warps meet. Persistent: one block per SM walks
/// the tiles (block, block + grid, …) and starts the next tile's copies before the current epilogue.
/// Needs rows of 16-byte multiples (K % 8 == 0) and 16-byte-aligned operands; tails are zero-filled
/// on load and masked on store.
/// </summary>
internal static class WideGemmKernel
{
    public const int BlockM = 128, BlockN = 128, BlockK = 64, Threads = 256, GroupM = 16;

    /// <summary>A tile row: 32 words of K plus 4 of padding, so the eight rows an ldmatrix tile reads
    /// start 4 banks apart and never conflict.</summary>
    private const int RowWords = 36;
    private const int AWords = BlockM * RowWords, BWords = BlockN * RowWords;

    /// <summary>Words of one stage: x's 128 rows, then gate's and up's 128 rows (54 KB).</summary>
    public const int StageWords = AWords + 2 * BWords;

    /// <summary>Stages the op launches with (162 KB; 2 and 4 ran 331–341 and 337–342 TFLOP/s against 342–345).</summary>
    public const int DefaultStages = 3;

    /// <summary>The deepest ring that fits the 227 KB an sm_90 block may have (216 KB).</summary>
    public const int MaxStages = 4;

    [GlobalMemoryOnly]
    public static void Run<TElement, TEpilogue, TFlavour>(
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, ArrayView<byte> output, GatedMlpShape s,
        GatedMlpAddresses addresses, int stages, EpilogueArgs epilogue)
        where TElement : struct, IMmaElement
        where TEpilogue : struct, IPairedTileEpilogue
        where TFlavour : struct, IMmaFlavour
    {
        int blockColumns = TEpilogue.SplitsColumns ? 2 * BlockN : BlockN;
        var ring = SharedMemory.GetDynamic<uint>();
        int tiles = s.MTiles * s.NTiles, tile = Grid.IdxX;
        if (tile >= tiles)
            return;
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        int warpRow = (warp >> 2) * 64, warpCol = (warp & 3) * 32;

        // The row this lane points ldmatrix at. A (tiles: rows 0–7 / 8–15 × k-words 0–3 / 4–7, in
        // FragA's register order): row lane % 8 + 8·(lane / 8 % 2), k-word 4·(lane / 16). B (two n8
        // tiles × both k halves: b0, b1 of the first, then of the second): row lane % 8 + 8·(lane / 16),
        // k-word 4·(lane / 8 % 2).
        int aLane = Word(warpRow + (lane & 7) + ((lane >> 3) & 1) * 8, (lane >> 4) * 4);
        int bLane = AWords + Word(warpCol + (lane & 7) + (lane >> 4) * 8, ((lane >> 3) & 1) * 4);

        var bytes = ring.Cast<byte>();
        int elementBytes = TElement.BitsPerElement / 8;
        long rowBytes = (long)s.K * elementBytes;
        var (m0, n0) = MmaTiles.GroupedTile(tile, s.MTiles, s.NTiles, GroupM, BlockM, blockColumns);
        var rows = TileRows.For(m0, n0, SecondRow<TEpilogue>(n0), tid, rowBytes, s);

        // The first tile's prologue: k-tiles 0 … stages − 2 into slots 0 … stages − 2.
        int slot = 0, refill = (stages - 1) * StageWords;
        LoadPrologue(bytes, slot, stages, elementBytes, rowBytes, s.KTiles, x, gate, up, addresses, rows);
        PtxAsyncCopy.Wait(stages - 2);
        Group.Barrier();

        var loop = new RingState { Current = Load(ring, slot, aLane, bLane, 0), Slot = slot, Refill = refill };
        while (true)
        {
            // Whole tiles (every one but those on the M and N edges, when K is a multiple of 64) run a
            // k-loop whose copies have no row or K checks: the checked copies in the same loop body were
            // if-converted by ptxas and issued every k-tile (ncu: a third of the threads predicated off).
            bool whole = m0 + BlockM <= s.M && n0 + blockColumns <= s.N && s.K % BlockK == 0;
            loop.Gate = default;
            loop.Up = default;
            loop = whole
                ? KLoop<TElement, WholeRows, TFlavour>(loop, ring, bytes, aLane, bLane, stages, elementBytes, rowBytes, s, x, gate, up, addresses, rows)
                : KLoop<TElement, EdgeRows, TFlavour>(loop, ring, bytes, aLane, bLane, stages, elementBytes, rowBytes, s, x, gate, up, addresses, rows);
            slot = loop.Slot;
            var accG = loop.Gate;
            var accU = loop.Up;

            // The block walks the tiles (one block per SM): the next tile's prologue goes out before this
            // one's epilogue, so its first k-tiles land while the stores drain. Its k-tiles take the ring
            // from `slot` on; every slot but the last-read one (`refill`) was done with before the last
            // barrier, and that one is the new tile's first refill.
            int nextTile = tile + Grid.DimX;
            var nextRows = rows;
            int nextM0 = 0, nextN0 = 0;
            if (nextTile < tiles)
            {
                (nextM0, nextN0) = MmaTiles.GroupedTile(nextTile, s.MTiles, s.NTiles, GroupM, BlockM, blockColumns);
                nextRows = TileRows.For(nextM0, nextN0, SecondRow<TEpilogue>(nextN0), tid, rowBytes, s);
                LoadPrologue(bytes, slot, stages, elementBytes, rowBytes, s.KTiles, x, gate, up, addresses, nextRows);
            }

            int row = m0 + warpRow + (lane >> 2), col = n0 + warpCol + 2 * (lane & 3);
            bool perOp = TEpilogue.RoundsPerOp(s, epilogue);
            RegisterStagedGemmKernel.StoreWarpTile<TEpilogue>(output, accG.Top, accU.Top, row, col, BlockN, s, epilogue, perOp);
            RegisterStagedGemmKernel.StoreWarpTile<TEpilogue>(output, accG.Bottom, accU.Bottom, row + 32, col, BlockN, s, epilogue, perOp);
            if (nextTile >= tiles)
                return;

            tile = nextTile;
            m0 = nextM0;
            n0 = nextN0;
            rows = nextRows;
            PtxAsyncCopy.Wait(stages - 2);
            Group.Barrier();
            loop.Current = Load(ring, slot, aLane, bLane, 0);
        }
    }

    /// <summary>What the k-loop carries from one k-tile (and one tile) to the next: the accumulators, the
    /// first k16 step's fragments of the next k-tile, the ring slot it is in and the slot to refill next.</summary>
    private struct RingState
    {
        public WideWarpAcc Gate, Up;
        public WideFragments Current;
        public int Slot, Refill;
    }

    /// <summary>One tile's k-loop, its copies by <typeparamref name="TCopies"/>.</summary>
    private static RingState KLoop<TElement, TCopies, TFlavour>(RingState r, ArrayView<uint> ring, ArrayView<byte> bytes, int aLane, int bLane,
        int stages, int elementBytes, long rowBytes, in GatedMlpShape s,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
        where TCopies : struct, IStageCopies
    {
        var (accG, accU, current, slot, refill) = (r.Gate, r.Up, r.Current, r.Slot, r.Refill);
        WideFragments next;
        for (int kt = 0; kt < s.KTiles; kt++)
        {
            // k16 step 0. The slot refilled here was last read before the previous iteration's barrier.
            next = Load(ring, slot, aLane, bLane, 1);
            int ahead = kt + stages - 1;
            if (ahead < s.KTiles)
                TCopies.Load(bytes, refill * 4, (long)ahead * BlockK * elementBytes, rowBytes, x, gate, up, addresses, rows);
            PtxAsyncCopy.Commit(); // empty groups too, so the wait count stays aligned
            (accG, accU) = Step<TElement, TFlavour>(accG, accU, current);

            // Step 1.
            current = Load(ring, slot, aLane, bLane, 2);
            (accG, accU) = Step<TElement, TFlavour>(accG, accU, next);

            // Step 2: step 3's fragments, then the hand-over: this thread's copies of tile kt + 1 have
            // landed, and after the barrier everyone's have and everyone is done with this slot.
            next = Load(ring, slot, aLane, bLane, 3);
            PtxAsyncCopy.Wait(stages - 2);
            Group.Barrier();
            refill = slot;
            slot = slot + StageWords == stages * StageWords ? 0 : slot + StageWords;
            (accG, accU) = Step<TElement, TFlavour>(accG, accU, current);

            // Step 3, with tile kt + 1's first fragments loading. Not past the last k-tile: that slot is the
            // next tile's first prologue slot, which a warp already past the epilogue's start may be refilling
            // (racecheck found the read-after-write hazard there on the H200; the values were never used, the
            // outer loop reloads after its barrier, but a read racing a cp.async write is undefined).
            if (kt + 1 < s.KTiles)
                current = Load(ring, slot, aLane, bLane, 0);
            (accG, accU) = Step<TElement, TFlavour>(accG, accU, next);
        }
        return new RingState { Gate = accG, Up = accU, Current = current, Slot = slot, Refill = refill };
    }

    /// <summary>A tile's first k-tiles (0 … stages − 2, those that exist) into the ring slots from word
    /// <paramref name="slot"/> on, one commit group each (empty ones too, so the wait counts stay aligned).</summary>
    private static void LoadPrologue(ArrayView<byte> bytes, int slot, int stages, int elementBytes, long rowBytes, int kTiles,
        ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows)
    {
        for (int stage = 0; stage < stages - 1; stage++)
        {
            if (stage < kTiles)
                EdgeRows.Load(bytes, slot * 4, (long)stage * BlockK * elementBytes, rowBytes, x, gate, up, addresses, rows);
            PtxAsyncCopy.Commit();
            slot = slot + StageWords == stages * StageWords ? 0 : slot + StageWords;
        }
    }

    private static int Word(int row, int kWord) => row * RowWords + kWord;

    /// <summary>k16 step <paramref name="step"/> (0–3) of the stage at word <paramref name="slot"/>: eight ldmatrix.</summary>
    private static WideFragments Load(ArrayView<uint> ring, int slot, int aLane, int bLane, int step)
    {
        int a = slot + aLane + step * 8, b = slot + bLane + step * 8;
        return new WideFragments
        {
            A0 = PtxLoadMatrix.LoadX4FromDynamic(ring, a),
            A1 = PtxLoadMatrix.LoadX4FromDynamic(ring, a + 16 * RowWords),
            A2 = PtxLoadMatrix.LoadX4FromDynamic(ring, a + 32 * RowWords),
            A3 = PtxLoadMatrix.LoadX4FromDynamic(ring, a + 48 * RowWords),
            Gate01 = PtxLoadMatrix.LoadX4FromDynamic(ring, b),
            Gate23 = PtxLoadMatrix.LoadX4FromDynamic(ring, b + 16 * RowWords),
            Up01 = PtxLoadMatrix.LoadX4FromDynamic(ring, b + BWords),
            Up23 = PtxLoadMatrix.LoadX4FromDynamic(ring, b + BWords + 16 * RowWords),
        };
    }

    /// <summary>One k16 step of both products: 32 mma.</summary>
    private static (WideWarpAcc Gate, WideWarpAcc Up) Step<TElement, TFlavour>(WideWarpAcc gate, WideWarpAcc up, in WideFragments f)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour =>
        (Step<TElement, TFlavour>(gate, f.A0, f.A1, f.A2, f.A3, f.Gate01, f.Gate23), Step<TElement, TFlavour>(up, f.A0, f.A1, f.A2, f.A3, f.Up01, f.Up23));

    /// <summary>One k16 step of a warp's 64 × 32 tile: A fragments of rows 0, 16, 32, 48 against two
    /// B pairs (<see cref="PtxLoadMatrix"/> order: b0, b1 of n-tile 0, then of n-tile 1).</summary>
    private static WideWarpAcc Step<TElement, TFlavour>(WideWarpAcc acc, FragA f0, FragA f1, FragA f2, FragA f3, FragA b01, FragA b23)
        where TElement : struct, IMmaElement
        where TFlavour : struct, IMmaFlavour
    {
        acc.Top = TFlavour.WarpTile<TElement>(acc.Top, f0, f1, b01.R0, b01.R1, b01.R2, b01.R3, b23.R0, b23.R1, b23.R2, b23.R3);
        acc.Bottom = TFlavour.WarpTile<TElement>(acc.Bottom, f2, f3, b01.R0, b01.R1, b01.R2, b01.R3, b23.R0, b23.R1, b23.R2, b23.R3);
        return acc;
    }

    /// <summary>A thread's copies: the byte of its chunk in x row r and weight row r (r = its first row), how many
    /// rows are left in each matrix from r (row r + 32i exists while 32i is below it), and where the first lands in a stage.</summary>
    private struct TileRows
    {
        public long X, W, SecondW;
        public int XLeft, WLeft, SecondWLeft, Chunk, Destination;

        /// <summary>Thread <paramref name="tid"/>'s copies of tile (m0, n0): chunk tid % 8 of rows tid / 8 + 32i
        /// (i &lt; 4) of x, the first B from row n0 and the second from <paramref name="secondRow0"/> (a warp reads 128
        /// contiguous bytes of each of four rows).</summary>
        public static TileRows For(int m0, int n0, int secondRow0, int tid, long rowBytes, in GatedMlpShape s)
        {
            int chunkRow = tid >> 3, chunk = (tid & 7) * 16;
            return new TileRows
            {
                X = (m0 + chunkRow) * rowBytes + chunk,
                W = (n0 + chunkRow) * rowBytes + chunk,
                SecondW = (secondRow0 + chunkRow) * rowBytes + chunk,
                XLeft = s.M - m0 - chunkRow,
                WLeft = s.N - n0 - chunkRow,
                SecondWLeft = s.N - secondRow0 - chunkRow,
                Chunk = chunk,
                Destination = Word(chunkRow, chunk / 4) * 4,
            };
        }
    }

    /// <summary>How a k-loop starts a thread's twelve copies of the k-tile at byte <c>kByte</c> of each row into
    /// the stage at byte <c>stage</c>.</summary>
    private interface IStageCopies
    {
        static abstract void Load(ArrayView<byte> shared, int stage, long kByte, long rowBytes,
            ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows);
    }

    /// <summary>Whole chunks of rows that all exist: no checks.</summary>
    private struct WholeRows : IStageCopies
    {
        public static void Load(ArrayView<byte> shared, int stage, long kByte, long rowBytes,
            ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows)
        {
            int at = stage + rows.Destination;
            long xAt = rows.X + kByte, wAt = rows.W + kByte, secondAt = rows.SecondW + kByte, rowStep = 32 * rowBytes;
            for (int i = 0; i < 4; i++)
            {
                int row = at + i * 32 * RowWords * 4;
                PtxAsyncCopy.Copy16ToDynamic(shared, row, x, addresses.X, xAt + i * rowStep, 16);
                PtxAsyncCopy.Copy16ToDynamic(shared, row + AWords * 4, gate, addresses.Gate, wAt + i * rowStep, 16);
                PtxAsyncCopy.Copy16ToDynamic(shared, row + (AWords + BWords) * 4, up, addresses.Up, secondAt + i * rowStep, 16);
            }
        }
    }

    /// <summary>Rows past M or N and bytes past K zero-filled (also every tile's prologue).</summary>
    private struct EdgeRows : IStageCopies
    {
        public static void Load(ArrayView<byte> shared, int stage, long kByte, long rowBytes,
            ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, in GatedMlpAddresses addresses, in TileRows rows)
        {
            int valid = (int)Math.Max(0, Math.Min(16, rowBytes - kByte - rows.Chunk));
            int at = stage + rows.Destination;
            for (int i = 0; i < 4; i++)
            {
                int row = at + i * 32 * RowWords * 4;
                long step = i * 32 * rowBytes;
                long xRow = i * 32 < rows.XLeft ? rows.X + step : -1, wRow = i * 32 < rows.WLeft ? rows.W + step : -1;
                long secondRow = i * 32 < rows.SecondWLeft ? rows.SecondW + step : -1;
                Copy(shared, row, x, addresses.X, xRow, kByte, valid);
                Copy(shared, row + AWords * 4, gate, addresses.Gate, wRow, kByte, valid);
                Copy(shared, row + (AWords + BWords) * 4, up, addresses.Up, secondRow, kByte, valid);
            }
        }
    }

    /// <summary>One 16-byte <c>cp.async</c> of a tile row's chunk (<paramref name="rowByte"/> −1: a row past the matrix, zero-filled).</summary>
    private static void Copy(ArrayView<byte> shared, int at, ArrayView<byte> matrix, ulong address, long rowByte, long kByte, int valid)
    {
        if (rowByte < 0)
            valid = 0;
        PtxAsyncCopy.Copy16ToDynamic(shared, at, matrix, address, valid > 0 ? rowByte + kByte : 0, valid);
    }

    /// <summary>The second B tile's first row: gate's and up's are the same rows; a plain product's is W's next tile.</summary>
    private static int SecondRow<TEpilogue>(int n0) where TEpilogue : struct, IPairedTileEpilogue => TEpilogue.SplitsColumns ? n0 + BlockN : n0;

    /// <summary>The gated MLP's instantiation.</summary>
    public static MethodInfo GatedVariant(Type element, Type activation, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(WideGemmKernel), nameof(Run), element, PairedEpilogues.Gated(element, activation), PtxMma.Flavour(emulatedMma));

    /// <summary>The plain product's instantiation (Linear off Hopper: a 128 × 256 output tile).</summary>
    public static MethodInfo LinearVariant(Type element, bool emulatedMma = false) =>
        KernelMethods.Get(typeof(WideGemmKernel), nameof(Run), element, PairedEpilogues.Linear(element), PtxMma.Flavour(emulatedMma));

    public static IEnumerable<MethodInfo> AllVariants() => PairedEpilogues.Variants(typeof(WideGemmKernel));
}
