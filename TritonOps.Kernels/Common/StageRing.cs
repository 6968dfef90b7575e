namespace TritonOps.Kernels.Common;

/// <summary>
/// The ring of shared-memory stages of the warp-specialized GEMMs and its barriers, in the kernel's dynamic
/// shared memory: up to 1024 bytes of padding to the first 1024-byte boundary (the 128-byte-swizzled layout
/// needs it; ILGPU aligns dynamic shared memory to 16), the stages, then a "full" and an "empty"
/// <see cref="PtxMbarrier"/> per stage. The producer waits for a stage's empty barrier (starting on parity 1,
/// which a fresh barrier passes), fills it and arrives on its full barrier; consumers wait for full (parity
/// 0 first), read it and arrive on empty. The CPU accelerator runs the same protocol in lockstep (block barriers
/// around each k tile, <see cref="Lockstep"/>), because its threads would spend their time slices spinning:
/// every wait then passes at once, or hangs where slots and parities block wrongly (a wait that passes too
/// early goes unseen there: the GPU tests are the check for that).
/// </summary>
internal readonly struct StageRing
{
    public readonly int First, StageBytes, Full, Empty;

    public StageRing(uint sharedBase, int stageBytes, int stages)
    {
        First = (int)((1024 - (sharedBase & 1023)) & 1023);
        StageBytes = stageBytes;
        Full = First + stages * stageBytes;
        Empty = Full + stages * PtxMbarrier.Bytes;
    }

    /// <summary>Dynamic shared bytes of a ring of <paramref name="stages"/> stages of <paramref name="stageBytes"/>.</summary>
    public static int SharedBytes(int stageBytes, int stages) => 1024 + stages * (stageBytes + 2 * PtxMbarrier.Bytes);

    /// <summary>Consumer arrivals a warp on a stage's empty barrier: one on the GPU (a warp is converged after its
    /// <c>wgmma</c> wait), every thread on the CPU accelerator, whose threads read shared memory one by one.</summary>
    public static int ReleasesPerWarp => CudaAsm.IsSupported ? 1 : 32;

    /// <summary>Whether the protocol runs in lockstep (the CPU accelerator).</summary>
    public static bool Lockstep => !CudaAsm.IsSupported;

    public int Stage(int slot) => First + slot * StageBytes;

    public int FullBarrier(int slot) => Full + slot * PtxMbarrier.Bytes;

    public int EmptyBarrier(int slot) => Empty + slot * PtxMbarrier.Bytes;

    /// <summary>Lockstep only: the producer's two block barriers a stage, matching a consumer's
    /// <see cref="ConsumerBegins"/> (after the stage is filled) and <see cref="ConsumerEnds"/> (after its release).</summary>
    public static void ProducerHandsOff()
    {
        if (Lockstep)
        {
            Group.Barrier();
            Group.Barrier();
        }
    }

    public static void ConsumerBegins()
    {
        if (Lockstep)
            Group.Barrier();
    }

    public static void ConsumerEnds()
    {
        if (Lockstep)
            Group.Barrier();
    }

    /// <summary>Thread 0 initializes every stage's barriers: full after <paramref name="fullArrivals"/>, empty
    /// after one release a consumer warp; then the whole block meets.</summary>
    public void Init(ArrayView<byte> shared, int stages, int fullArrivals, int consumerWarps)
    {
        if (Group.IdxX == 0)
        {
            for (int slot = 0; slot < stages; slot++)
            {
                PtxMbarrier.Init(shared, FullBarrier(slot), fullArrivals);
                PtxMbarrier.Init(shared, EmptyBarrier(slot), consumerWarps * ReleasesPerWarp);
            }
            PtxMbarrier.FenceInit();
        }
        Group.Barrier();
    }
}

/// <summary>A walker's place in a <see cref="StageRing"/>: the slot, and the parity of the barrier phase to wait for.</summary>
internal struct RingCursor
{
    public int Slot, Parity;

    /// <summary>A producer's cursor: its first waits (on empty barriers) are for parity 1, which fresh barriers pass.</summary>
    public static RingCursor Producer() => new() { Slot = 0, Parity = 1 };

    /// <summary>A consumer's cursor: its first waits (on full barriers) are for parity 0.</summary>
    public static RingCursor Consumer() => new() { Slot = 0, Parity = 0 };

    public void Advance(int stages)
    {
        if (++Slot == stages)
        {
            Slot = 0;
            Parity ^= 1;
        }
    }
}
