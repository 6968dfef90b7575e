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

    [GeneratedRegex(@"(\.entry[ \t]+\w+[ \t]*\([^)]*\))[ \t\r\n]*\{")]
    private static partial Regex EntryBody();

    /// <summary>Adds <c>.maxntid threads, 1, 1</c> to the entry, so ptxas keeps the registers within what
    /// blocks of that many threads may hold.</summary>
    public static string LimitThreads(string ptx, int threads) => EntryBody().Replace(ptx, $"$1\n.maxntid {threads}, 1, 1\n{{", 1);

    /// <summary>Adds <c>.maxnreg registers</c> to the entry: ptxas keeps each thread within that many registers.</summary>
    public static string LimitRegisters(string ptx, int registers) => EntryBodyAfterDirectives().Replace(ptx, $"$1\n.maxnreg {registers}\n{{", 1);

    /// <summary>Adds <c>.reqnctapercluster 1, blocks, 1</c> to the entry: the kernel launches in clusters of that many blocks
    /// along the grid's Y (sm_90).</summary>
    public static string RequireClusterY(string ptx, int blocks) => EntryBodyAfterDirectives().Replace(ptx, $"$1\n.reqnctapercluster 1, {blocks}, 1\n{{", 1);

    /// <summary>The entry's parameters and any directives already placed after them (<c>.maxntid</c>), up to the body.</summary>
    [GeneratedRegex(@"(\.entry[ \t]+\w+[ \t]*\([^)]*\)(?:[ \t\r\n]*\.(?:max|req)\w+[^\n{]*)*)[ \t\r\n]*\{")]
    private static partial Regex EntryBodyAfterDirectives();

    public static string Retarget(string ptx, string target) => TargetLine().Replace(ptx, $".target {target}", 1);

    /// <summary>The kernel's <c>griddepcontrol</c> instructions removed (GPUs before sm_90, which have no programmatic
    /// dependent launch; the library then launches the kernel the ordinary way).</summary>
    public static string DropGridDependency(string ptx) => GridDependencyLine().Replace(ptx, "");

    [GeneratedRegex(@"^[ \t]*griddepcontrol\.\w+;[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex GridDependencyLine();

    [GeneratedRegex(@"^([ \t]*)st\.local\.[bfus](\d+)[ \t]+\[(%rd\d+)\],[ \t]*([^;]+);[ \t]*$")]
    private static partial Regex SlotStore();

    [GeneratedRegex(@"^([ \t]*)ld\.local\.[bfus](\d+)[ \t]+(%\w+),[ \t]*\[(%rd\d+)\];[ \t]*$")]
    private static partial Regex SlotLoad();

    [GeneratedRegex(@"__local_depot\d+|%rd\d+")]
    private static partial Regex SlotToken();

    /// <summary>
    /// A slot is promoted when its depot is named only by its declaration and one address move, and that
    /// address register only by the move and whole-width stores and loads. Two passes over the lines
    /// (a kernel holds thousands of slots; a pass per slot took minutes on the largest).
    /// </summary>
    public static string PromoteLocalSlots(string ptx)
    {
        var sizes = DepotDeclaration().Matches(ptx).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        var depotOf = new Dictionary<string, string>();
        foreach (Match address in DepotAddress().Matches(ptx))
        {
            string register = address.Groups[1].Value, depot = address.Groups[2].Value;
            if (sizes.TryGetValue(depot, out int size) && (size == 4 || size == 8))
                depotOf[register] = depot;
        }
        if (depotOf.Count == 0)
            return ptx;

        var uses = new Dictionary<string, int>();
        foreach (Match token in SlotToken().Matches(ptx))
            uses[token.Value] = uses.GetValueOrDefault(token.Value) + 1;
        string[] lines = ptx.Split('\n');
        var accesses = new Dictionary<string, int>();
        foreach (string line in lines)
        {
            if (SlotAccess(line) is (string register, int bits) && depotOf.TryGetValue(register, out string? depot) && bits == 8 * sizes[depot])
                accesses[register] = accesses.GetValueOrDefault(register) + 1;
        }
        var promoted = new Dictionary<string, string>(); // address register → depot
        foreach (var (register, depot) in depotOf)
        {
            if (uses.GetValueOrDefault(depot) == 2 && uses.GetValueOrDefault(register) == 1 + accesses.GetValueOrDefault(register))
                promoted[register] = depot;
        }
        var promotedDepots = promoted.Values.ToHashSet();

        var text = new System.Text.StringBuilder(ptx.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            string? rewritten = line;
            Match m;
            if ((m = SlotStore().Match(line)).Success && promoted.TryGetValue(m.Groups[3].Value, out string? depot))
                rewritten = $"{m.Groups[1].Value}mov.b{m.Groups[2].Value}\t{Slot(depot)}, {AsBitPattern(m.Groups[4].Value.Trim())};";
            else if ((m = SlotLoad().Match(line)).Success && promoted.TryGetValue(m.Groups[4].Value, out depot))
                rewritten = $"{m.Groups[1].Value}mov.b{m.Groups[2].Value}\t{m.Groups[3].Value}, {Slot(depot)};";
            else if ((m = DepotAddress().Match(line)).Success && promoted.ContainsKey(m.Groups[1].Value))
                rewritten = null;
            else if ((m = DepotDeclaration().Match(line)).Success && promotedDepots.Contains(m.Groups[1].Value))
                rewritten = $"{line[..(line.Length - line.TrimStart(' ', '\t').Length)]}.reg .b{8 * sizes[m.Groups[1].Value]} {Slot(m.Groups[1].Value)};";
            if (rewritten is null)
                continue;
            text.Append(rewritten);
            if (i < lines.Length - 1)
                text.Append('\n');
        }
        return text.ToString();
    }

    private static string Slot(string depot) => "%ls" + depot["__local_depot".Length..];

    /// <summary>The address register and width of a slot store or load on this line, if it is one.</summary>
    private static (string Register, int Bits)? SlotAccess(string line)
    {
        Match m = SlotStore().Match(line);
        if (m.Success)
            return (m.Groups[3].Value, int.Parse(m.Groups[2].Value));
        m = SlotLoad().Match(line);
        return m.Success ? (m.Groups[4].Value, int.Parse(m.Groups[2].Value)) : null;
    }

    /// <summary>Float immediates (0fXXXXXXXX, 0dXXXXXXXXXXXXXXXX) as the hex bit patterns a .b mov takes.</summary>
    private static string AsBitPattern(string operand) =>
        operand.Length > 2 && operand[0] == '0' && (operand[1] == 'f' || operand[1] == 'd') ? "0x" + operand[2..] : operand;
}
