using System.Text.Json;

namespace TritonOps.SafeTensors;

/// <summary>
/// A Hugging Face checkpoint folder: either sharded, with <c>model.safetensors.index.json</c>
/// (<c>{"metadata": {...}, "weight_map": {"tensor": "model-00001-of-00002.safetensors", ...}}</c>), or a
/// single <c>model.safetensors</c>. Lists and loads tensors by name across shards with the same members
/// as <see cref="SafeTensorsFile"/>. Every shard is opened (and its header validated) up front.
/// </summary>
public sealed class SafeTensorsCheckpoint : IDisposable
{
    /// <summary>The index file of a sharded checkpoint.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>The file of an unsharded checkpoint.</summary>
    public const string SingleFileName = "model.safetensors";

    private readonly SafeTensorsFile[] _shards;
    private readonly Dictionary<string, SafeTensorsFile> _shardOf;

    private SafeTensorsCheckpoint(string folder, string? indexPath, SafeTensorsFile[] shards,
        List<string> names, Dictionary<string, SafeTensorsFile> shardOf, IReadOnlyDictionary<string, string> metadata)
    {
        Folder = folder;
        IndexPath = indexPath;
        _shards = shards;
        _shardOf = shardOf;
        Names = names;
        Metadata = metadata;
        Files = shards.Select(s => s.Path).ToArray();
    }

    /// <summary>The checkpoint folder's full path.</summary>
    public string Folder { get; }

    /// <summary>The index file's full path; null for a single-file checkpoint.</summary>
    public string? IndexPath { get; }

    /// <summary>The full paths of the safetensors files, in the order the index first names them.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The tensors' names: the index's <c>weight_map</c> order, or the single file's data order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The index's <c>metadata</c> (non-string values as their JSON text, e.g. "total_size" →
    /// "16060522496"), or the single file's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens the checkpoint in <paramref name="folder"/> (its index if present, else
    /// <c>model.safetensors</c>); a path to a <c>.safetensors</c> file opens that file alone.</summary>
    /// <exception cref="CheckpointFormatException">The index or a shard does not follow its format, names a
    /// shard that is missing or outside the folder, or puts a tensor in a shard that lacks it.</exception>
    /// <exception cref="FileNotFoundException">Neither file is in the folder.</exception>
    public static SafeTensorsCheckpoint Open(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string full = Path.GetFullPath(folder);
        if (File.Exists(full))
            return Single(Path.GetDirectoryName(full)!, full);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException($"Checkpoint folder '{full}' does not exist.");
        string index = Path.Combine(full, IndexFileName);
        if (File.Exists(index))
            return Sharded(full, index);
        string single = Path.Combine(full, SingleFileName);
        if (File.Exists(single))
            return Single(full, single);
        throw new FileNotFoundException($"Checkpoint folder '{full}' holds neither {IndexFileName} nor {SingleFileName}.", index);
    }

    /// <summary>Whether the checkpoint holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _shardOf.ContainsKey(name);

    /// <summary>The listing of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    public SafeTensorInfo GetInfo(string name) => ShardOf(name).GetInfo(name);

    /// <summary>The full path of the file holding tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    public string FileOf(string name) => ShardOf(name).Path;

    /// <summary>Tensor <paramref name="name"/> on <paramref name="device"/>, from whichever shard holds it
    /// (see <see cref="SafeTensorsFile.Load(string, Device?)"/>).</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="UnsupportedDtypeException">Its dtype has no <see cref="DType"/>.</exception>
    public Tensor Load(string name, Device? device = null) => ShardOf(name).Load(name, device);

