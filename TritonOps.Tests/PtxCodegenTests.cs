using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using TritonOps.Kernels;

namespace TritonOps.Tests;

/// <summary>Compiles every kernel the library launches to PTX for sm_90 — no GPU needed — and puts it
/// through the loader's rewrite (no local memory may remain), so a code-generation break fails CI,
/// not only the GPU run. The CPU accelerator runs the .NET
/// methods directly and never exercises this path.</summary>
public class PtxCodegenTests : PtxBackendFixture
{
    private static IEnumerable<TestCaseData> Kernels() => CiKernels();

    [TestCaseSource(nameof(Kernels))]
    public void Kernel_CompilesToPtxForSm90(MethodInfo kernel) => CompilesToPtxForSm90(kernel);

    [Test]
    public void AsmProbes_Compile()
    {
        foreach (var probe in AsmProbeKernels.All())
        {
            string ptx = Compile(probe);
            if (Environment.GetEnvironmentVariable("TRITONOPS_DUMP_PTX") is string dir)
                File.WriteAllText(Path.Combine(dir, "Probe." + probe.Name + ".ptx"), TritonOps.Cuda.CudaKernelLoader.Rewrite(ptx, CudaArchitecture.SM_90, globalMemoryOnly: false));
        }
    }

    /// <summary>The wgmma/cp.async probe kernels: both address the kernel's first shared allocation by its
    /// PTX symbol, so its name is part of what this pins down.</summary>
    [TestCase(typeof(Kernels.Elements.BFloat16Element), "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16")]
    [TestCase(typeof(Kernels.Elements.Float8E4M3Element), "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3")]
    public void WgmmaProbe_CompilesWithItsSharedSymbol(Type element, string instruction)
    {
        var kernel = typeof(WgmmaTests).GetMethod(nameof(WgmmaTests.OneTile), System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(element);
        string ptx = Compile(kernel);
        if (Environment.GetEnvironmentVariable("TRITONOPS_DUMP_PTX") is string dir)
            File.WriteAllText(Path.Combine(dir, "Probe.WgmmaOneTile_" + element.Name + ".ptx"), TritonOps.Cuda.CudaKernelLoader.Rewrite(ptx, CudaArchitecture.SM_90, globalMemoryOnly: false));
        ptx.Should().Contain(instruction).And.Contain("cp.async.cg.shared.global")
            .And.MatchRegex(@"\.shared \.align \d+ \.b8 __shared_alloca0\[24576\]", "the tiles are the first (and only) shared allocation");
    }

    [Test]
    public void Catalog_ListsEveryKernel()
    {
        KernelCatalog.All().Should().OnlyHaveUniqueItems().And.HaveCountGreaterThanOrEqualTo(6);
    }
}

/// <summary>An sm_90 PTX backend of its own (no GPU needed) for one fixture.</summary>
public abstract class PtxBackendFixture
{
    protected Context _context = null!;
    protected PTXBackend _backend = null!;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        _context = Context.Create(builder => builder.Default().EnableAlgorithms());
        _backend = new PTXBackend(_context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, null); // 8.4+ for e4m3 mma
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }

