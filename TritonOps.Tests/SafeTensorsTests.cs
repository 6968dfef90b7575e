using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using TritonOps.SafeTensors;

namespace TritonOps.Tests;

/// <summary>A temporary folder per test, and hand-built safetensors bytes that follow the spec
/// directly (8-byte little-endian N, N bytes of JSON, data), so the reader is not only tested against
/// <see cref="SafeTensorsFile.Save(string, IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, string}?)"/>.</summary>
public abstract class SafeTensorsFixture
{
    protected string Folder { get; private set; } = "";

    protected static Device Cpu => TestDevices.Cpu;

    [SetUp]
    public void MakeFolder() => Folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "tritonops-safetensors-" + Guid.NewGuid().ToString("N"))).FullName;

    [TearDown]
    public void RemoveFolder()
    {
        if (Directory.Exists(Folder))
            Directory.Delete(Folder, recursive: true);
    }

    /// <summary>N as 8 little-endian bytes, the header as UTF-8, then the data.</summary>
    protected static byte[] Build(string header, params byte[] data) => Build(Encoding.UTF8.GetBytes(header), data);

    protected static byte[] Build(byte[] header, byte[] data)
    {
        byte[] file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    protected string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(Folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    protected static byte[] Floats(params float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}

/// <summary>Listing, loading and saving single files: every dtype round-trips bit for bit, and Save
/// writes exactly the bytes the reference implementation writes.</summary>
public class SafeTensorsFileTests : SafeTensorsFixture
{
    private static float[] ValuesFor(DType dtype, int count, int seed) => dtype switch
    {
        DType.UInt8 => Inputs.Uniform(count, seed, 0, 256).Select(MathF.Floor).ToArray(),
        DType.Int32 or DType.Int64 => Inputs.Uniform(count, seed, -1e6, 1e6).Select(MathF.Floor).ToArray(),
        _ => Inputs.Normal(count, seed, 3.0),
    };

    [TestCase(DType.BFloat16, "BF16")]
    [TestCase(DType.Float16, "F16")]
    [TestCase(DType.Float32, "F32")]
    [TestCase(DType.Float8E4M3, "F8_E4M3")]
    [TestCase(DType.Float8E5M2, "F8_E5M2")]
    [TestCase(DType.Int32, "I32")]
    [TestCase(DType.Int64, "I64")]
    [TestCase(DType.UInt8, "U8")]
    public void SaveThenLoad_EveryDtype_RoundTripsBitForBit(DType dtype, string fileName)
    {
        using var matrix = Tensor.FromArray(ValuesFor(dtype, 3 * 5, Inputs.Seed(dtype)), [3, 5], dtype, Cpu);
        using var scalar = Tensor.FromArray(ValuesFor(dtype, 1, 7), [], dtype, Cpu);
        using var empty = Tensor.Empty([0, 4], dtype, Cpu);
        string path = Path.Combine(Folder, "model.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["m"] = matrix, ["s"] = scalar, ["e"] = empty },
            new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafeTensorsFile.Open(path);
        file.Metadata.Should().Equal(new Dictionary<string, string> { ["format"] = "pt" });
        file.Names.Should().BeEquivalentTo("m", "s", "e");
        var info = file.GetInfo("m");
        (info.DTypeName, info.DType, info.ElementCount, info.ByteCount).Should().Be((fileName, dtype, 15L, 15L * DTypes.SizeOf(dtype)));
        info.Shape.Should().Equal(3L, 5L);
        file.GetInfo("s").Shape.Should().BeEmpty();
        file.GetInfo("e").Shape.Should().Equal(0L, 4L);

        using var loaded = file.Load("m", Cpu);
        (loaded.DType, loaded.Device, loaded.IsContiguous).Should().Be((dtype, Cpu, true));
        loaded.Shape.Should().Equal(3, 5);
        loaded.ToBytes().Should().Equal(matrix.ToBytes());
        file.ReadBytes("m").Should().Equal(matrix.ToBytes());
        using var loadedScalar = file.Load("s", Cpu);
        loadedScalar.ToBytes().Should().Equal(scalar.ToBytes());
        using var loadedEmpty = file.Load("e", Cpu);
        loadedEmpty.Shape.Should().Equal(0, 4);
    }

    [Test]
    public void Save_OneInt32Tensor_WritesTheReferenceBytes()
    {
        // The reference's own known answer (bindings/python/tests/test_simple.py, test_serialization):
        // N = 64 ('@'), 60 bytes of compact JSON, 4 spaces of padding, then 16 zero bytes.
        using var zeros = Tensor.FromArray(new float[4], [2, 2], DType.Int32, Cpu);
        string path = Path.Combine(Folder, "ref.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["test"] = zeros });

        byte[] expected = [.. "@\0\0\0\0\0\0\0"u8, .. """{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    """u8, .. new byte[16]];
        File.ReadAllBytes(path).Should().Equal(expected);
    }

    [Test]
    public void Save_MixedDtypesAndMetadata_WritesMetadataFirstThenWidestDtypeFirstThenByName()
    {
        using var a = Tensor.FromArray([1, 2], [2], DType.BFloat16, Cpu);
        using var b = Tensor.FromArray([3, 4], [2], DType.Float32, Cpu);
        using var c = Tensor.FromArray([5], [1], DType.Int64, Cpu);
        using var d = Tensor.FromArray([6, 7], [2], DType.Float32, Cpu);
        using var q = Tensor.FromArray([1], [1], DType.Float8E4M3, Cpu);
        string path = Path.Combine(Folder, "mixed.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["q"] = q, ["a"] = a, ["d"] = d, ["b"] = b, ["c"] = c },
            new Dictionary<string, string> { ["format"] = "pt" });

        byte[] bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        (n % 8).Should().Be(0, "the header is padded to a multiple of 8 bytes");
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        header.TrimEnd(' ').Should().Be(
            """{"__metadata__":{"format":"pt"},"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},""" +
            """ "b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"d":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},""".TrimStart() +
            """ "a":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},"q":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[28,29]}}""".TrimStart());
        bytes.Length.Should().Be(8 + (int)n + 29);
        bytes.AsSpan(8 + (int)n + 8, 8).ToArray().Should().Equal(Floats(3, 4));
    }

    [Test]
    public void Open_HandBuiltFileWithMetadata_ListsAndLoads()
    {
        // The reference's load-with-metadata fixture (N = 102 = 'f', 7 spaces), with an F32 and a BF16 tensor added.
        string header = """{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}       """;
        Encoding.UTF8.GetByteCount(header).Should().Be(102);
        byte[] data = [.. new byte[16]];
        string path = Write("meta.safetensors", Build(header, data));
        using (var file = SafeTensorsFile.Open(path))
        {
            file.Metadata.Should().Equal(new Dictionary<string, string> { ["framework"] = "pt" });
            file.Names.Should().Equal("test1");
            using var t = file.Load("test1", Cpu);
            t.ToFloatArray().Should().Equal(0f, 0f, 0f, 0f);
        }

        // Keys in any order; data order decides the listing; bf16 0x3F80 = 1.0, 0xC000 = -2.0.
        string twoHeader = """{"w":{"data_offsets":[8,12],"shape":[1,2],"dtype":"BF16"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        string twoPath = Write("two.safetensors", Build(twoHeader, [.. Floats(1.5f, -0.25f), 0x80, 0x3F, 0x00, 0xC0]));
        using var two = SafeTensorsFile.Open(twoPath);
        two.Names.Should().Equal("x", "w");
        two.Metadata.Should().BeEmpty();
        using var w = two.Load("w", Cpu);
        w.ToFloatArray().Should().Equal(1f, -2f);
        var all = two.LoadAll(Cpu);
        all["x"].ToFloatArray().Should().Equal(1.5f, -0.25f);
        foreach (var tensor in all.Values)
            tensor.Dispose();
    }

    [Test]
    public void LoadAndSave_InChunksSmallerThanTheTensor_CopyEveryByte()
    {
        float[] values = Inputs.Normal(250, 3);
        using var x = Tensor.FromArray(values, [10, 25], DType.Float32, Cpu);
        string path = Path.Combine(Folder, "chunks.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["x"] = x }, null, chunkBytes: 7);
        using var file = SafeTensorsFile.Open(path);
        using var loaded = file.Load("x", Cpu, chunkBytes: 13);
        loaded.ToFloatArray().Should().Equal(values);
    }

    [TestCase("F64", 8)]
    [TestCase("BOOL", 1)]
    [TestCase("I8", 1)]
    [TestCase("U16", 2)]
    public void Load_DtypeTritonOpsCannotHold_ListsButThrowsUnsupportedDtypeNamingFileAndTensor(string dtype, int size)
    {
        string path = Write("other.safetensors", Build($$$"""{"odd":{"dtype":"{{{dtype}}}","shape":[3],"data_offsets":[0,{{{3 * size}}}]}}""", new byte[3 * size]));
        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("odd");
        (info.DTypeName, info.DType, info.ByteCount).Should().Be((dtype, (DType?)null, 3L * size));
        file.ReadBytes("odd").Should().HaveCount(3 * size);
        file.Invoking(f => f.Load("odd", Cpu)).Should().Throw<UnsupportedDtypeException>()
            .WithMessage($"*other.safetensors*'odd'*{dtype}*");
        file.Invoking(f => f.LoadAll(Cpu)).Should().Throw<UnsupportedDtypeException>();
    }

    [Test]
    public void Load_UnknownName_ThrowsKeyNotFound()
    {
        string path = Write("x.safetensors", Build("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", Floats(1)));
        using var file = SafeTensorsFile.Open(path);
        file.Contains("y").Should().BeFalse();
        file.Invoking(f => f.Load("y", Cpu)).Should().Throw<KeyNotFoundException>().WithMessage("*x.safetensors*'y'*");
    }

    [Test]
    public void Save_NonContiguousTensor_ThrowsNonContiguous()
    {
        using var x = Tensor.FromArray(Inputs.Normal(6, 1), [2, 3], DType.Float32, Cpu);
        using var t = x.Transpose(0, 1);
        FluentActions.Invoking(() => SafeTensorsFile.Save(Path.Combine(Folder, "t.safetensors"), new Dictionary<string, Tensor> { ["t"] = t }))
            .Should().Throw<NonContiguousTensorException>().WithMessage("*tensors[\"t\"]*");
        Directory.GetFiles(Folder).Should().BeEmpty("nothing is written when validation fails");
    }

    [Test]
    public void Save_TensorNamedMetadata_ThrowsArgument()
    {
        using var x = Tensor.FromArray([1], [1], DType.Float32, Cpu);
        FluentActions.Invoking(() => SafeTensorsFile.Save(Path.Combine(Folder, "m.safetensors"), new Dictionary<string, Tensor> { ["__metadata__"] = x }))
            .Should().Throw<ArgumentException>().WithMessage("*__metadata__*");
    }

    [Test]
    public void Save_NoTensors_WritesAnEmptyObjectPaddedToEight()
    {
        string path = Path.Combine(Folder, "empty.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor>());
        File.ReadAllBytes(path).Should().Equal([8, 0, 0, 0, 0, 0, 0, 0, .. "{}      "u8]);
        using var file = SafeTensorsFile.Open(path);
        file.Names.Should().BeEmpty();
    }

    [Test]
    public void Save_NonAsciiNamesAndMetadata_RoundTrip()
    {
        using var x = Tensor.FromArray([1, 2], [2], DType.Float16, Cpu);
        string path = Path.Combine(Folder, "utf8.safetensors");
        SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["poids.é+<x>\"q\""] = x }, new Dictionary<string, string> { ["note"] = "ünïcode \\ \n" });
        using var file = SafeTensorsFile.Open(path);
        file.Names.Should().Equal("poids.é+<x>\"q\"");
        file.Metadata["note"].Should().Be("ünïcode \\ \n");
    }
}

/// <summary>Every malformed file raises <see cref="CheckpointFormatException"/> naming the file (and the
/// tensor, when one is at fault), as the reference implementation rejects it.</summary>
public class SafeTensorsFormatTests : SafeTensorsFixture
{
    private const string Good = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}""";

    private FluentAssertions.Specialized.ExceptionAssertions<CheckpointFormatException> Rejects(byte[] bytes, string? entry, string message)
    {
        string path = Write("bad.safetensors", bytes);
        var thrown = FluentActions.Invoking(() => SafeTensorsFile.Open(path).Dispose()).Should().Throw<CheckpointFormatException>();
        thrown.Which.FilePath.Should().Be(path);
        thrown.Which.Entry.Should().Be(entry);
        thrown.Which.Message.Should().StartWith(path);
        return thrown.WithMessage(message);
    }

    private static byte[] Data12 => new byte[12];

    [Test]
    public void GoodFixture_Opens()
    {
        using var file = SafeTensorsFile.Open(Write("good.safetensors", Build(Good, Data12)));
        file.Names.Should().Equal("a", "b");
    }

    [TestCase(0)]
    [TestCase(7)]
    public void FileShorterThanEightBytes_Throws(int length) =>
        Rejects(new byte[length], null, $"*at least 8 bytes*{length} bytes*");

    [Test]
    public void HeaderLengthPastTheEnd_Throws()
    {
        byte[] bytes = Build(Good, Data12);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(bytes.Length - 7));
        Rejects(bytes, null, "*header length*runs past the end*");
    }

    [TestCase(100_000_001UL)]
    [TestCase(ulong.MaxValue)]
    [TestCase(0x8000_0000_0000_0000UL)]
    public void HeaderLengthAbsurd_Throws(ulong n)
    {
        byte[] bytes = Build(Good, Data12);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, n);
        Rejects(bytes, null, "*exceeds the format's limit of 100000000*");
    }

    [Test]
    public void HeaderNotUtf8_Throws()
    {
        byte[] header = Encoding.UTF8.GetBytes(Good);
        header[5] = 0xFF;
        Rejects(Build(header, Data12), null, "*not valid UTF-8*");
    }

    [TestCase("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]""")]
    [TestCase("")]
    [TestCase("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}},""")]
    public void HeaderNotJson_Throws(string header) => Rejects(Build(header, new byte[8]), null, "*not valid JSON*");

    [TestCase("[]")]
    [TestCase("42")]
    public void HeaderNotAnObject_Throws(string header) => Rejects(Build(header), null, "*expected the header to be a JSON object*");

    [TestCase("dtype")]
    [TestCase("shape")]
    [TestCase("data_offsets")]
    public void MissingField_Throws(string field)
    {
        string header = field switch
        {
            "dtype" => """{"a":{"shape":[2],"data_offsets":[0,8]}}""",
            "shape" => """{"a":{"dtype":"F32","data_offsets":[0,8]}}""",
            _ => """{"a":{"dtype":"F32","shape":[2]}}""",
        };
        Rejects(Build(header, new byte[8]), "a", $"*'a'*missing field '{field}'*");
    }

    [Test]
    public void FieldOfWrongType_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", new byte[8]), "a", "*'shape'*Array*String*");

    [Test]
    public void TensorNotAnObject_Throws() => Rejects(Build("""{"a":[1,2]}"""), "a", "*expected an object*");

    [Test]
    public void UnknownDtype_Throws() =>
        Rejects(Build("""{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}""", new byte[8]), "a", "*unknown dtype 'Q7'*");

    [Test]
    public void NegativeDim_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", new byte[8]), "a", "*non-negative*-2*");

    [TestCase("1.5")]
    [TestCase("1e40")]
    [TestCase("\"2\"")]
    public void DimNotAWholeNumber_Throws(string dim) =>
        Rejects(Build($$$"""{"a":{"dtype":"F32","shape":[{{{dim}}}],"data_offsets":[0,8]}}""", new byte[8]), "a", "*whole number*");

    [Test]
    public void OffsetsNotAPair_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}""", new byte[8]), "a", "*[begin, end]*3*");

    [Test]
    public void NegativeOffset_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[-1,-1]}}"""), "a", "*non-negative*");

    [Test]
    public void BeginPastEnd_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", new byte[8]), "a", "*[8, 0]*begin is past end*");

    [Test]
    public void OffsetsOverlap_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}}""", new byte[10]),
            "b", "*[6, 10]*overlap tensor 'a'*ends at 8*");

    [Test]
    public void HoleBetweenTensors_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]}}""", new byte[14]),
            "b", "*bytes [8, 10)*uncovered after tensor 'a'*");

    [Test]
    public void FirstTensorNotAtZero_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]), "a", "*[0, 4)*must start at 0*");

    [Test]
    public void OffsetsOutsideTheData_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}""", new byte[10]),
            "b", "*[8, 12]*outside the data region (10 bytes)*");

    [Test]
    public void HugeOffsets_Throws() =>
        Rejects(Build("""{"a":{"dtype":"U8","shape":[8],"data_offsets":[9223372036854775799,9223372036854775807]}}""", new byte[8]), "a", "*outside the data region*");

    [Test]
    public void TrailingBytesNotCovered_Throws() =>
        Rejects(Build(Good, new byte[13]), "b", "*cover 12 bytes*holds 13*[12, 13)*");

    [Test]
    public void DataButNoTensors_Throws() => Rejects(Build("{}", new byte[4]), null, "*cover 0 bytes*holds 4*");

    [Test]
    public void ShapeDisagreesWithByteCount_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", new byte[8]), "a", "*F32 with shape [3] needs 12 bytes*hold 8*");

    [Test]
    public void ElementCountOverflows_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", new byte[8]), "a", "*overflows*");

    [Test]
    public void SubByteDtypeNotFillingBytes_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}""", new byte[2]), "a", "*whole bytes*");

    [Test]
    public void DuplicateTensor_Throws() =>
        Rejects(Build("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]),
            "a", "*listed twice*");

    [Test]
    public void MetadataNotStrings_Throws() =>
        Rejects(Build("""{"__metadata__":{"total_size":8},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8]),
            "__metadata__", "*string values*'total_size'*");

    [Test]
    public void MissingFile_ThrowsFileNotFound() =>
        FluentActions.Invoking(() => SafeTensorsFile.Open(Path.Combine(Folder, "none.safetensors"))).Should().Throw<FileNotFoundException>();
}

/// <summary>Sharded checkpoints through model.safetensors.index.json, and single-file folders.</summary>
public class SafeTensorsCheckpointTests : SafeTensorsFixture
{
    private const string Shard1 = "model-00001-of-00002.safetensors", Shard2 = "model-00002-of-00002.safetensors";

    private (float[] Embed, float[] Norm, float[] Head) WriteSharded(string? weightMapOverride = null)
    {
        float[] embed = Inputs.Normal(32, 1), norm = Inputs.Normal(8, 2), head = Inputs.Normal(32, 3);
        using var e = Tensor.FromArray(embed, [4, 8], DType.BFloat16, Cpu);
        using var n = Tensor.FromArray(norm, [8], DType.Float32, Cpu);
        using var h = Tensor.FromArray(head, [4, 8], DType.BFloat16, Cpu);
        SafeTensorsFile.Save(Path.Combine(Folder, Shard1), new Dictionary<string, Tensor> { ["model.embed_tokens.weight"] = e, ["model.norm.weight"] = n },
            new Dictionary<string, string> { ["format"] = "pt" });
        SafeTensorsFile.Save(Path.Combine(Folder, Shard2), new Dictionary<string, Tensor> { ["lm_head.weight"] = h },
            new Dictionary<string, string> { ["format"] = "pt" });
        string weightMap = weightMapOverride ?? $"""
            "lm_head.weight": "{Shard2}",
                "model.embed_tokens.weight": "{Shard1}",
                "model.norm.weight": "{Shard1}"
            """;
        File.WriteAllText(Path.Combine(Folder, SafeTensorsCheckpoint.IndexFileName), $$"""
            {
              "metadata": {
                "total_size": 160
              },
              "weight_map": {
                {{weightMap}}
              }
            }
            """);
        return (embed.Select(v => DTypes.Round(v, DType.BFloat16)).ToArray(), norm, head.Select(v => DTypes.Round(v, DType.BFloat16)).ToArray());
    }

    [Test]
    public void Open_ShardedFolder_ListsAndLoadsAcrossShards()
    {
        var (embed, norm, head) = WriteSharded();
        using var checkpoint = SafeTensorsCheckpoint.Open(Folder);
        checkpoint.IndexPath.Should().Be(Path.Combine(Folder, SafeTensorsCheckpoint.IndexFileName));
        checkpoint.Names.Should().Equal("lm_head.weight", "model.embed_tokens.weight", "model.norm.weight");
        checkpoint.Files.Should().Equal(Path.Combine(Folder, Shard2), Path.Combine(Folder, Shard1));
        checkpoint.Metadata.Should().Equal(new Dictionary<string, string> { ["total_size"] = "160" });
        checkpoint.FileOf("model.norm.weight").Should().Be(Path.Combine(Folder, Shard1));
        checkpoint.GetInfo("lm_head.weight").DTypeName.Should().Be("BF16");
        checkpoint.Contains("model.norm.weight").Should().BeTrue();

        using (var h = checkpoint.Load("lm_head.weight", Cpu))
            h.ToFloatArray().Should().Equal(head);
        var all = checkpoint.LoadAll(Cpu);
        all.Keys.Should().BeEquivalentTo(checkpoint.Names);
        all["model.embed_tokens.weight"].ToFloatArray().Should().Equal(embed);
        all["model.norm.weight"].ToFloatArray().Should().Equal(norm);
        foreach (var t in all.Values)
            t.Dispose();
        checkpoint.Invoking(c => c.Load("missing", Cpu)).Should().Throw<KeyNotFoundException>().WithMessage("*'missing'*");
    }

    [Test]
    public void Open_SingleFileFolder_UsesModelSafetensors()
    {
        using var x = Tensor.FromArray([1, 2, 3], [3], DType.Float16, Cpu);
        SafeTensorsFile.Save(Path.Combine(Folder, SafeTensorsCheckpoint.SingleFileName), new Dictionary<string, Tensor> { ["x"] = x },
            new Dictionary<string, string> { ["format"] = "pt" });
        using var checkpoint = SafeTensorsCheckpoint.Open(Folder);
        checkpoint.IndexPath.Should().BeNull();
        checkpoint.Names.Should().Equal("x");
        checkpoint.Metadata["format"].Should().Be("pt");
        using var loaded = checkpoint.Load("x", Cpu);
        loaded.ToFloatArray().Should().Equal(1f, 2f, 3f);

        using var direct = SafeTensorsCheckpoint.Open(Path.Combine(Folder, SafeTensorsCheckpoint.SingleFileName));
        direct.Names.Should().Equal("x");
    }

    [Test]
    public void Open_IndexNamingAMissingShard_ThrowsCheckpointFormat()
    {
        WriteSharded($"\"lm_head.weight\": \"model-00003-of-00003.safetensors\"");
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<CheckpointFormatException>()
            .WithMessage("*index.json*'lm_head.weight'*model-00003-of-00003.safetensors*not in the folder*");
    }

    [Test]
    public void Open_IndexPuttingATensorInTheWrongShard_ThrowsCheckpointFormat()
    {
        WriteSharded($"\"lm_head.weight\": \"{Shard1}\"");
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<CheckpointFormatException>()
            .WithMessage($"*'lm_head.weight'*{Shard1}*no such tensor*");
    }

    [Test]
    public void Open_IndexNamingAShardOutsideTheFolder_ThrowsCheckpointFormat()
    {
        WriteSharded("\"lm_head.weight\": \"../elsewhere.safetensors\"");
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<CheckpointFormatException>()
            .WithMessage("*outside the checkpoint folder*");
    }

    [TestCase("{\"metadata\": {}}", "*'weight_map'*missing*")]
    [TestCase("{\"weight_map\": {\"x\": 3}}", "*'x'*shard file name*")]
    [TestCase("{\"weight_map\": [", "*not valid JSON*")]
    public void Open_MalformedIndex_ThrowsCheckpointFormat(string index, string message)
    {
        File.WriteAllText(Path.Combine(Folder, SafeTensorsCheckpoint.IndexFileName), index);
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<CheckpointFormatException>().WithMessage(message);
    }

    [Test]
    public void Open_CorruptShard_ThrowsCheckpointFormatNamingTheShard()
    {
        WriteSharded();
        File.WriteAllBytes(Path.Combine(Folder, Shard2), [1, 2, 3]);
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<CheckpointFormatException>()
            .Which.FilePath.Should().Be(Path.Combine(Folder, Shard2));
    }

    [Test]
    public void Open_EmptyFolder_ThrowsFileNotFound() =>
        FluentActions.Invoking(() => SafeTensorsCheckpoint.Open(Folder)).Should().Throw<FileNotFoundException>().WithMessage("*index.json*model.safetensors*");
}

/// <summary>Seeded mutations of good files (bytes flipped or replaced in the header, truncation, a changed
/// length prefix, bytes inserted or removed): every failure is a typed format or dtype error, never an
/// IndexOutOfRange, an access violation or a hang.</summary>
public class SafeTensorsFuzzTests : SafeTensorsFixture
{
    private static readonly byte[] s_jsonBytes = "{}[]\",:-+.0123456789eE \0\xff"u8.ToArray().Concat(new byte[] { 0xC3, 0xFF, 0x80 }).ToArray();

    [Test]
    public void Open_MutatedFiles_FailOnlyWithTypedErrors()
    {
        var seeds = new List<byte[]>();
        using (var w = Tensor.FromArray(Inputs.Normal(12, 5), [4, 3], DType.BFloat16, Cpu))
        using (var b = Tensor.FromArray(Inputs.Normal(3, 6), [3], DType.Float32, Cpu))
        using (var i = Tensor.FromArray([1, -2], [2], DType.Int64, Cpu))
        using (var q = Tensor.FromArray(Inputs.Normal(5, 7), [5], DType.Float8E4M3, Cpu))
        using (var e = Tensor.Empty([0, 2], DType.UInt8, Cpu))
        {
            string path = Path.Combine(Folder, "seed.safetensors");
            SafeTensorsFile.Save(path, new Dictionary<string, Tensor> { ["w"] = w, ["b"] = b, ["i"] = i, ["q"] = q, ["e"] = e },
                new Dictionary<string, string> { ["format"] = "pt" });
            seeds.Add(File.ReadAllBytes(path));
        }
        seeds.Add(Build("""{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},"d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}""", new byte[24]));

        var random = new Random(20240519);
        string target = Path.Combine(Folder, "mutant.safetensors");
        // A fixed count, not a time budget: a budget made the count (and the test) depend on the machine's load
        // (48 mutations in 2 s on CI's two busy cores, 2026-12-03). 500: 16 s for 1000 on a 2-core machine (2026-12-06),
        // the suite's slowest single test; every kind of mutation still comes up dozens of times.
        const int Mutations = 500;
        var clock = Stopwatch.StartNew();
        int iterations = 0, opened = 0, rejected = 0;
        var counts = new Dictionary<string, int>();
        while (iterations < Mutations)
        {
            byte[] seed = seeds[iterations % seeds.Count];
            int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(seed);
            var (mutant, what) = Mutate(seed, headerEnd, random);
            iterations++;
            counts[what.Split(' ')[0]] = counts.GetValueOrDefault(what.Split(' ')[0]) + 1;
            File.WriteAllBytes(target, mutant);
            try
            {
                using var file = SafeTensorsFile.Open(target);
                opened++;
                _ = file.Metadata.Count;
                foreach (var info in file.Tensors)
                {
                    file.ReadBytes(info.Name).Length.Should().Be((int)info.ByteCount);
                    // Every file is opened and read; every fourth is also loaded onto the device, whose chunked copy reads
                    // the same validated range (CI time: each load waits for the CPU accelerators' shared issue lock).
                    if (iterations % 4 != 0)
                        continue;
                    try
                    {
                        using var t = file.Load(info.Name, Cpu);
                        t.ByteCount.Should().Be(info.ByteCount);
                    }
                    catch (UnsupportedDtypeException)
                    {
                    }
                    catch (ShapeMismatchException ex) when (ex.Message.Contains("more than a Tensor holds"))
                    {
                        // A valid file whose empty tensor has a dimension beyond 2³¹ − 1: a Tensor cannot hold it.
                    }
                }
            }
            catch (CheckpointFormatException ex)
            {
                ex.FilePath.Should().Be(target);
                rejected++;
            }
            catch (Exception ex) when (ex is not AssertionException)
            {
                Assert.Fail($"mutation {iterations} ({what}) threw {ex.GetType().Name}: {ex.Message}\nheader: {Encoding.UTF8.GetString(mutant, 8, Math.Clamp(mutant.Length - 8, 0, 200))}");
            }
        }
        TestContext.Out.WriteLine($"{iterations} mutations in {clock.ElapsedMilliseconds} ms: {opened} opened, {rejected} rejected; {string.Join(", ", counts.Select(p => $"{p.Key} {p.Value}"))}");
        counts.Keys.Should().HaveCount(7, "every kind of mutation was tried");
        rejected.Should().BeGreaterThan(0);
        opened.Should().BeGreaterThan(0, "some mutations (in padding or data) leave a valid file");
    }

    private static (byte[] Bytes, string What) Mutate(byte[] seed, int headerEnd, Random random)
    {
        byte[] bytes = (byte[])seed.Clone();
        switch (random.Next(7))
        {
            case 0:
            {
                int at = 8 + random.Next(headerEnd - 8);
                bytes[at] ^= (byte)(1 << random.Next(8));
                return (bytes, $"flip bit at {at}");
            }
            case 1:
            {
                int at = 8 + random.Next(headerEnd - 8);
                bytes[at] = s_jsonBytes[random.Next(s_jsonBytes.Length)];
                return (bytes, $"replace byte at {at} with 0x{bytes[at]:X2}");
            }
            case 2:
            {
                int length = random.Next(bytes.Length);
                return (bytes[..length], $"truncate to {length}");
            }
            case 3:
            {
                ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
                ulong[] choices = [n + (ulong)random.Next(1, 16), n - (ulong)random.Next(1, 16), (ulong)random.NextInt64(), ulong.MaxValue,
                    0, 100_000_000, 100_000_001, (ulong)bytes.Length, (ulong)bytes.Length - 8, 1UL << 63, (ulong)random.Next(256) << (8 * random.Next(8))];
                ulong value = choices[random.Next(choices.Length)];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
                return (bytes, $"length prefix {value}");
            }
            case 4:
            {
                int at = random.Next(8);
                bytes[at] = (byte)random.Next(256);
                return (bytes, $"prefix byte {at} = {bytes[at]}");
            }
            case 5:
            {
                int at = 8 + random.Next(headerEnd - 8);
                var list = bytes.ToList();
                if (random.Next(2) == 0)
                    list.RemoveAt(at);
                else
                    list.Insert(at, s_jsonBytes[random.Next(s_jsonBytes.Length)]);
                return (list.ToArray(), $"insert-or-delete at {at}");
            }
            default:
            {
                // Several header digits changed at once, to reach offsets that pass JSON parsing but not layout checks.
                var positions = Enumerable.Range(8, headerEnd - 8).Where(p => bytes[p] is >= (byte)'0' and <= (byte)'9').ToArray();
                for (int k = 0; k < 3 && positions.Length > 0; k++)
                    bytes[positions[random.Next(positions.Length)]] = (byte)('0' + random.Next(10));
                return (bytes, "digits changed");
            }
        }
    }
}

