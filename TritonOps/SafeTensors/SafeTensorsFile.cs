using System.Buffers;
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Encodings.Web;
using System.Text.Json;
using ILGPU;
using ILGPU.Runtime;

namespace TritonOps.SafeTensors;

/// <summary>
/// A safetensors file (Hugging Face's checkpoint format), memory-mapped: an 8-byte little-endian
/// header length N, N bytes of UTF-8 JSON naming each tensor's dtype, shape and
/// <c>data_offsets</c> (relative to the data region, which starts at 8 + N) plus an optional
/// <c>__metadata__</c> object of strings, then the raw little-endian data.
/// <see cref="Open"/> validates the whole header as the reference implementation does; loading copies
/// from the mapping straight to the device, so no tensor passes through managed memory whole.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Bytes per copy from the mapping to the device: no single copy spans more of the mapping
    /// (the driver stages pageable memory through its own pinned buffers in any case).</summary>
    internal const long ChunkBytes = 64L << 20;

    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private int _disposed;

    private SafeTensorsFile(string path, long length, MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* pointer)
    {
        Path = path;
        Length = length;
        _mapping = mapping;
        _view = view;
        _base = pointer;
        long prefixLength = Math.Min(length, 8 + SafeTensorsHeader.MaxHeaderBytes);
        var header = SafeTensorsHeader.Parse(path, new ReadOnlySpan<byte>(pointer, (int)prefixLength), length);
        _dataStart = 8 + header.HeaderBytes;
        Tensors = header.Tensors;
        Names = header.Tensors.Select(t => t.Name).ToArray();
        Metadata = header.Metadata;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>The tensors' names, in the order of their data in the file.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Every tensor's listing, in the order of their data in the file.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> (e.g. <c>{"format": "pt"}</c>); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Maps <paramref name="path"/> read-only and validates its header.</summary>
    /// <exception cref="CheckpointFormatException">The file does not follow the format (too short, header
    /// length past the end or over 100 MB, bad UTF-8 or JSON, missing or malformed fields, unknown dtype,
    /// shape disagreeing with the byte count, offsets that overlap, leave holes or fall outside the data).</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string fullPath = System.IO.Path.GetFullPath(path);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = stream.Length;
        if (length < 8)
        {
            stream.Dispose();
            throw new CheckpointFormatException(fullPath, null, $"expected at least 8 bytes (the header length), got a file of {length} bytes.");
        }
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        byte* pointer = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new SafeTensorsFile(fullPath, length, mapping, view, pointer + view.PointerOffset);
        }
        catch
        {
            if (pointer != null)
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (mapping is null)
                stream.Dispose();
            mapping?.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The listing of tensor <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public SafeTensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var info) ? info
            : throw new KeyNotFoundException($"{Path}: no tensor named '{name}' (the file holds {_byName.Count}).");

    /// <summary>A new contiguous tensor on <paramref name="device"/> (default <see cref="Device.Default"/>)
    /// holding tensor <paramref name="name"/>, copied from the mapping in chunks of at most 64 MiB.</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    /// <exception cref="UnsupportedDtypeException">Its dtype (F64, BOOL, …) has no <see cref="DType"/>.</exception>
    /// <exception cref="ShapeMismatchException">A dimension exceeds what a <see cref="Tensor"/> holds (2³¹ − 1).</exception>
    public Tensor Load(string name, Device? device = null) => Load(name, device, ChunkBytes);

    /// <summary><see cref="Load(string, Device?)"/> in chunks of <paramref name="chunkBytes"/> (tests cross chunk edges with small ones).</summary>
    internal Tensor Load(string name, Device? device, long chunkBytes)
    {
        SafeTensorInfo info = GetInfo(name);
        int[] shape = LoadableShape(info);
        device ??= Device.Default;
        Tensor tensor = LoadInto(info, shape, device, chunkBytes);
        device.Synchronize();
        return tensor;
    }

    /// <summary>Every tensor, by name, on <paramref name="device"/>; the caller disposes them. Dtypes and
    /// shapes are checked for all tensors before the first is loaded.</summary>
    /// <exception cref="UnsupportedDtypeException">Some tensor's dtype has no <see cref="DType"/>.</exception>
    public Dictionary<string, Tensor> LoadAll(Device? device = null)
    {
        device ??= Device.Default;
        var shapes = Tensors.Select(LoadableShape).ToArray();
        var result = new Dictionary<string, Tensor>(Tensors.Count, StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < Tensors.Count; i++)
                result.Add(Tensors[i].Name, LoadInto(Tensors[i], shapes[i], device, ChunkBytes));
            device.Synchronize();
            return result;
        }
        catch
        {
            foreach (Tensor t in result.Values)
                t.Dispose();
            throw;
        }
    }

    /// <summary>A managed copy of tensor <paramref name="name"/>'s raw bytes, whatever its dtype (for small
    /// tensors and dtypes TritonOps does not load).</summary>
    /// <exception cref="KeyNotFoundException">The file has no such tensor.</exception>
    public byte[] ReadBytes(string name)
    {
        SafeTensorInfo info = GetInfo(name);
        ThrowIfDisposed();
        return new ReadOnlySpan<byte>(_base + _dataStart + info.DataBegin, checked((int)info.ByteCount)).ToArray();
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (contiguous, any device) and <paramref name="metadata"/> as a
    /// safetensors file at <paramref name="path"/>, as the reference writer does: the header is compact
    /// JSON with <c>__metadata__</c> first, padded with spaces to a multiple of 8 bytes (so the data
    /// region starts 8-aligned); tensors are laid out sorted by dtype, widest first in the reference
    /// crate's <c>Dtype</c> order (I64, F32, I32, BF16, F16, F8_E4M3, F8_E5M2, U8), then by name
    /// (ordinal). Data streams from the device through a staging buffer of at most 64 MiB into a
    /// temporary file that replaces <paramref name="path"/> once complete.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor is named "__metadata__".</exception>
    /// <exception cref="NonContiguousTensorException">A tensor is a strided view.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, tensors, metadata, ChunkBytes);

    /// <summary><see cref="Save(string, IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, string}?)"/>
    /// staging <paramref name="chunkBytes"/> at a time (tests cross chunk edges with small ones).</summary>
    internal static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata, long chunkBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        foreach (var (name, tensor) in tensors)
        {
            if (name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"Argument 'tensors': '{SafeTensorsHeader.MetadataKey}' is reserved for metadata, not a tensor name.", nameof(tensors));
            Check.NotNull(tensor, $"tensors[\"{name}\"]");
            Check.Contiguous(tensor, $"tensors[\"{name}\"]");
        }
        var ordered = tensors.OrderByDescending(p => SafeTensorsDTypes.SortRank(p.Value.DType))
            .ThenBy(p => p.Key, StringComparer.Ordinal).ToList();
        byte[] header = Header(ordered, metadata);

        string fullPath = System.IO.Path.GetFullPath(path);
        string temporary = fullPath + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                file.Write(length);
                file.Write(header);
                long largest = ordered.Count == 0 ? 0 : ordered.Max(p => p.Value.ByteCount);
                byte[] staging = new byte[Math.Min(largest, chunkBytes)];
                foreach (var (_, tensor) in ordered)
                {
                    if (tensor.ByteCount == 0)
                        continue;
                    using var gate = tensor.Device.Enter();
                    tensor.Device.Accelerator.Synchronize();
                    ArrayView<byte> bytes = tensor.Bytes;
                    for (long offset = 0; offset < tensor.ByteCount; offset += chunkBytes)
                    {
                        int count = (int)Math.Min(chunkBytes, tensor.ByteCount - offset);
                        HostCopy.ToHost(bytes.SubView(offset, count), staging.AsSpan(0, count));
                        file.Write(staging, 0, count);
                    }
                }
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Unmaps the file. Tensors already loaded stay valid.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    /// <summary>"SafeTensorsFile(path, n tensors)".</summary>
    public override string ToString() => $"SafeTensorsFile({Path}, {Tensors.Count} tensors)";

    private Tensor LoadInto(SafeTensorInfo info, int[] shape, Device device, long chunkBytes)
    {
        ThrowIfDisposed();
        Tensor tensor = Tensor.Empty(shape, info.DType!.Value, device);
        try
        {
            using var gate = device.Enter();
            ArrayView<byte> destination = tensor.Bytes;
            // The header was validated against the file's length, so [DataBegin, DataEnd) lies in the mapping.
            byte* source = _base + _dataStart + info.DataBegin;
            for (long offset = 0; offset < info.ByteCount; offset += chunkBytes)
            {
                long count = Math.Min(chunkBytes, info.ByteCount - offset);
                destination.SubView(offset, count).CopyFromCPU(ref source[offset], count);
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    private int[] LoadableShape(SafeTensorInfo info)
    {
        if (info.DType is null)
            throw new UnsupportedDtypeException(
                $"{Path}: tensor '{info.Name}' has dtype {info.DTypeName}, which TritonOps cannot hold (it loads {SafeTensorsDTypes.LoadableNames}).");
        int[] shape = new int[info.Shape.Count];
        for (int d = 0; d < shape.Length; d++)
            shape[d] = info.Shape[d] <= int.MaxValue ? (int)info.Shape[d]
                : throw new ShapeMismatchException($"{Path}: tensor '{info.Name}' has dimension {d} of {info.Shape[d]}, more than a Tensor holds ({int.MaxValue}).");
        return shape;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private static byte[] Header(List<KeyValuePair<string, Tensor>> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping writes non-ASCII names as UTF-8, as serde_json does, instead of \uXXXX.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata is not null)
            {
                writer.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in ordered)
            {
                writer.WriteStartObject(name);
                writer.WriteString("dtype", SafeTensorsDTypes.NameOf(tensor.DType));
                writer.WriteStartArray("shape");
                foreach (int d in tensor.Shape)
                    writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + tensor.ByteCount);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += tensor.ByteCount;
            }
            writer.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
