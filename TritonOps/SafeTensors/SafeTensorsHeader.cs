using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;

namespace TritonOps.SafeTensors;

/// <summary>Parses and validates a safetensors header the way the reference crate
/// (huggingface/safetensors, <c>SafeTensors::read_metadata</c> and <c>Metadata::validate</c>) does,
/// so a file this accepts is one the reference accepts.</summary>
internal sealed class SafeTensorsHeader
{
    /// <summary>The reference's <c>MAX_HEADER_SIZE</c>: a longer header is rejected before it is read.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The reserved key holding string-to-string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    private SafeTensorsHeader(long headerBytes, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        HeaderBytes = headerBytes;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>N: the length of the JSON header; the data region starts at 8 + N.</summary>
    public long HeaderBytes { get; }

    /// <summary>The tensors in data order (by offset; the header's order breaks ties of empty tensors).</summary>
    public List<SafeTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> entries (empty when absent).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>Reads the header at the start of a file of <paramref name="fileLength"/> bytes, of
    /// which <paramref name="prefix"/> holds the first min(fileLength, 8 + <see cref="MaxHeaderBytes"/>).
    /// Never reads past <paramref name="prefix"/>.</summary>
    /// <exception cref="CheckpointFormatException">Anything the reference rejects.</exception>
    public static SafeTensorsHeader Parse(string path, ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (fileLength < 8 || prefix.Length < 8)
            throw new CheckpointFormatException(path, null, $"expected at least 8 bytes (the header length), got a file of {fileLength} bytes.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderBytes)
            throw new CheckpointFormatException(path, null, $"header length {n} exceeds the format's limit of {MaxHeaderBytes} bytes.");
        if (n > (ulong)(fileLength - 8) || (long)n > prefix.Length - 8)
            throw new CheckpointFormatException(path, null, $"header length {n} runs past the end of the file ({fileLength} bytes, so at most {fileLength - 8}).");
        ReadOnlySpan<byte> json = prefix.Slice(8, (int)n);
        if (!Utf8.IsValid(json))
            throw new CheckpointFormatException(path, null, "the header is not valid UTF-8.");
        long dataLength = fileLength - 8 - (long)n;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"the header is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, null, $"expected the header to be a JSON object, got {root.ValueKind}.");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<(SafeTensorInfo Info, int Index)>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    if (sawMetadata)
                        throw new CheckpointFormatException(path, MetadataKey, "appears twice.");
                    sawMetadata = true;
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }
                if (!names.Add(property.Name))
                    throw new CheckpointFormatException(path, property.Name, "the tensor is listed twice.");
                tensors.Add((ReadTensor(path, property.Name, property.Value), tensors.Count));
            }
            tensors.Sort((a, b) => a.Info.DataBegin != b.Info.DataBegin ? a.Info.DataBegin.CompareTo(b.Info.DataBegin)
                : a.Info.DataEnd != b.Info.DataEnd ? a.Info.DataEnd.CompareTo(b.Info.DataEnd) : a.Index.CompareTo(b.Index));
            var ordered = tensors.Select(t => t.Info).ToList();
            ValidateLayout(path, ordered, dataLength);
            return new SafeTensorsHeader((long)n, ordered, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;  // the reference reads it as Option<HashMap<String, String>>
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, MetadataKey, $"expected an object of strings, got {value.ValueKind}.");
        foreach (JsonProperty entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointFormatException(path, MetadataKey, $"expected string values, got {entry.Value.ValueKind} for key '{entry.Name}'.");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new CheckpointFormatException(path, MetadataKey, $"key '{entry.Name}' appears twice.");
        }
    }

    private static SafeTensorInfo ReadTensor(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, name, $"expected an object with dtype, shape and data_offsets, got {value.ValueKind}.");
        JsonElement dtypeElement = Field(path, name, value, "dtype", JsonValueKind.String);
        JsonElement shapeElement = Field(path, name, value, "shape", JsonValueKind.Array);
        JsonElement offsetsElement = Field(path, name, value, "data_offsets", JsonValueKind.Array);

        string dtypeName = dtypeElement.GetString()!;
        if (!SafeTensorsDTypes.TryLookUp(dtypeName, out int bits, out DType? dtype))
            throw new CheckpointFormatException(path, name, $"unknown dtype '{dtypeName}' (the format defines {SafeTensorsDTypes.AllNames}).");

        long[] shape = new long[shapeElement.GetArrayLength()];
        int d = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
            shape[d++] = NonNegative(path, name, dim, "shape", "dimension");
        if (offsetsElement.GetArrayLength() != 2)
            throw new CheckpointFormatException(path, name, $"expected data_offsets to be [begin, end], got {offsetsElement.GetArrayLength()} numbers.");
        long begin = NonNegative(path, name, offsetsElement[0], "data_offsets", "offset");
        long end = NonNegative(path, name, offsetsElement[1], "data_offsets", "offset");
        if (begin > end)
            throw new CheckpointFormatException(path, name, $"data_offsets [{begin}, {end}]: begin is past end.");

        long count = 1;
        long byteCount;
        try
        {
            foreach (long dim in shape)
                count = checked(count * dim);
            long totalBits = checked(count * bits);
            if (totalBits % 8 != 0)
                throw new CheckpointFormatException(path, name, $"{count} elements of {dtypeName} ({bits} bits) do not fill whole bytes.");
            byteCount = totalBits / 8;
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path, name, $"shape [{string.Join(", ", shape)}] of {dtypeName} overflows 64-bit byte counts.");
        }
        if (end - begin != byteCount)
            throw new CheckpointFormatException(path, name,
                $"dtype {dtypeName} with shape [{string.Join(", ", shape)}] needs {byteCount} bytes, but data_offsets [{begin}, {end}] hold {end - begin}.");
        return new SafeTensorInfo(name, dtypeName, dtype, shape, count, begin, end);
    }

    /// <summary>The reference's rule: sorted by offset, the tensors tile the data region exactly,
    /// from byte 0 to its last byte: no overlap, no hole, nothing outside, nothing left over.</summary>
    private static void ValidateLayout(string path, List<SafeTensorInfo> tensors, long dataLength)
    {
        long covered = 0;
        string? previous = null;
        foreach (SafeTensorInfo t in tensors)
        {
            if (t.DataEnd > dataLength)
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.DataBegin}, {t.DataEnd}] lie outside the data region ({dataLength} bytes).");
            if (t.DataBegin < covered)
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.DataBegin}, {t.DataEnd}] overlap tensor '{previous}', which ends at {covered}.");
            if (t.DataBegin > covered)
                throw new CheckpointFormatException(path, t.Name,
                    $"data_offsets [{t.DataBegin}, {t.DataEnd}] leave bytes [{covered}, {t.DataBegin}) of the data region uncovered"
                    + (previous is null ? " (the first tensor must start at 0)." : $" after tensor '{previous}'."));
            covered = t.DataEnd;
            previous = t.Name;
        }
        if (covered != dataLength)
            throw new CheckpointFormatException(path, previous,
                $"the tensors cover {covered} bytes but the data region holds {dataLength}: bytes [{covered}, {dataLength}) belong to no tensor.");
    }

    private static JsonElement Field(string path, string name, JsonElement tensor, string field, JsonValueKind kind)
    {
        if (!tensor.TryGetProperty(field, out JsonElement value))
            throw new CheckpointFormatException(path, name, $"missing field '{field}'.");
        if (value.ValueKind != kind)
            throw new CheckpointFormatException(path, name, $"expected '{field}' to be a JSON {kind}, got {value.ValueKind}.");
        return value;
    }

    private static long NonNegative(string path, string name, JsonElement value, string field, string what)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
            throw new CheckpointFormatException(path, name, $"expected each {field} {what} to be a whole number, got {value.GetRawText()}.");
        if (number < 0)
            throw new CheckpointFormatException(path, name, $"expected each {field} {what} to be non-negative, got {number}.");
        return number;
    }
}