/// <summary>Hugging Face config.json files of each family, written as transformers writes them.</summary>
public class SafeTensorsModelConfigTests : SafeTensorsFixture
{
    // meta-llama/Llama-3.1-8B-Instruct, transformers 4.43.
    private const string Llama31 = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009],
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.43.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    // Qwen/Qwen3-8B, transformers 4.51.
    private const string Qwen3 = """
        {
          "architectures": ["Qwen3ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151645,
          "head_dim": 128,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 12288,
          "max_position_embeddings": 40960,
          "max_window_layers": 36,
          "model_type": "qwen3",
          "num_attention_heads": 32,
          "num_hidden_layers": 36,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 1000000,
          "sliding_window": null,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.51.0",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    // allenai/OLMo-2-1124-7B, transformers 4.47 (no head_dim: hidden / heads).
    private const string Olmo2 = """
        {
          "architectures": ["Olmo2ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "eos_token_id": 100257,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 11008,
          "max_position_embeddings": 4096,
          "model_type": "olmo2",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 32,
          "pad_token_id": 100277,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 500000,
          "tie_word_embeddings": false,
          "torch_dtype": "float32",
          "transformers_version": "4.47.0.dev0",
          "use_cache": true,
          "vocab_size": 100352
        }
        """;

    // google/gemma-2-2b, transformers 4.42 (no tie_word_embeddings: Gemma ties by default).
    private const string Gemma2 = """
        {
          "architectures": ["Gemma2ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "attn_logit_softcapping": 50.0,
          "bos_token_id": 2,
          "cache_implementation": "hybrid",
          "eos_token_id": [1, 107],
          "final_logit_softcapping": 30.0,
          "head_dim": 256,
          "hidden_act": "gelu_pytorch_tanh",
          "hidden_activation": "gelu_pytorch_tanh",
          "hidden_size": 2304,
          "initializer_range": 0.02,
          "intermediate_size": 9216,
          "max_position_embeddings": 8192,
          "model_type": "gemma2",
          "num_attention_heads": 8,
          "num_hidden_layers": 26,
          "num_key_value_heads": 4,
          "pad_token_id": 0,
          "query_pre_attn_scalar": 256,
          "rms_norm_eps": 1e-06,
          "rope_theta": 10000.0,
          "sliding_window": 4096,
          "torch_dtype": "float32",
          "transformers_version": "4.42.4",
          "use_cache": true,
          "vocab_size": 256000
        }
        """;

    [Test]
    public void Parse_Llama31_ReadsLlama3RopeScaling()
    {
        var c = ModelConfig.Parse(Llama31);
        (c.ModelType, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.IntermediateSize)
            .Should().Be(("llama", 4096, 32, 32, 8, 128, 14336));
        (c.HiddenAct, c.Activation, c.RmsNormEps, c.RopeTheta, c.TieWordEmbeddings).Should().Be(("silu", Activation.Silu, 1e-5, 500000.0, false));
        (c.TorchDtype, c.DType, c.MaxPositionEmbeddings, c.VocabSize, c.Quantization).Should().Be(("bfloat16", DType.BFloat16, 131072, 128256, (QuantizationConfig?)null));
        c.Architectures.Should().Equal("LlamaForCausalLM");
        c.RopeScaling.Should().Be(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192));
    }

    [Test]
    public void Parse_Qwen3_ReadsExplicitHeadDimAndNoScaling()
    {
        var c = ModelConfig.Parse(Qwen3);
        (c.ModelType, c.HeadDim, c.NumKeyValueHeads, c.RopeTheta, c.RmsNormEps, c.RopeScaling).Should().Be(("qwen3", 128, 8, 1_000_000.0, 1e-6, (RopeScaling?)null));
        (c.IntermediateSize, c.MaxPositionEmbeddings, c.TieWordEmbeddings).Should().Be((12288, 40960, false));
    }

    /// <summary>Qwen3's documented YaRN switch (rope_scaling yarn, factor 4, original 32768), in transformers 4's
    /// spelling and in 5's rope_parameters with DeepSeek's fields; without original_max_position_embeddings it is the
    /// config's max_position_embeddings, and a top-level one wins (transformers' standardize_rope_params).</summary>
    [Test]
    public void Parse_Qwen3WithYarn_ReadsEveryYarnField()
    {
        ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
            """)).RopeScaling.Should().Be(new RopeScaling("yarn", 4.0, null, null, 32768));

        var deepseek = ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40, "original_max_position_embeddings": 4096,
              "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0, "attention_factor": 1.1, "truncate": false}
            """));
        deepseek.RopeTheta.Should().Be(10000.0);
        deepseek.RopeScaling.Should().Be(new RopeScaling("yarn", 40.0, null, null, 4096)
            { BetaFast = 32, BetaSlow = 1, Mscale = 1.0, MscaleAllDim = 1.0, AttentionFactor = 1.1, Truncate = false });

        ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "rope_scaling": {"type": "yarn", "factor": 2.0}
            """)).RopeScaling.Should().Be(new RopeScaling("yarn", 2.0, null, null, 40960));
        ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "original_max_position_embeddings": 10240, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192}
            """)).RopeScaling.Should().Be(new RopeScaling("yarn", 4.0, null, null, 10240), "a top-level original wins");
    }

    /// <summary>Phi-3's longrope (factor lists, the original context at the top level of config.json) and a dynamic
    /// scaling: both carry max_position_embeddings, which their frequencies depend on.</summary>
    [Test]
    public void Parse_LongRopeAndDynamic_ReadTheirFields()
    {
        var phi3 = ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "original_max_position_embeddings": 4096,
            "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.5], "long_factor": [2.0, 4.0]}
            """));
        phi3.RopeScaling.Should().Be(new RopeScaling("longrope", null, null, null, 4096)
            { ShortFactor = [1.0, 1.5], LongFactor = [2.0, 4.0], MaxPositionEmbeddings = 40960 });
        ModelConfig.Parse(Qwen3.Replace("\"rope_scaling\": null", """
            "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}
            """)).RopeScaling.Should().Be(new RopeScaling("dynamic", 2.0, null, null, null) { MaxPositionEmbeddings = 40960 });
        // Phi3Config's own spellings: type "su" is longrope, and the original context defaults to 4096.
        ModelConfig.Parse(Qwen3.Replace("\"model_type\": \"qwen3\"", "\"model_type\": \"phi3\"").Replace("\"rope_scaling\": null", """
            "rope_scaling": {"type": "su", "short_factor": [1.0], "long_factor": [2.0]}
            """)).RopeScaling.Should().Be(new RopeScaling("longrope", null, null, null, 4096)
            { ShortFactor = [1.0], LongFactor = [2.0], MaxPositionEmbeddings = 40960 });
    }

    [Test]
    public void Parse_Olmo2_DefaultsHeadDimToHiddenOverHeads()
    {
        var c = ModelConfig.Parse(Olmo2);
        (c.ModelType, c.HeadDim, c.NumKeyValueHeads, c.DType, c.RopeTheta).Should().Be(("olmo2", 128, 32, DType.Float32, 500000.0));
    }

    [Test]
    public void Parse_Gemma2_ReadsHiddenActivationAndTiesByDefault()
    {
        var c = ModelConfig.Parse(Gemma2);
        (c.ModelType, c.HeadDim, c.HiddenAct, c.Activation, c.TieWordEmbeddings).Should().Be(("gemma2", 256, "gelu_pytorch_tanh", Activation.GeluTanh, true));
        c.Raw.GetProperty("query_pre_attn_scalar").GetInt32().Should().Be(256);
        // Gemma 1 in transformers 5 reads hidden_act (google/gemma-7b says "gelu" there); Gemma 2 and 3 hidden_activation.
        var both = """
            {"model_type": "MODEL", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "intermediate_size": 96,
              "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh"}
            """;
        ModelConfig.Parse(both.Replace("MODEL", "gemma")).Activation.Should().Be(Activation.Gelu);
        ModelConfig.Parse(both.Replace("MODEL", "gemma2")).Activation.Should().Be(Activation.GeluTanh);
    }

    [Test]
    public void Parse_Transformers5RopeParametersAndDtype_ReadsBoth()
    {
        string json = """
            {
              "architectures": ["LlamaForCausalLM"],
              "dtype": "bfloat16",
              "hidden_act": "silu",
              "hidden_size": 2048,
              "intermediate_size": 8192,
              "max_position_embeddings": 131072,
              "model_type": "llama",
              "num_attention_heads": 32,
              "num_hidden_layers": 16,
              "num_key_value_heads": 8,
              "head_dim": 64,
              "rms_norm_eps": 1e-05,
              "rope_parameters": {
                "factor": 32.0,
                "high_freq_factor": 4.0,
                "low_freq_factor": 1.0,
                "original_max_position_embeddings": 8192,
                "rope_theta": 500000.0,
                "rope_type": "llama3"
              },
              "tie_word_embeddings": true,
              "transformers_version": "5.0.0.dev0",
              "vocab_size": 128256
            }
            """;
        var c = ModelConfig.Parse(json);
        (c.TorchDtype, c.RopeTheta, c.TieWordEmbeddings, c.HeadDim).Should().Be(("bfloat16", 500000.0, true, 64));
        c.RopeScaling.Should().Be(new RopeScaling("llama3", 32.0, 1.0, 4.0, 8192));

        var plain = ModelConfig.Parse(json.Replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"default\"").Replace("\"factor\": 32.0,", ""));
        plain.RopeScaling.Should().BeNull("rope_type \"default\" without a factor is plain RoPE");
        var bare = ModelConfig.Parse("""{"model_type":"qwen3","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":2,"intermediate_size":128,"rope_parameters":{"rope_type":"default","rope_theta":1000000.0}}""");
        (bare.RopeScaling, bare.RopeTheta).Should().Be(((RopeScaling?)null, 1_000_000.0));
    }

    [Test]
    public void Parse_Qwen3Fp8_ReadsBlockScales()
    {
        // Qwen/Qwen3-8B-FP8: DeepSeek-style 128 × 128 weight blocks, dynamic activation scales.
        string json = Qwen3.Replace("\"rms_norm_eps\"", """
            "quantization_config": {
                "activation_scheme": "dynamic",
                "fmt": "e4m3",
                "quant_method": "fp8",
                "weight_block_size": [128, 128]
              },
              "rms_norm_eps"
            """);
        var q = ModelConfig.Parse(json).Quantization!;
        (q.QuantMethod, q.ActivationScheme, q.Granularity, q.Format).Should().Be(("fp8", "dynamic", QuantGranularity.Block, "e4m3"));
        q.WeightBlockSize.Should().Equal(128, 128);
    }

    [Test]
    public void Parse_CompressedTensorsFp8_ReadsPerChannelStaticScales()
    {
        // RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8 style (llm-compressor).
        string json = Llama31.Replace("\"rms_norm_eps\"", """
            "quantization_config": {
                "config_groups": {
                  "group_0": {
                    "input_activations": {"dynamic": false, "num_bits": 8, "observer": "minmax", "strategy": "tensor", "symmetric": true, "type": "float"},
                    "output_activations": null,
                    "targets": ["Linear"],
                    "weights": {"dynamic": false, "num_bits": 8, "observer": "minmax", "strategy": "channel", "symmetric": true, "type": "float"}
                  }
                },
                "format": "float-quantized",
                "ignore": ["lm_head"],
                "quant_method": "compressed-tensors",
                "quantization_status": "compressed"
              },
              "rms_norm_eps"
            """);
        var q = ModelConfig.Parse(json).Quantization!;
        (q.QuantMethod, q.ActivationScheme, q.Granularity, q.WeightBlockSize).Should().Be(("compressed-tensors", "static", QuantGranularity.PerChannel, (IReadOnlyList<int>?)null));
        q.ModulesNotConverted.Should().Equal("lm_head");
    }

    [TestCase("""{"quant_method": "fp8", "activation_scheme": "static"}""", QuantGranularity.PerTensor)]
    [TestCase("""{"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0, "modules_to_not_convert": ["lm_head"]}""", QuantGranularity.PerChannel)]
    public void Parse_Fp8WithoutBlocks_ReadsPerTensorOrPerChannel(string quantization, QuantGranularity expected)
    {
        var q = ModelConfig.Parse(Llama31.Replace("\"rms_norm_eps\"", $"\"quantization_config\": {quantization},\n  \"rms_norm_eps\"")).Quantization!;
        (q.Granularity, q.WeightBlockSize).Should().Be((expected, (IReadOnlyList<int>?)null));
    }

    [TestCase("\"hidden_size\": 4096,", "", "hidden_size", "*missing*")]
    [TestCase("\"hidden_size\": 4096,", "\"hidden_size\": \"4096\",", "hidden_size", "*Number*\"4096\"*")]
    [TestCase("\"num_key_value_heads\": 8,", "\"num_key_value_heads\": 5,", "num_key_value_heads", "*divisor*32*5*")]
    [TestCase("\"hidden_size\": 4096,", "\"hidden_size\": 4100,", "head_dim", "*4100*not divisible*32*")]
    [TestCase("\"hidden_size\": 4096,", "\"hidden_size\": 4096.5,", "hidden_size", "*integer*")]
    [TestCase("\"tie_word_embeddings\": false,", "\"tie_word_embeddings\": \"no\",", "tie_word_embeddings", "*true or false*")]
    [TestCase("\"rope_type\": \"llama3\"", "\"rope_type\": 3", "rope_scaling.rope_type", "*String*3*")]
    public void Parse_BadField_ThrowsCheckpointFormatNamingIt(string find, string replace, string field, string message)
    {
        FluentActions.Invoking(() => ModelConfig.Parse(Llama31.Replace(find, replace), "llama/config.json"))
            .Should().Throw<CheckpointFormatException>().Where(e => e.Entry == field && e.FilePath == "llama/config.json").WithMessage(message);
    }

    [Test]
    public void Parse_NotJson_ThrowsCheckpointFormat() =>
        FluentActions.Invoking(() => ModelConfig.Parse("{\"hidden_size\": ")).Should().Throw<CheckpointFormatException>().WithMessage("config.json: not valid JSON*");

    [Test]
    public void Load_FolderWithConfigJson_ReadsIt()
    {
        File.WriteAllText(Path.Combine(Folder, "config.json"), Qwen3);
        ModelConfig.Load(Folder).ModelType.Should().Be("qwen3");
        ModelConfig.Load(Path.Combine(Folder, "config.json")).HeadDim.Should().Be(128);
    }
}
