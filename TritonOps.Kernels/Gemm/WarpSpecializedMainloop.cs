namespace TritonOps.Kernels.Gemm;

/// <summary>What a warp-specialized GEMM's producer puts in a stage for the tile at (m0, n0), k tile kt (the operand
/// set: x with gate and up, x with W's two row halves, a with b).</summary>
internal interface IStageProducer<TSelf> where TSelf : struct, IStageProducer<TSelf>
{
    /// <summary>One thread asks the copy engine for the stage's boxes through tensor maps; they complete on
    /// <paramref name="barrier"/>, which the caller has told to expect <see cref="StageRing.StageBytes"/>.</summary>
    static abstract void CopyEngineLoads(in TSelf self, int stage, int kt, int m0, int n0, int barrier);

    /// <summary>The producer warpgroup's threads copy the stage 16 bytes at a time (<c>cp.async</c>; no tensor maps).</summary>
    static abstract void ThreadLoads(in TSelf self, ArrayView<byte> shared, int stage, int kt, int m0, int n0, int thread);
}

/// <summary>
/// A stage of one x box and two 128-row B boxes (gate's and up's rows n0…, or W's rows n0… and n0 + 128… when the epilogue
/// splits columns), 128 bytes of K each: the 16-bit warp-specialized kernels' operand set. <paramref name="xRows"/>: x rows
/// a box (the tiled kernel's 128 from m0; the swapped decode kernel's 16 or 64 from row 0); <paramref name="firstTile"/>:
/// the k tile the block's first stage holds (a K split's start).
/// </summary>
internal readonly struct PairedStageLoads<TEpilogue>(ArrayView<byte> x, ArrayView<byte> gate, ArrayView<byte> up, GatedMlpShape s,
    GatedMlpAddresses addresses, ulong xMap, ulong gateMap, ulong upMap, int xRows, int firstTile, int boxes = 2) : IStageProducer<PairedStageLoads<TEpilogue>>
    where TEpilogue : struct, IPairedTileEpilogue
{
    /// <summary>Rows a B box.</summary>
    public const int BoxRows = 128;

    private readonly ArrayView<byte> x = x, gate = gate, up = up;
    private readonly GatedMlpShape s = s;
    private readonly GatedMlpAddresses addresses = addresses;
    private readonly ulong xMap = xMap, gateMap = gateMap, upMap = upMap;
    private readonly int xRows = xRows, firstTile = firstTile, boxes = boxes;

    private static int SecondRow(int n0) => TEpilogue.SplitsColumns ? n0 + BoxRows : n0; // the second B box's first row

    public static void CopyEngineLoads(in PairedStageLoads<TEpilogue> self, int stage, int kt, int m0, int n0, int barrier)
    {
        int kByte = (self.firstTile + kt) * StagedTiles.KBytes;
        PtxTensorCopy.Load2D(stage, self.xMap, kByte, m0, barrier);
        PtxTensorCopy.Load2D(stage + self.xRows * StagedTiles.KBytes, self.gateMap, kByte, n0, barrier);
        if (self.boxes == 2)
            PtxTensorCopy.Load2D(stage + (self.xRows + BoxRows) * StagedTiles.KBytes, self.upMap, kByte, SecondRow(n0), barrier);
    }

    public static void ThreadLoads(in PairedStageLoads<TEpilogue> self, ArrayView<byte> shared, int stage, int kt, int m0, int n0, int thread)
    {
        long rowBytes = 2L * self.s.K, kByte = (long)(self.firstTile + kt) * StagedTiles.KBytes;
        StagedTiles.LoadSwizzled(shared, stage, self.xRows, thread, 128, rowBytes, kByte, self.xRows,
            self.x, self.addresses.X, m0, self.s.M, self.x, self.addresses.X, m0, self.s.M);
        StagedTiles.LoadSwizzled(shared, stage + self.xRows * StagedTiles.KBytes, self.boxes * BoxRows, thread, 128, rowBytes, kByte, BoxRows,
            self.gate, self.addresses.Gate, n0, self.s.N, self.up, self.addresses.Up, SecondRow(n0), self.s.N);
    }
}

/// <summary>What a consumer warpgroup does with a stage (its <c>wgmma</c> into <typeparamref name="TAcc"/>) and with a
/// finished tile (the epilogue).</summary>
internal interface IStageConsumer<TSelf, TAcc>
    where TSelf : struct, IStageConsumer<TSelf, TAcc>
    where TAcc : struct
{
    static abstract TAcc Mma(in TSelf self, TAcc acc, ArrayView<byte> shared, uint sharedBase, int stage, int kt, int m0, int n0);

    static abstract void Store(in TSelf self, in TAcc acc, int m0, int n0);
}

