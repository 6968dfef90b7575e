namespace TritonOps.SafeTensors;

/// <summary>One tensor as a safetensors header lists it: name, dtype, shape and where its bytes lie.</summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, string dtypeName, DType? dtype, long[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DTypeName = dtypeName;
        DType = dtype;
        Shape = shape;
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's name, e.g. "model.layers.0.self_attn.q_proj.weight".</summary>
    public string Name { get; }

    /// <summary>The dtype as the file spells it, e.g. "BF16", "F8_E4M3", "F64".</summary>
    public string DTypeName { get; }

    /// <summary>The <see cref="TritonOps.DType"/> it loads as; null for a dtype the format defines but
    /// TritonOps cannot hold (F64, BOOL, I8, …): it lists, and raises <see cref="UnsupportedDtypeException"/> on load.</summary>
    public DType? DType { get; }

    /// <summary>Sizes of each dimension (empty for a scalar).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>Product of the sizes.</summary>
    public long ElementCount { get; }

    /// <summary>First byte of the tensor, relative to the start of the data region (after the header).</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the tensor, relative to the start of the data region.</summary>
    public long DataEnd { get; }

    /// <summary>Bytes the tensor occupies in the file.</summary>
    public long ByteCount => DataEnd - DataBegin;

    /// <summary>e.g. "model.norm.weight: BF16 [4096] @ [0, 8192)".</summary>
    public override string ToString() => $"{Name}: {DTypeName} [{string.Join(", ", Shape)}] @ [{DataBegin}, {DataEnd})";
}

/// <summary>The dtypes the safetensors format defines: bit size, the TritonOps dtype each loads as,
/// and the order the reference writer sorts by.</summary>
internal static class SafeTensorsDTypes
{
    /// <summary>In the order of the reference crate's <c>Dtype</c> enum (safetensors 0.5), which its
    /// writer sorts by, descending (widest alignment first), before the name.</summary>
    private static readonly (string Name, int Bits, DType? DType)[] s_table =
    [
        ("BOOL", 8, null), ("F4", 4, null), ("F6_E2M3", 6, null), ("F6_E3M2", 6, null),
        ("U8", 8, TritonOps.DType.UInt8), ("I8", 8, null),
        ("F8_E5M2", 8, TritonOps.DType.Float8E5M2), ("F8_E4M3", 8, TritonOps.DType.Float8E4M3), ("F8_E8M0", 8, null),
        ("I16", 16, null), ("U16", 16, null), ("F16", 16, TritonOps.DType.Float16), ("BF16", 16, TritonOps.DType.BFloat16),
        ("I32", 32, TritonOps.DType.Int32), ("U32", 32, null), ("F32", 32, TritonOps.DType.Float32),
        ("F64", 64, null), ("I64", 64, TritonOps.DType.Int64), ("U64", 64, null),
    ];

    /// <summary>Bits per element and the TritonOps dtype of <paramref name="name"/>; false when the
    /// format does not define it.</summary>
    public static bool TryLookUp(string name, out int bits, out DType? dtype)
    {
        foreach (var entry in s_table)
            if (entry.Name == name)
            {
                (bits, dtype) = (entry.Bits, entry.DType);
                return true;
            }
        (bits, dtype) = (0, null);
        return false;
    }

    /// <summary>The file's spelling of <paramref name="dtype"/>.</summary>
    public static string NameOf(DType dtype) => s_table.First(e => e.DType == dtype).Name;

    /// <summary>Where <paramref name="dtype"/> sorts in the reference enum (higher is written first).</summary>
    public static int SortRank(DType dtype) => Array.FindIndex(s_table, e => e.DType == dtype);

    /// <summary>The names the format defines, for messages.</summary>
    public static string AllNames => string.Join(", ", s_table.Select(e => e.Name));

    /// <summary>The names TritonOps loads, for messages.</summary>
    public static string LoadableNames => string.Join(", ", s_table.Where(e => e.DType is not null).Select(e => e.Name));
}
