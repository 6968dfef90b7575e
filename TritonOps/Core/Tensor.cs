using ILGPU;
using ILGPU.Runtime;

namespace TritonOps;

/// <summary>
/// A view of device memory: dtype, shape, strides (in elements) and an element offset over a
/// shared, reference-counted buffer. Views made by <see cref="Reshape"/>, <see cref="Transpose"/>,
/// <see cref="Narrow"/> and (of a contiguous tensor) <see cref="Contiguous"/> share the buffer; it is
/// freed when the last view is disposed. Data in and out: Tensor.Data.cs.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly Storage _storage;
    private readonly int[] _shape;
    private readonly long[] _strides;
    private int _disposed;

    private Tensor(Storage storage, DType dtype, int[] shape, long[] strides, long offset)
    {
        _storage = storage;
        DType = dtype;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        storage.AddRef();
    }

    /// <summary>Where the elements live.</summary>
    public Device Device => _storage.Device;

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Sizes of each dimension.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>Strides in elements.</summary>
    public IReadOnlyList<long> Strides => _strides;

    /// <summary>Offset of the first element in the buffer, in elements.</summary>
    public long Offset { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Product of the sizes.</summary>
    public long ElementCount => CountOf(_shape);

    /// <summary>Bytes the elements occupy.</summary>
    public long ByteCount => ElementCount * DTypes.SizeOf(DType);

    /// <summary>True when the elements are dense and row-major.</summary>
    public bool IsContiguous => _strides.AsSpan().SequenceEqual(RowMajorStrides(_shape));

    internal string ShapeText => $"[{string.Join(", ", _shape)}]";

    /// <summary>True once <see cref="Dispose"/> ran (or the view was finalized); ops refuse such a tensor with
    /// <see cref="TensorDisposedException"/> before they allocate anything.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The bytes of a contiguous tensor, for kernels.</summary>
    internal ArrayView<byte> Bytes
    {
        get
        {
            ThrowIfDisposed("this");
            int size = DTypes.SizeOf(DType);
            return _storage.Buffer.View.SubView(Offset * size, ElementCount * size);
        }
    }

    /// <summary>The bytes from the first element to the last of a strided view (<see cref="Bytes"/> for a contiguous one),
    /// for kernels that take the view's strides.</summary>
    internal ArrayView<byte> ExtentBytes
    {
        get
        {
            ThrowIfDisposed("this");
            int size = DTypes.SizeOf(DType);
            return _storage.Buffer.View.SubView(Offset * size, ExtentElements * size);
        }
    }

    /// <summary>Elements from one row to the next when the view is rows of its last dimension, that dimension dense and
    /// the rows one stride apart (a contiguous tensor, or a slice of the last dimension: q out of a fused q/k/v
    /// projection); null otherwise. A single row reports its own length.</summary>
    internal long? RowStride
    {
        get
        {
            if (Rank == 0)
                return null;
            int last = _shape[^1];
            if (ElementCount == 0)
                return last;
            if (last > 1 && _strides[^1] != 1)
                return null;
            long? stride = null;
            long inner = 1; // rows spanned by one step of dimension d
            for (int d = Rank - 2; d >= 0; d--)
            {
                if (_shape[d] > 1)
                {
                    stride ??= _strides[d] / inner;
                    if (_strides[d] != stride * inner)
                        return null;
                }
                inner *= _shape[d];
            }
            stride ??= last;
            return stride >= last ? stride : null;
        }
    }

    /// <summary>The device address of the first element (CUDA), for kernels whose inline PTX addresses
    /// global memory directly (<c>cp.async</c>); pairs with <see cref="Bytes"/>, which the CPU path reads.</summary>
    internal ulong DeviceAddress
    {
        get
        {
            ThrowIfDisposed("this");
            return (ulong)_storage.Buffer.NativePtr + (ulong)(Offset * DTypes.SizeOf(DType));
        }
    }

    /// <summary>A new tensor, uninitialized (or poisoned, see <see cref="Device.PoisonAllocations"/>).</summary>
    public static Tensor Empty(ReadOnlySpan<int> shape, DType dtype, Device? device = null)
    {
        int[] dims = ValidShape(shape);
        device ??= Device.Default;
        Check.Live(device, nameof(device));
        var storage = new Storage(device, device.Allocate(CountOf(dims) * DTypes.SizeOf(dtype)));
        return new Tensor(storage, dtype, dims, RowMajorStrides(dims), 0);
    }

    /// <summary>A new tensor holding <paramref name="values"/> rounded to <paramref name="dtype"/>
    /// (nearest even; FP8 saturates to its largest finite value).</summary>
    public static Tensor FromArray(ReadOnlySpan<float> values, ReadOnlySpan<int> shape, DType dtype = DType.Float32, Device? device = null)
    {
        int[] dims = ValidShape(shape);
        if (values.Length != CountOf(dims))
            throw new ShapeMismatchException(
                $"Argument 'values': expected {CountOf(dims)} values for shape [{string.Join(", ", dims)}], got {values.Length}.");
        byte[] bytes = new byte[values.Length * DTypes.SizeOf(dtype)];
        DTypes.Encode(values, dtype, bytes);
        return FromBytes(bytes, dims, dtype, device);
    }

    /// <summary>A new tensor from raw little-endian element bytes (e.g. FP8 codes or bf16 bits).</summary>
    public static Tensor FromBytes(ReadOnlySpan<byte> bytes, ReadOnlySpan<int> shape, DType dtype, Device? device = null)
    {
        int[] dims = ValidShape(shape);
        long expected = CountOf(dims) * DTypes.SizeOf(dtype);
        if (bytes.Length != expected)
            throw new ShapeMismatchException(
                $"Argument 'bytes': expected {expected} bytes for {DTypes.Name(dtype)} shape [{string.Join(", ", dims)}], got {bytes.Length}.");
        var tensor = Empty(dims, dtype, device);
        if (bytes.Length > 0)
        {
            using var gate = tensor.Device.Enter();
            HostCopy.ToDevice(tensor._storage.Buffer.View, bytes);
        }
        return tensor;
    }

    /// <summary>A new tensor with every element equal to <paramref name="value"/>.</summary>
    public static Tensor Full(ReadOnlySpan<int> shape, float value, DType dtype = DType.Float32, Device? device = null)
    {
        float[] values = new float[CountOf(ValidShape(shape))];
        Array.Fill(values, value);
        return FromArray(values, shape, dtype, device);
    }

    /// <summary>The raw bytes of the elements, in row-major order; a strided view is gathered on the
    /// device first (<see cref="Contiguous"/>).</summary>
    public byte[] ToBytes()
    {
        ThrowIfDisposed("this");
        byte[] bytes = new byte[ByteCount];
        ReadInto(bytes);
        return bytes;
    }

    /// <summary>The elements widened exactly to float, in row-major order (strided views too).</summary>
    public float[] ToFloatArray()
    {
        byte[] bytes = ToBytes();
        float[] values = new float[ElementCount];
        DTypes.Decode(bytes, DType, values);
        return values;
    }

    /// <summary>The same elements under another shape (a contiguous tensor only); shares memory.</summary>
    public Tensor Reshape(params int[] shape)
    {
        int[] dims = ValidShape(shape);
        ThrowIfDisposed("this");
        Check.Contiguous(this, "this");
        if (CountOf(dims) != ElementCount)
            throw new ShapeMismatchException(
                $"Argument 'shape': expected {ElementCount} elements like {ShapeText}, got [{string.Join(", ", dims)}] with {CountOf(dims)}.");
        return new Tensor(_storage, DType, dims, RowMajorStrides(dims), Offset);
    }

    /// <summary>This byte tensor's bytes as a dense <paramref name="dtype"/> tensor of <paramref name="shape"/> (library-internal:
    /// the device's kept constant buffers, which it holds as bytes).</summary>
    internal Tensor BytesAs(DType dtype, int[] shape)
    {
        int size = DTypes.SizeOf(dtype);
        if (DTypes.SizeOf(DType) != 1 || !IsContiguous || Offset % size != 0 || CountOf(shape) * size > ElementCount)
            throw new InvalidOperationException($"BytesAs: {ShapeText} {DTypes.Name(DType)} bytes cannot hold {DTypes.Name(dtype)} [{string.Join(", ", shape)}].");
        return new Tensor(_storage, dtype, shape, RowMajorStrides(shape), Offset / size);
    }

    /// <summary>Dimensions <paramref name="d"/> and d + 1 as one, where the second lies dense within the first (stride[d] =
    /// size[d + 1] · stride[d + 1]); null where it does not (library-internal: per-head views of q and k as rows).</summary>
    internal Tensor? MergeDims(int d)
    {
        if (d < 0 || d + 1 >= Rank || _shape[d] > 1 && _strides[d] != _shape[d + 1] * _strides[d + 1])
            return null;
        int[] shape = [.. _shape[..d], checked(_shape[d] * _shape[d + 1]), .. _shape[(d + 2)..]];
        long[] strides = [.. _strides[..d], _strides[d + 1], .. _strides[(d + 2)..]];
        return new Tensor(_storage, DType, shape, strides, Offset);
    }

    /// <summary>A dense view of <paramref name="shape"/> starting <paramref name="elementOffset"/> elements into
    /// this tensor's buffer (library-internal: scratch slots next to a result).</summary>
    internal Tensor DenseView(long elementOffset, int[] shape) =>
        new(_storage, DType, shape, RowMajorStrides(shape), Offset + elementOffset);

    /// <summary>Whether this view and <paramref name="other"/> may share an element of one buffer: their first-to-last
    /// byte ranges meet, unless both are rows one stride apart whose columns (modulo that stride) are disjoint, as slices
    /// of one wider row are (q, k and v of a fused projection). <paramref name="identical"/>: exactly the same elements
    /// (an op may then write in place): the same bytes of two dense tensors, or the same strided view.</summary>
    internal bool Overlaps(Tensor other, out bool identical)
    {
        int size = DTypes.SizeOf(DType), otherSize = DTypes.SizeOf(other.DType);
        long start = Offset * size, otherStart = other.Offset * otherSize;
        long end = start + ExtentElements * size, otherEnd = otherStart + other.ExtentElements * otherSize;
        bool shared = ReferenceEquals(_storage, other._storage);
        identical = shared && start == otherStart && end == otherEnd
            && (IsContiguous && other.IsContiguous || size == otherSize && _shape.AsSpan().SequenceEqual(other._shape) && _strides.AsSpan().SequenceEqual(other._strides));
        if (!shared || start >= otherEnd || otherStart >= end)
            return false;
        if (size == otherSize && RowStride is long stride && other.RowStride == stride)
        {
            long mine = Offset % stride, theirs = other.Offset % stride;
            if ((theirs - mine + stride) % stride >= _shape[^1] && (mine - theirs + stride) % stride >= other._shape[^1])
                return false;
        }
        return true;
    }

    /// <summary>Elements from the first to the last of the view, both included (0 when it has none).</summary>
    private long ExtentElements
    {
        get
        {
            long extent = 1;
            for (int d = 0; d < Rank; d++)
            {
                if (_shape[d] == 0)
                    return 0;
                extent += (_shape[d] - 1) * _strides[d];
            }
            return extent;
        }
    }

    /// <summary>A view with dimensions <paramref name="dim0"/> and <paramref name="dim1"/> swapped; shares memory.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        ThrowIfDisposed("this");
        if ((uint)dim0 >= (uint)Rank || (uint)dim1 >= (uint)Rank)
            throw new ShapeMismatchException($"Transpose: expected dimensions in [0, {Rank}), got {dim0} and {dim1}.");
        int[] shape = (int[])_shape.Clone();
        long[] strides = (long[])_strides.Clone();
        (shape[dim0], shape[dim1]) = (shape[dim1], shape[dim0]);
        (strides[dim0], strides[dim1]) = (strides[dim1], strides[dim0]);
        return new Tensor(_storage, DType, shape, strides, Offset);
    }

    /// <summary>dtype, shape and device, e.g. "Tensor(bfloat16, [2, 16, 256], Cuda:NVIDIA H200)".</summary>
    public override string ToString() => $"Tensor({DTypes.Name(DType)}, {ShapeText}, {Device})";

    /// <summary>Releases this view; the buffer returns to the device's cache when no view uses it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _storage.Release();
    }

    internal static long[] RowMajorStrides(int[] shape)
    {
        long[] strides = new long[shape.Length];
        long stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= shape[d];
        }
        return strides;
    }

    private static long CountOf(int[] shape)
    {
        long count = 1;
        foreach (int d in shape)
            count *= d;
        return count;
    }

    private static int[] ValidShape(ReadOnlySpan<int> shape)
    {
        foreach (int d in shape)
            if (d < 0)
                throw new ShapeMismatchException($"Argument 'shape': expected non-negative sizes, got [{string.Join(", ", shape.ToArray())}].");
        return shape.ToArray();
    }

    /// <summary>A device buffer shared by views, returned to the device's cache with the last one.</summary>
    private sealed class Storage(Device device, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        private int _references;

        public Device Device { get; } = device;

        public MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; } = buffer;

        public void AddRef() => Interlocked.Increment(ref _references);

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
                Device.Return(Buffer);
        }
    }
}
