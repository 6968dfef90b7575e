using TritonOps.Kernels.GatedActivation;
using TritonOps.Kernels.Linear;
using TritonOps.Kernels.RmsNorm;
using TritonOps.Kernels.FusedRmsNormRope;
using TritonOps.Kernels.QkNormRope;
using TritonOps.Kernels.Tensors;

namespace TritonOps.Kernels;

/// <summary>Every kernel instantiation the library launches, so a test can compile each one to
/// PTX for sm_90 on a machine without a GPU.</summary>
internal static class KernelCatalog
{
    public static IEnumerable<MethodInfo> All() => RmsNormRopeRowKernel.AllVariants()
        .Concat(RmsNormRopeStagedKernel.AllVariants())
        .Concat(QkNormRopeKernel.AllVariants())
        .Concat(RmsNormRowKernel.AllVariants())
        .Concat(RmsNormWideKernel.AllVariants())
        .Concat(RmsNormQuantizeFp8.RmsNormQuantizeFp8Kernel.AllVariants())
        .Concat(GatedMlpKernel.AllVariants())
        .Concat(RegisterStagedGemmKernel.AllVariants())
        .Concat(WideGemmKernel.AllVariants())
        .Concat(WarpSpecializedGemmKernel.AllVariants())
        .Concat(LinearRowsKernel.AllVariants())
        .Concat(DecodeGemmKernel.AllVariants())
        .Concat(SwappedDecodeGemmKernel.AllVariants())
        .Concat(GatedActivationKernel.AllVariants())
        .Concat(GatedActivationQuantizeFp8.GatedActivationQuantizeFp8Kernel.AllVariants())
        .Concat(Fp8QuantizeKernels.AllVariants())
        .Concat(Fp8QuantizeFusedKernel.AllVariants())
        .Concat(Fp8GroupQuantizeKernels.AllVariants())
        .Concat(Fp8GemmKernel.AllVariants())
        .Concat(Fp8GemmDecodeKernel.AllVariants())
        .Concat(Fp8GemmWarpSpecializedKernel.AllVariants())
        .Concat(FillRowsKernel.AllVariants())
        .Concat(StridedCopyKernel.AllVariants())
        .Concat(CastKernel.AllVariants());
}