/// <summary>The tiles of one product in <see cref="MmaTiles.GroupedTile"/> order.</summary>
internal readonly record struct TileOrder(int MTiles, int NTiles, int GroupM, int BlockM, int TileColumns)
{
    public int Count => MTiles * NTiles;

    public (int M0, int N0) Tile(int tile) => MmaTiles.GroupedTile(tile, MTiles, NTiles, GroupM, BlockM, TileColumns);
}

/// <summary>How a block of a warp-specialized GEMM finds its tiles: the tile of its own index (a grid of the tile count),
/// or every grid-stride tile from there (a persistent grid). A kernel type, not a runtime test, so the one-tile walk is
/// straight-line code (the loop in every launch: gated M1024 341 → 349–355 µs, H200, 12-04).</summary>
internal interface ITileWalk
{
    static abstract bool WalksTiles { get; }
}

/// <summary>A block a tile: the grid is the tile count.</summary>
internal struct OneTileABlock : ITileWalk
{
    public static bool WalksTiles => false;
}

/// <summary>Blocks walk the tiles grid-stride, the ring's cursors running on across tiles.</summary>
internal struct GridStrideTiles : ITileWalk
{
    public static bool WalksTiles => true;
}

/// <summary>
/// The warp-specialized mainloop, written once for every <c>wgmma</c> GEMM (<see cref="WarpSpecializedGemmKernel"/>,
/// <see cref="Fp8Gemm.Fp8GemmWarpSpecializedKernel"/>): a producer fills a <see cref="StageRing"/> and consumer
/// warpgroups drain it, with no block-wide barrier in the k loop. Blocks walk the tiles grid-stride (one tile a block
/// when the grid is the tile count); both cursors run on across tiles, so the producer loads tile t + 1 while the
/// consumers store tile t. The operand set and the consumers' tiles and epilogue are the kernel's struct traits.
/// </summary>
internal static class WarpSpecializedMainloop
{
    /// <summary>The walk type argument of a kernel instantiation: <see cref="GridStrideTiles"/> for a grid below the tile
    /// count, else <see cref="OneTileABlock"/>.</summary>
    public static Type Walk(bool walksTiles) => walksTiles ? typeof(GridStrideTiles) : typeof(OneTileABlock);

    public static void Produce<TWalk, TProducer>(in TProducer producer, ArrayView<byte> shared, in StageRing ring, int stages, in TileOrder tiles,
        int kTiles, bool tensorCopies, int thread)
        where TWalk : struct, ITileWalk
        where TProducer : struct, IStageProducer<TProducer>
    {
        var at = RingCursor.Producer();
        for (int tile = Grid.IdxX; tile < tiles.Count; tile += Grid.DimX)
        {
            var (m0, n0) = tiles.Tile(tile);
            for (int kt = 0; kt < kTiles; kt++)
            {
                int stage = ring.Stage(at.Slot), barrier = ring.FullBarrier(at.Slot);
                PtxMbarrier.Wait(shared, ring.EmptyBarrier(at.Slot), at.Parity);
                if (tensorCopies)
                {
                    PtxMbarrier.ArriveExpectingBytes(shared, barrier, ring.StageBytes);
                    TProducer.CopyEngineLoads(producer, stage, kt, m0, n0, barrier);
                }
                else
                {
                    TProducer.ThreadLoads(producer, shared, stage, kt, m0, n0, thread);
                    PtxMbarrier.ArriveWhenCopiesLand(shared, barrier);
                }
                StageRing.ProducerHandsOff();
                at.Advance(stages);
            }
            if (!TWalk.WalksTiles)
                break;
        }
    }

    public static void Consume<TWalk, TConsumer, TAcc>(in TConsumer consumer, ArrayView<byte> shared, uint sharedBase, in StageRing ring, int stages,
        in TileOrder tiles, int kTiles, int lane)
        where TWalk : struct, ITileWalk
        where TConsumer : struct, IStageConsumer<TConsumer, TAcc>
        where TAcc : struct
    {
        var cursor = RingCursor.Consumer();
        for (int tile = Grid.IdxX; tile < tiles.Count; tile += Grid.DimX)
        {
            var (m0, n0) = tiles.Tile(tile);
            TAcc acc = default;
            for (int kt = 0; kt < kTiles; kt++)
            {
                StageRing.ConsumerBegins();
                PtxMbarrier.Wait(shared, ring.FullBarrier(cursor.Slot), cursor.Parity);
                PtxWgmma.FenceProxyAsync(); // copies written through the generic proxy (cp.async), to the tensor cores
                acc = TConsumer.Mma(consumer, acc, shared, sharedBase, ring.Stage(cursor.Slot), kt, m0, n0);
                if (lane < StageRing.ReleasesPerWarp)
                    PtxMbarrier.Arrive(shared, ring.EmptyBarrier(cursor.Slot));
                StageRing.ConsumerEnds();
                cursor.Advance(stages);
            }
            TConsumer.Store(consumer, acc, m0, n0);
            if (!TWalk.WalksTiles)
                break;
        }
    }
}