    /// <summary>The catalog as CI compiles it (the GPU run, or TRITONOPS_ALL_CODEGEN, compiles every kernel), in one
    /// fixture: one ILGPU context imports each kernel body's helpers once for all its instantiations. Split into two
    /// fixtures by family (12-03) the codegen of the same kernels took 67 s of wall and 79 s of user CPU on this 2-core
    /// machine alone (12-05), in one fixture 60 s and 66 s: the halves bought no overlap and paid the shared helpers'
    /// import twice.</summary>
    protected static IEnumerable<TestCaseData> CiKernels() =>
        KernelCatalog.All()
            // The mma.sync wide kernel (GPUs before Hopper) compiles in 10–40 s a variant on CI's two cores (143k lines of
            // PTX: its four k16 steps of 32 mma each fully unrolled), 6 % of CI's wall time for one variant: CI leaves it to
            // the GPU run, which compiles all eight (its mainloop runs on the CPU accelerator in FusedGatedMlpTests and
            // LinearTests; its epilogues are the paired ones every other 16-bit GEMM compiles here).
            .Where(m => AllCodegen || m.DeclaringType != typeof(Kernels.Gemm.WideGemmKernel))
            // The float16 instantiations of the slower bodies differ from their bfloat16 ones only in the element struct's
            // conversions, which the float16 variants of every cheaper kernel (the quantize, wide-norm, general
            // norm+RoPE and FP8 decode kernels and the mma gated kernel, all compiled here) cover: CI compiles bfloat16 there, the GPU run all of them.
            // Float16 compile seconds a family on CI's two cores (2026-12-03 16:05): wide gated 28, staged and row
            // RMSNorm+RoPE 24 and 10, the two warp-specialized GEMMs 6.8 and 6.7, mma gated 2.9, row RMSNorm 2.7 and
            // 1.5 (with residual), norm+quantize 2.3, fused quantize 1.7, packed norm+RoPE 1.2, persistent norm+RoPE 1.0,
            // mma FP8 0.7: 29.6 of the catalog's 65 s.
            .Where(m => AllCodegen || !SlowFloat16Bodies.Contains(m.DeclaringType!) || !UsesElement(m.GetGenericArguments(), typeof(Kernels.Elements.Float16Element)))
            // The warp-specialized GEMMs, the catalog's slowest bodies (3–5 s a variant on CI's two cores, 12-04 19:10): CI
            // compiles the 16-bit kernel's Silu and Linear epilogues (Gelu and GeluTanh differ only in the activation, as
            // in the wide kernel above), the FP8 kernel into bfloat16 (float32 output differs only in the epilogue's
            // store, which the FP8 mma and decode kernels compile here) with the 64-row tile only (the 128-row one is the
            // 64-row consumer's code with another N: 2.8 s; the 256-row one, whose mainloop the CPU accelerator runs in
            // Fp8GemmTests, took 22 + 2 s here on 2026-12-06, the fixture's slowest), and the tile walk once (the gated
            // Silu form: the walk is the same loop in every instantiation). The GPU run compiles all of them.
            .Where(m => AllCodegen || !CiSkipsWarpSpecializedVariant(m))
            .GroupBy(m => AllCodegen ? Describe(m) : CiForm(m))
            // CI compiles one instantiation of each kernel method and run kind (packed or scalar runs), bfloat16 where it
            // has one; the GPU run compiles every instantiation. The others differ in struct traits (element, activation,
            // epilogue, scale mode, tile) whose code the kept forms and the other kernels compile here too. On CI's two
            // cores (2026-12-07) the 228 instantiations took 49 s of the suite's 273, the 44 kept ~21 s.
            .Select(g => g.FirstOrDefault(m => UsesElement(m.GetGenericArguments(), typeof(Kernels.Elements.BFloat16Element))) ?? g.First())
            .Select(m => new TestCaseData(m).SetArgDisplayNames(Describe(m)));

    private static string CiForm(MethodInfo m)
    {
        string described = Describe(m);
        string run = described.Contains("PackedRun") ? "packed" : described.Contains("ScalarRun") ? "scalar" : "";
        return $"{m.DeclaringType!.FullName}.{m.Name} {run}";
    }

