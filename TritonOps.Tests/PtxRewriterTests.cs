using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using TritonOps.Cuda;
using TritonOps.Kernels;

namespace TritonOps.Tests;

/// <summary>The PTX rewrite every CUDA kernel goes through (CPU-only: text in, text out).</summary>
public class PtxRewriterTests
{
    [Test]
    public void PromoteLocalSlots_TurnsSlotStoresAndLoadsIntoMoves()
    {
        const string ptx = """
            .visible .entry K()
            {
            	.local .align 4 .b8 __local_depot0[4];
            	.local .align 8 .b8 __local_depot1[8];
            	.local .align 4 .b8 __local_depot2[16];
            	.reg .b32 %r<9>;
            	mov.b64	%rd1, __local_depot0;
            	mov.b64	%rd2, __local_depot1;
            	mov.b64	%rd3, __local_depot2;
            	st.local.f32	[%rd1], 0f3F800000;
            	st.local.b64	[%rd2], %rd7;
            	cvt.rn.bf16x2.f32 	%r5, %f1, %f2;
            	st.local.b32	[%rd1], %r5;
            	ld.local.b32	%r6, [%rd1];
            	ld.local.u64	%rd8, [%rd2];
            	st.local.v4.b32	[%rd3], {%r1, %r2, %r3, %r4};
            }
            """;

        string rewritten = PtxRewriter.PromoteLocalSlots(ptx);

        rewritten.Should().Contain(".reg .b32 %ls0;").And.Contain(".reg .b64 %ls1;");
        rewritten.Should().Contain("mov.b32\t%ls0, 0x3F800000;").And.Contain("mov.b32\t%ls0, %r5;").And.Contain("mov.b32\t%r6, %ls0;");
        rewritten.Should().Contain("mov.b64\t%ls1, %rd7;").And.Contain("mov.b64\t%rd8, %ls1;");
        rewritten.Should().NotContain("__local_depot0").And.NotContain("__local_depot1").And.NotContain("[%rd1]");
        rewritten.Should().Contain("__local_depot2[16]", "a 16-byte slot accessed as a vector is left alone")
            .And.Contain("st.local.v4.b32\t[%rd3]");
    }

    [Test]
    public void PromoteLocalSlots_LeavesASlotWhoseAddressIsUsedOtherwise()
    {
        const string ptx = """
            	.local .align 4 .b8 __local_depot0[4];
            	mov.b64	%rd1, __local_depot0;
            	st.local.b32	[%rd1], %r1;
            	add.s64	%rd2, %rd1, 4;
            	ld.local.b32	%r2, [%rd1];
            """;

        PtxRewriter.PromoteLocalSlots(ptx).Should().Be(ptx);
    }

    [Test]
    public void GridDependency_StaysOnHopper_AndGoesBeforeIt()
    {
        const string ptx = ".version 8.8\n.target sm_90\n.visible .entry K()\n{\n\tgriddepcontrol.launch_dependents;\n\tgriddepcontrol.wait;\n\tret;\n}\n";
        CudaKernelLoader.Rewrite(ptx, ILGPU.Runtime.Cuda.CudaArchitecture.SM_90, globalMemoryOnly: false)
            .Should().Contain("\tgriddepcontrol.launch_dependents;\n\tgriddepcontrol.wait;\n").And.Contain(".target sm_90a");
        string ampere = CudaKernelLoader.Rewrite(ptx, ILGPU.Runtime.Cuda.CudaArchitecture.SM_80, globalMemoryOnly: false);
        ampere.Should().NotContain("griddepcontrol").And.Contain("{\n\n\n\tret;", "the instructions' lines emptied, the rest untouched");
    }

    [Test]
    public void Limits_GoBetweenTheParametersAndTheBody_ThreadsThenRegisters()
    {
        const string ptx = ".visible .entry Kernel_Run(\n\t.param .u64 a,\n\t.param .u32 b\n)\n{\n\tret;\n}\n";

        string both = CudaKernelLoader.Rewrite(ptx, null, globalMemoryOnly: false, maxThreadsPerBlock: 384, maxRegisters: 96);
        both.Should().MatchRegex(@"\.entry Kernel_Run\([^)]*\)\n\.maxntid 384, 1, 1\n\.maxnreg 96\n\{\n\tret;");
        CudaKernelLoader.Rewrite(ptx, null, globalMemoryOnly: false, maxRegisters: 80).Should().MatchRegex(@"\)\n\.maxnreg 80\n\{");
        CudaKernelLoader.Rewrite(ptx, null, globalMemoryOnly: false).Should().Be(PtxRewriter.PromoteLocalSlots(PtxRewriter.AlignDynamicShared(ptx)));
    }

    [Test]
    public void ClusterShape_IsWrittenAfterTheOtherDirectives_FromTheKernelsTypeArgument()
    {
        const string ptx = ".visible .entry Kernel_Run(\n\t.param .u64 a\n)\n{\n\tret;\n}\n";
        string limited = CudaKernelLoader.Rewrite(ptx, null, globalMemoryOnly: false, maxThreadsPerBlock: 384);
        PtxRewriter.RequireClusterY(limited, 8).Should().MatchRegex(@"\.entry Kernel_Run\([^)]*\)\n\.maxntid 384, 1, 1\n\.reqnctapercluster 1, 8, 1\n\{\n\tret;");

        var bf16 = typeof(TritonOps.Kernels.Elements.BFloat16Element);
        CudaKernelLoader.ClusterY(TritonOps.Kernels.Gemm.SwappedDecodeGemmKernel.LinearVariant(bf16, 4, cluster: 5)).Should().Be(5);
        CudaKernelLoader.ClusterY(TritonOps.Kernels.Gemm.SwappedDecodeGemmKernel.LinearVariant(bf16, 4)).Should().Be(1);
        CudaKernelLoader.ClusterY(TritonOps.Kernels.Gemm.SwappedDecodeGemmKernel.InCluster(
            TritonOps.Kernels.Gemm.SwappedDecodeGemmKernel.LinearVariant(bf16, 1), 8)).Should().Be(8);
    }

    [Test]
    public void GenericToGlobal_QualifiesOnlyGenericAccesses()
    {
        const string ptx = "\tld.v4.b32\t{%r1, %r2, %r3, %r4}, [%rd1];\n\tst.b16\t[%rd2], %rs1;\n\t@%p1 ld.f32\t%f1, [%rd3];\n" +
            "\tld.shared.f32\t%f2, [%rd4];\n\tst.local.b32\t[%rd5], %r1;\n\tld.param.u64\t%rd6, [p];\n";

        PtxRewriter.GenericToGlobal(ptx).Should().Be(
            "\tld.global.v4.b32\t{%r1, %r2, %r3, %r4}, [%rd1];\n\tst.global.b16\t[%rd2], %rs1;\n\t@%p1 ld.global.f32\t%f1, [%rd3];\n" +
            "\tld.shared.f32\t%f2, [%rd4];\n\tst.local.b32\t[%rd5], %r1;\n\tld.param.u64\t%rd6, [p];\n");
    }

    [Test]
    public void Retarget_ReplacesOnlyTheTargetDirective() =>
        PtxRewriter.Retarget(".version 8.0\n.target sm_80\n.address_size 64\n", "sm_90a")
            .Should().Be(".version 8.0\n.target sm_90a\n.address_size 64\n");
}
