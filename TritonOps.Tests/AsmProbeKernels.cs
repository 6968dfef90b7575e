using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TritonOps.Tests;

/// <summary>Probes behind docs/gpu-notes.md: which inline-PTX forms ptxas keeps in registers, before
/// and after CudaKernelLoader's rewrite (gpu-check.sh ptx reports their stack and LDL/STL).</summary>
public static class AsmProbeKernels
{
    public static void RefWithBranch(ArrayView<float> a, ArrayView<uint> o)
    {
        int i = Grid.GlobalIndex.X;
        uint r;
        if (CudaAsm.IsSupported)
        {
            Output<uint> d = default; Input<float> h = a[2 * i], l = a[2 * i + 1];
            CudaAsm.EmitRef("cvt.rn.bf16x2.f32 %0, %1, %2;", ref d, ref h, ref l);
            r = d.Value;
        }
        else r = 0;
        o[i] = r;
    }

    public static void RefNoBranch(ArrayView<float> a, ArrayView<uint> o)
    {
        int i = Grid.GlobalIndex.X;
        Output<uint> d = default; Input<float> h = a[2 * i], l = a[2 * i + 1];
        CudaAsm.EmitRef("cvt.rn.bf16x2.f32 %0, %1, %2;", ref d, ref h, ref l);
        o[i] = d.Value;
    }

    public static void PlainWithBranch(ArrayView<float> a, ArrayView<uint> o)
    {
        int i = Grid.GlobalIndex.X;
        uint r = 0;
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out r, a[2 * i], a[2 * i + 1]);
        o[i] = r;
    }

    public static void PlainNoBranch(ArrayView<float> a, ArrayView<uint> o)
    {
        int i = Grid.GlobalIndex.X;
        uint r = 0;
        CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out r, a[2 * i], a[2 * i + 1]);
        o[i] = r;
    }

    /// <summary>An mma.sync accumulation loop, the GEMM inner loop shape.</summary>
    public static void MmaLoopRef(ArrayView<uint> a, ArrayView<float> c, int k)
    {
        int i = Grid.GlobalIndex.X;
        Ref<float> c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        for (int s = 0; s < k; s++)
        {
            Input<uint> a0 = a[s * 6 + 0], a1 = a[s * 6 + 1], a2 = a[s * 6 + 2], a3 = a[s * 6 + 3], b0 = a[s * 6 + 4], b1 = a[s * 6 + 5];
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref c0, ref c1, ref c2, ref c3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
        }
        c[4 * i] = c0.Value; c[4 * i + 1] = c1.Value; c[4 * i + 2] = c2.Value; c[4 * i + 3] = c3.Value;
    }

    /// <summary>The same, accumulators as plain locals copied in and out of Ref wrappers each step.</summary>
    public static void MmaLoopCopy(ArrayView<uint> a, ArrayView<float> c, int k)
    {
        int i = Grid.GlobalIndex.X;
        float f0 = 0f, f1 = 0f, f2 = 0f, f3 = 0f;
        for (int s = 0; s < k; s++)
        {
            Ref<float> c0 = f0, c1 = f1, c2 = f2, c3 = f3;
            Input<uint> a0 = a[s * 6 + 0], a1 = a[s * 6 + 1], a2 = a[s * 6 + 2], a3 = a[s * 6 + 3], b0 = a[s * 6 + 4], b1 = a[s * 6 + 5];
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref c0, ref c1, ref c2, ref c3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            f0 = c0.Value; f1 = c1.Value; f2 = c2.Value; f3 = c3.Value;
        }
        c[4 * i] = f0; c[4 * i + 1] = f1; c[4 * i + 2] = f2; c[4 * i + 3] = f3;
    }

    public static IEnumerable<System.Reflection.MethodInfo> All() =>
        typeof(AsmProbeKernels).GetMethods().Where(m => m.IsStatic && m.ReturnType == typeof(void));
}
