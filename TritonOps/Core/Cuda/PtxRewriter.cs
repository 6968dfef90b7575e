using System.Text.RegularExpressions;

namespace TritonOps.Cuda;

/// <summary>
/// Text rewrites applied to ILGPU's PTX before the driver compiles it.
/// <para><see cref="PromoteLocalSlots"/>: ILGPU passes every inline-PTX operand through its own
/// 4- or 8-byte <c>.local</c> slot, and ptxas (CUDA 13.0, sm_90) keeps those slots in local memory
/// (measured on the H200: a bf16 cvt per output costs one STL + LDL; an mma loop 22 LDL/STL per
/// step). Each slot is only ever stored and loaded whole through one address register, so it is
/// a virtual register in disguise: the rewrite turns its stores and loads into <c>mov</c>s of a
/// new register, a textual mem2reg. Slots used any other way are left alone.</para>
/// <para><see cref="Retarget"/>: ILGPU writes <c>.target sm_80</c> even for sm_90; FP8 mma and other
/// sm_90a instructions only assemble under <c>.target sm_90a</c>.</para>
/// </summary>
internal static partial class PtxRewriter
{
    [GeneratedRegex(@"^[ \t]*\.local[ \t]+\.align[ \t]+\d+[ \t]+\.b8[ \t]+(__local_depot\d+)\[(\d+)\];[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DepotDeclaration();

    [GeneratedRegex(@"^[ \t]*mov\.[bu]64[ \t]+(%rd\d+),[ \t]*(__local_depot\d+);[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DepotAddress();

    [GeneratedRegex(@"^\.target[ \t]+\S+", RegexOptions.Multiline)]
    private static partial Regex TargetLine();

    [GeneratedRegex(@"^([ \t]*(?:@!?%p\d+[ \t]+)?)(ld|st)\.((?:v[248]\.)?[bfus]\d+[ \t])", RegexOptions.Multiline)]
    private static partial Regex GenericAccess();

    /// <summary>The symbol ILGPU gives a kernel's dynamic shared memory (<c>SharedMemory.GetDynamic</c>).</summary>
    public const string DynamicSharedSymbol = "__dyn_shared_alloca";

    [GeneratedRegex(@"^\.extern[ \t]+\.shared[ \t]+\.align[ \t]+\d+[ \t]+\.b8[ \t]+__dyn_shared_alloca\[\];", RegexOptions.Multiline)]
    private static partial Regex DynamicSharedDeclaration();

    /// <summary>ILGPU declares dynamic shared memory with 4-byte alignment; <c>cp.async</c> of 16 bytes
    /// needs its destination (the start of the region, after any static allocation) 16-byte aligned.</summary>
    public static string AlignDynamicShared(string ptx) =>
        DynamicSharedDeclaration().Replace(ptx, ".extern .shared .align 16 .b8 __dyn_shared_alloca[];");

    /// <summary>Generic-address <c>ld</c>/<c>st</c> become <c>ld.global</c>/<c>st.global</c>; only for
    /// kernels whose generic accesses all reach global memory.</summary>
    public static string GenericToGlobal(string ptx) => GenericAccess().Replace(ptx, "$1$2.global.$3");

    public static string Retarget(string ptx, string target) => TargetLine().Replace(ptx, $".target {target}", 1);

    public static string PromoteLocalSlots(string ptx)
    {
        var sizes = DepotDeclaration().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        foreach (Match address in DepotAddress().Matches(ptx))
        {
            string register = address.Groups[1].Value, depot = address.Groups[2].Value;
            if (!sizes.TryGetValue(depot, out int size) || (size != 4 && size != 8))
                continue;
            ptx = TryPromote(ptx, depot, register, size * 8) ?? ptx;
        }
        return ptx;
    }

    /// <summary>The rewritten text, or null when the slot is used in a way the rewrite does not cover.</summary>
    private static string? TryPromote(string ptx, string depot, string register, int bits)
    {
        string slot = "%ls" + depot["__local_depot".Length..];
        string reg = Regex.Escape(register);
        // Every use of the depot's name: its declaration and the one address move.
        if (Regex.Matches(ptx, Regex.Escape(depot) + @"(?!\d)").Count != 2)
            return null;
        var store = new Regex($@"^([ \t]*)st\.local\.[bfus]{bits}[ \t]+\[{reg}\],[ \t]*([^;]+);[ \t]*$", RegexOptions.Multiline);
        var load = new Regex($@"^([ \t]*)ld\.local\.[bfus]{bits}[ \t]+(%\w+),[ \t]*\[{reg}\];[ \t]*$", RegexOptions.Multiline);
        int uses = Regex.Matches(ptx, reg + @"(?!\d)").Count;
        if (uses != 1 + store.Matches(ptx).Count + load.Matches(ptx).Count)
            return null; // the address register is used some other way (offsets, vector access, arithmetic)

        ptx = store.Replace(ptx, m => $"{m.Groups[1].Value}mov.b{bits}\t{slot}, {AsBitPattern(m.Groups[2].Value.Trim())};");
        ptx = load.Replace(ptx, m => $"{m.Groups[1].Value}mov.b{bits}\t{m.Groups[2].Value}, {slot};");
        ptx = Regex.Replace(ptx, $@"^[ \t]*mov\.[bu]64[ \t]+{reg},[ \t]*{Regex.Escape(depot)};[ \t]*\r?\n", "", RegexOptions.Multiline);
        ptx = Regex.Replace(ptx, $@"^([ \t]*)\.local[ \t]+\.align[ \t]+\d+[ \t]+\.b8[ \t]+{Regex.Escape(depot)}\[\d+\];",
            m => $"{m.Groups[1].Value}.reg .b{bits} {slot};", RegexOptions.Multiline);
        return ptx;
    }

    /// <summary>Float immediates (0fXXXXXXXX, 0dXXXXXXXXXXXXXXXX) as the hex bit patterns a .b mov takes.</summary>
    private static string AsBitPattern(string operand) =>
        operand.Length > 2 && operand[0] == '0' && (operand[1] == 'f' || operand[1] == 'd') ? "0x" + operand[2..] : operand;
}