    private static bool CiSkipsWarpSpecializedVariant(MethodInfo m)
    {
        var arguments = m.GetGenericArguments();
        bool walks = arguments.Contains(typeof(Kernels.Gemm.GridStrideTiles));
        if (m.DeclaringType == typeof(Kernels.Gemm.WarpSpecializedGemmKernel))
            return UsesElement(arguments, typeof(Kernels.Activations.Gelu)) || UsesElement(arguments, typeof(Kernels.Activations.GeluTanh))
                || walks && !UsesElement(arguments, typeof(Kernels.Activations.Silu));
        // The fused per-tensor quantize (1.4–1.7 s a variant on 12-07): bfloat16 into e4m3; its float32 loads and e5m2
        // conversion are the cheap quantize kernels' (Fp8QuantizeKernels.Quantize, compiled here in every form).
        if (m.DeclaringType == typeof(Kernels.QuantizeFp8.Fp8QuantizeFusedKernel))
            return arguments[0] != typeof(Kernels.Elements.BFloat16Element) || arguments[1] != typeof(Kernels.Numerics.E4M3);
        if (m.DeclaringType == typeof(Kernels.Fp8Gemm.Fp8GemmWarpSpecializedKernel))
            return walks || arguments[0] != typeof(Kernels.Elements.BFloat16Element) || arguments[1] != typeof(Kernels.Fp8Gemm.M64N64);
        // The swapped decode kernel (4–6 s a variant here, 55 s for its 16 on 2026-12-06): bfloat16, the two forms the
        // library takes by default (the gated Silu epilogue with one x slice, M ≤ 16; Linear with four, 17–64 rows);
        // its float16 and Gelu forms differ only in the element's conversions and the activation, which the kernels above
        // compile, and Linear with one slice (pinned only) in the slice count (3.1 s on 12-07).
        if (m.DeclaringType == typeof(Kernels.Gemm.SwappedDecodeGemmKernel))
        {
            var defaultSlices = UsesElement(arguments, typeof(Kernels.Activations.Silu)) ? typeof(Kernels.Common.One) : typeof(Kernels.Common.Four);
            return arguments[0] != typeof(Kernels.Elements.BFloat16Element)
                || UsesElement(arguments, typeof(Kernels.Activations.Gelu)) || UsesElement(arguments, typeof(Kernels.Activations.GeluTanh))
                || arguments[2] != defaultSlices;
        }
        return false;
    }

    private static bool AllCodegen => Environment.GetEnvironmentVariable("TRITONOPS_ALL_CODEGEN") is not null || Device.IsCudaAvailable;

    private static readonly Type[] SlowFloat16Bodies =
    [
        typeof(Kernels.FusedRmsNormRope.RmsNormRopeStagedKernel), typeof(Kernels.FusedRmsNormRope.RmsNormRopeRowKernel),
        typeof(Kernels.Fp8Gemm.Fp8GemmWarpSpecializedKernel), typeof(Kernels.Gemm.WarpSpecializedGemmKernel), typeof(Kernels.Gemm.RegisterStagedGemmKernel),
        typeof(Kernels.RmsNorm.RmsNormRowKernel), typeof(Kernels.RmsNormQuantizeFp8.RmsNormQuantizeFp8Kernel), typeof(Kernels.QuantizeFp8.Fp8QuantizeFusedKernel),
        typeof(Kernels.Fp8Gemm.Fp8GemmKernel),
        typeof(Kernels.GatedActivationQuantizeFp8.GatedActivationQuantizeFp8Kernel), // its float16 conversions: the gated activation's and the group quantize's
        typeof(Kernels.Gemm.DecodeGemmKernel), // the strip decode GEMM: its float16 forms 4 of its 8 variants' ~16 s on CI (12-07); the mma gated kernel (GatedMlpKernel) compiles the float16 mma.sync forms here
    ];

    private static bool UsesElement(Type[] arguments, Type element) =>
        arguments.Any(a => a == element || a.IsGenericType && UsesElement(a.GetGenericArguments(), element));

