namespace TritonOps.Kernels.Ptx;

/// <summary>
/// Global loads and stores with an L2 eviction policy (<c>createpolicy</c> + <c>.L2::cache_hint</c>, sm_80+):
/// lines touched under evict_first are the first to go when L2 needs room, under evict_last the last, so a
/// kernel can keep what it reads again in L2 while streaming everything else past it. Inline PTX cannot take
/// a view, so the CUDA side takes the view's device address; the CPU side indexes the view (no cache to steer).
/// </summary>
internal static class PtxCacheHint
{
    public static ulong EvictFirst()
    {
        if (!CudaAsm.IsSupported)
            return 0;
        CudaAsm.Emit("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;", out ulong policy);
        return policy;
    }

    public static ulong EvictLast()
    {
        if (!CudaAsm.IsSupported)
            return 0;
        CudaAsm.Emit("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;", out ulong policy);
        return policy;
    }

    /// <summary>Pack <paramref name="index"/> of a view of 16-byte packs at device address <paramref name="address"/>.</summary>
    public static Vec4U Load(ArrayView<Vec4U> view, ulong address, long index, ulong policy)
    {
        if (!CudaAsm.IsSupported)
            return view[index];
        Output<uint> r0 = default, r1 = default, r2 = default, r3 = default;
        Input<ulong> at = address + (ulong)index * 16, hint = policy;
        CudaAsm.EmitRef("ld.global.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;", ref r0, ref r1, ref r2, ref r3, ref at, ref hint);
        return new Vec4U(r0.Value, r1.Value, r2.Value, r3.Value);
    }

    /// <summary>Stores element <paramref name="index"/> of a view of 8-byte words at device address <paramref name="address"/>.</summary>
    public static void Store(ArrayView<ulong> view, ulong address, long index, ulong value, ulong policy)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("st.global.L2::cache_hint.b64 [%0], %1, %2;", address + (ulong)index * 8, value, policy);
        else
            view[index] = value;
    }

    /// <summary>Stores element <paramref name="index"/> of a view of 4-byte words at device address <paramref name="address"/>.</summary>
    public static void Store(ArrayView<uint> view, ulong address, long index, uint value, ulong policy)
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("st.global.L2::cache_hint.b32 [%0], %1, %2;", address + (ulong)index * 4, value, policy);
        else
            view[index] = value;
    }

    /// <summary>Element <paramref name="index"/> of a float view at device address <paramref name="address"/>, read from
    /// L2 (<c>ld.global.cg</c>): another block's stores made visible by its fence, never a stale L1 line.</summary>
    public static float LoadFromL2(ArrayView<float> view, ulong address, long index)
    {
        if (!CudaAsm.IsSupported)
            return view[index];
        CudaAsm.Emit("ld.global.cg.f32 %0, [%1];", out float value, address + (ulong)index * 4);
        return value;
    }
}