    /// <summary>Every tensor of <see cref="Names"/>, by name, on <paramref name="device"/>; the caller
    /// disposes them. Dtypes are checked for all tensors before the first is loaded.</summary>
    /// <exception cref="UnsupportedDtypeException">Some tensor's dtype has no <see cref="DType"/>.</exception>
    public Dictionary<string, Tensor> LoadAll(Device? device = null)
    {
        foreach (string name in Names)
        {
            SafeTensorInfo info = GetInfo(name);
            if (info.DType is null)
                throw new UnsupportedDtypeException(
                    $"{FileOf(name)}: tensor '{name}' has dtype {info.DTypeName}, which TritonOps cannot hold (it loads {SafeTensorsDTypes.LoadableNames}).");
        }
        var result = new Dictionary<string, Tensor>(Names.Count, StringComparer.Ordinal);
        try
        {
            foreach (string name in Names)
                result.Add(name, Load(name, device));
            return result;
        }
        catch
        {
            foreach (Tensor t in result.Values)
                t.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps every shard. Tensors already loaded stay valid.</summary>
    public void Dispose()
    {
        foreach (SafeTensorsFile shard in _shards)
            shard.Dispose();
    }

    private SafeTensorsFile ShardOf(string name) =>
        _shardOf.TryGetValue(name, out var shard) ? shard
            : throw new KeyNotFoundException($"{IndexPath ?? Files[0]}: no tensor named '{name}' (the checkpoint holds {_shardOf.Count}).");

    private static SafeTensorsCheckpoint Single(string folder, string path)
    {
        var file = SafeTensorsFile.Open(path);
        return new SafeTensorsCheckpoint(folder, null, [file], file.Names.ToList(),
            file.Names.ToDictionary(n => n, _ => file, StringComparer.Ordinal), file.Metadata);
    }

    private static SafeTensorsCheckpoint Sharded(string folder, string indexPath)
    {
        var (weightMap, metadata) = ReadIndex(indexPath);
        var shards = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        string root = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        try
        {
            foreach (var (name, fileName) in weightMap)
            {
                if (!shards.TryGetValue(fileName, out var shard))
                {
                    string shardPath = Path.GetFullPath(Path.Combine(folder, fileName));
                    if (Path.IsPathRooted(fileName) || !shardPath.StartsWith(root, StringComparison.Ordinal))
                        throw new CheckpointFormatException(indexPath, name, $"weight_map names shard '{fileName}', which is outside the checkpoint folder.");
                    if (!File.Exists(shardPath))
                        throw new CheckpointFormatException(indexPath, name, $"weight_map names shard '{fileName}', which is not in the folder.");
                    shard = SafeTensorsFile.Open(shardPath);
                    shards.Add(fileName, shard);
                }
                if (!shard.Contains(name))
                    throw new CheckpointFormatException(indexPath, name, $"weight_map puts it in '{fileName}', which holds no such tensor.");
                shardOf.Add(name, shard);
            }
        }
        catch
        {
            foreach (var shard in shards.Values)
                shard.Dispose();
            throw;
        }
        return new SafeTensorsCheckpoint(folder, indexPath, shards.Values.ToArray(), weightMap.Select(p => p.Key).ToList(), shardOf, metadata);
    }

    private static (List<KeyValuePair<string, string>> WeightMap, Dictionary<string, string> Metadata) ReadIndex(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, null, $"not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, null, $"expected a JSON object, got {root.ValueKind}.");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out JsonElement meta) && meta.ValueKind != JsonValueKind.Null)
            {
                if (meta.ValueKind != JsonValueKind.Object)
                    throw new CheckpointFormatException(indexPath, "metadata", $"expected an object, got {meta.ValueKind}.");
                foreach (JsonProperty entry in meta.EnumerateObject())
                    metadata[entry.Name] = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : entry.Value.GetRawText();
            }
            if (!root.TryGetProperty("weight_map", out JsonElement map))
                throw new CheckpointFormatException(indexPath, "weight_map", "missing.");
            if (map.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, "weight_map", $"expected an object of tensor name → file name, got {map.ValueKind}.");
            var weightMap = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException(indexPath, entry.Name, $"expected a shard file name, got {entry.Value.ValueKind}.");
                if (!seen.Add(entry.Name))
                    throw new CheckpointFormatException(indexPath, entry.Name, "weight_map lists the tensor twice.");
                weightMap.Add(new(entry.Name, entry.Value.GetString()!));
            }
            return (weightMap, metadata);
        }
    }
}