    /// <summary>The checks every kernel passes (both halves of the catalog).</summary>
    protected void CompilesToPtxForSm90(MethodInfo kernel)
    {
        string ptx = Compile(kernel);
        string rewritten = TritonOps.Cuda.CudaKernelLoader.Rewrite(ptx, CudaArchitecture.SM_90, kernel);
        if (Environment.GetEnvironmentVariable("TRITONOPS_DUMP_PTX") is string dir)
            File.WriteAllText(Path.Combine(dir, Describe(kernel).Replace("<", "_").Replace(">", "").Replace(",", "_") + ".ptx"), rewritten);
        ptx.Should().Contain(".entry");
        ptx.Should().NotMatchRegex(@"\bcall(\.uni)?\s", "a .NET method ILGPU has no PTX for becomes a call to an undefined function, which fails the JIT on the GPU (MathF.FusedMultiplyAdd did)");
        if (ptx.Contains("__shared_alloca0;"))
            ptx.Should().MatchRegex(@"\.shared[^;]*__shared_alloca0\[", "a symbol the kernel names must exist (PtxWgmma.SharedBase in a dynamic-only kernel fails to load)");
        rewritten.Should().NotContain(".local", "the loader's rewrite must keep every value in registers")
            .And.Contain(".target sm_90a");
        if (kernel.GetCustomAttribute<MaxRegistersAttribute>() is { } cap)
            rewritten.Should().Contain($"\n.maxnreg {cap.Registers}\n{{", "the register cap sits between the parameters and the body");
        if (kernel.GetCustomAttribute<MaxThreadsPerBlockAttribute>() is { } limit)
            rewritten.Should().MatchRegex(@"\.entry\s+\w+\s*\([^)]*\)\s*\.maxntid " + limit.Threads + @", 1, 1\s*(\.reqnctapercluster[^\n]*\s*)?\{", "the thread limit sits between the parameters and the body");
        if (TritonOps.Cuda.CudaKernelLoader.ClusterY(kernel) is > 1 and var cluster)
            rewritten.Should().Contain($"\n.reqnctapercluster 1, {cluster}, 1\n{{", "the cluster shape sits before the body")
                .And.Contain("mapa.shared::cluster.u32").And.Contain("ld.shared::cluster.f32").And.Contain("barrier.cluster.wait.acquire.aligned");
        if (kernel.IsDefined(typeof(ProgrammaticLaunchAttribute), inherit: false))
            ptx.Should().Contain("griddepcontrol.wait;", "a kernel that may start before the previous one ends waits for it before reading what it wrote");
        if (Describe(kernel).Contains("PackedRun") && Describe(kernel).Contains("RmsNormQuantizeFp8Kernel"))
            ptx.Should().MatchRegex(@"ld(\.global)?\.v4\.b32", "packed runs must load 16 bytes per access")
                .And.Contain("cvt.rn.satfinite.e4m3x2.f32", "the codes come from the hardware pair conversion");
        else if (Describe(kernel).Contains("PackedRun"))
            ptx.Should().MatchRegex(@"ld(\.global)?\.v4\.b32", "packed runs must load 16 bytes per access")
                .And.MatchRegex(@"st(\.global)?\.v4\.b32", "and store 16 bytes per access");
        if (Describe(kernel).Contains("GatedActivationQuantizeFp8Kernel"))
            ptx.Should().MatchRegex(@"ld(\.global)?\.v4\.b32", "gate and up load 16 bytes per access")
                .And.Contain("cvt.rn.satfinite.e4m3x2.f32", "the codes come from the hardware pair conversion");
        if (Describe(kernel).Contains("BFloat16") && Describe(kernel).Contains("PackedRun"))
            ptx.Should().Contain("cvt.rn.bf16x2.f32");
        if (Describe(kernel).Contains("Float16Element") && !Describe(kernel).Contains("BFloat16"))
            ptx.Should().MatchRegex(@"cvt\.(f32\.f16|rn\.f16\.f32)", "float16 converts with the hardware cvt");
        if (Describe(kernel).Contains("QkNormRopeKernel.RunPacked"))
            rewritten.Should().MatchRegex(@"st\.global\.v4\.b32", "16-byte output stores (a view chosen by a select once lost its alignment: four 4-byte stores a pack)")
                .And.MatchRegex(@"ld\.shared\.v4\.b32", "16-byte loads of the staged table and x");
        if (Describe(kernel).Contains("RegisterStagedGemmKernel.Run<"))
            ptx.Should().Contain("mma.sync.aligned.m16n8k16.row.col.f32").And.Contain("ld.shared.", "the stages are read as shared memory (the view is passed, not held in a field)");
        if (Describe(kernel).Contains("WideGemmKernel.Run<"))
            ptx.Should().Contain("ldmatrix.sync.aligned.m8n8.x4.shared.b16").And.Contain("cp.async.cg.shared.global");
        if (Describe(kernel).Contains("Fp8GemmKernel"))
            ptx.Should().Contain("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32").And.Contain("ld.shared.");
    }

    protected string Compile(MethodInfo kernel, bool implicitlyGrouped = false)
    {
        var entry = implicitlyGrouped ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel) : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)_backend.Compile(entry, KernelSpecialization.Empty);
        return compiled.PTXAssembly;
    }

    protected static string Describe(MethodInfo m) =>
        $"{m.DeclaringType!.Name}.{m.Name}<{string.Join(",", m.GetGenericArguments().Select(Name))}>";

    private static string Name(Type t) =>
        t.IsGenericType ? $"{t.Name.Split('`')[0]}<{string.Join(",", t.GetGenericArguments().Select(Name))}>" : t.Name;
}
