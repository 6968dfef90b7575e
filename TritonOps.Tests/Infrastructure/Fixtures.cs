using System.Globalization;
using System.Runtime.InteropServices;
using TritonOps.SafeTensors;

namespace TritonOps.Tests.Infrastructure;

/// <summary>
/// A reference file that <c>scripts/fixtures/make_fixtures.py</c> wrote from Hugging Face transformers'
/// own modules (inputs, weights, cos/sin, outputs; config values in <c>__metadata__</c>), opened from the
/// test output folder (<c>Fixtures/NAME.safetensors</c>, copied there by the test project). The files
/// are made on a GPU machine with PyTorch; until they are committed, a test that opens one is marked
/// Ignored, never passed.
/// </summary>
public sealed class Fixture : IDisposable
{
    private readonly SafeTensorsFile _file;

    private Fixture(SafeTensorsFile file) => _file = file;

    /// <summary>The folder the fixtures are read from.</summary>
    public static string Folder => Path.Combine(TestContext.CurrentContext.TestDirectory, "Fixtures");

    /// <summary>Opens <c>Fixtures/<paramref name="name"/>.safetensors</c> (the extension may be given);
    /// a missing file marks the calling test Ignored with the command that makes it (<paramref name="maker"/>: the script).</summary>
    public static Fixture Open(string name, string maker = "make_fixtures.py")
    {
        string fileName = name.EndsWith(".safetensors", StringComparison.Ordinal) ? name : name + ".safetensors";
        string path = Path.Combine(Folder, fileName);
        if (!System.IO.File.Exists(path))
            Assert.Ignore($"Fixture {fileName} is missing from {Folder}: it is made on a machine with PyTorch and transformers by "
                + $"`python3 scripts/fixtures/{maker} --out TritonOps.Tests/Fixtures` (see scripts/fixtures/README.md).");
        return new Fixture(SafeTensorsFile.Open(path));
    }

    /// <summary>The underlying file (names, infos).</summary>
    public SafeTensorsFile File => _file;

    /// <summary>The file's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata => _file.Metadata;

    /// <summary>Whether the file holds tensor <paramref name="name"/>.</summary>
    public bool Contains(string name) => _file.Contains(name);

    /// <summary>The shape of tensor <paramref name="name"/>.</summary>
    public int[] Shape(string name) => _file.GetInfo(name).Shape.Select(d => checked((int)d)).ToArray();

    /// <summary>Tensor <paramref name="name"/> on <paramref name="device"/>, in its stored dtype.</summary>
    public Tensor Tensor(string name, Device device) => _file.Load(name, device);

    /// <summary>Tensor <paramref name="name"/> widened exactly to float (F32, F16, BF16, I32, I64), read on the host.</summary>
    public float[] Floats(string name)
    {
        SafeTensorInfo info = _file.GetInfo(name);
        DType dtype = info.DType ?? throw new InvalidOperationException($"{_file.Path}: tensor '{name}' has dtype {info.DTypeName}, which does not widen to float.");
        float[] values = new float[info.ElementCount];
        DTypes.Decode(_file.ReadBytes(name), dtype, values);
        return values;
    }

    /// <summary>An I64 tensor (positions) as longs.</summary>
    public long[] Longs(string name)
    {
        SafeTensorInfo info = _file.GetInfo(name);
        if (info.DTypeName != "I64")
            throw new InvalidOperationException($"{_file.Path}: tensor '{name}' is {info.DTypeName}, expected I64.");
        return MemoryMarshal.Cast<byte, long>(_file.ReadBytes(name)).ToArray();
    }

    /// <summary>Metadata value <paramref name="key"/>; a missing key fails the test naming it.</summary>
    public string Meta(string key) =>
        _file.Metadata.TryGetValue(key, out string? value) ? value
            : throw new AssertionException($"{_file.Path}: no metadata '{key}' (has {string.Join(", ", _file.Metadata.Keys)}).");

    public int MetaInt(string key) => int.Parse(Meta(key), CultureInfo.InvariantCulture);

    public double MetaDouble(string key) => double.Parse(Meta(key), CultureInfo.InvariantCulture);

    public void Dispose() => _file.Dispose();
}
