using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using TritonOps.Kernels.Tensors;

namespace TritonOps;

// Data in and out of a tensor: typed host copies, dense copies of strided views (gathered on the
// device by StridedCopyKernel), and narrowed views.
public sealed partial class Tensor
{

    /// <summary>A new tensor holding <paramref name="values"/> as <see cref="DType.Float16"/>, bit for bit.</summary>
    public static Tensor FromArray(ReadOnlySpan<System.Half> values, ReadOnlySpan<int> shape, Device? device = null) =>
        FromElements(values, shape, DType.Float16, device);

    /// <summary>A new tensor holding <paramref name="values"/> as <see cref="DType.Int32"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<int> values, ReadOnlySpan<int> shape, Device? device = null) =>
        FromElements(values, shape, DType.Int32, device);

    /// <summary>A new tensor holding <paramref name="values"/> as <see cref="DType.Int64"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<long> values, ReadOnlySpan<int> shape, Device? device = null) =>
        FromElements(values, shape, DType.Int64, device);

    /// <summary>A new tensor holding <paramref name="values"/> as <see cref="DType.UInt8"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<byte> values, ReadOnlySpan<int> shape, Device? device = null) =>
        FromElements(values, shape, DType.UInt8, device);

    /// <summary>A new tensor holding the 16-bit patterns <paramref name="bits"/> as <paramref name="dtype"/>,
    /// <see cref="DType.BFloat16"/> (bfloat16 as .NET has no such type) or <see cref="DType.Float16"/>. A name of its own,
    /// not a <c>FromArray</c> overload: with one, <c>FromArray([1, 2, 3], shape, DType.Float32)</c> bound to it.</summary>
    /// <exception cref="UnsupportedDtypeException"><paramref name="dtype"/> is not a 16-bit float.</exception>
    public static Tensor FromBits(ReadOnlySpan<ushort> bits, ReadOnlySpan<int> shape, DType dtype, Device? device = null)
    {
        if (dtype is not (DType.BFloat16 or DType.Float16))
            throw new UnsupportedDtypeException($"Argument 'dtype': expected bfloat16 or float16 for 16-bit patterns, got {DTypes.Name(dtype)}.");
        return FromElements(bits, shape, dtype, device, nameof(bits));
    }

    /// <summary>
    /// A dense row-major tensor with these elements. When this tensor is already contiguous the result is a
    /// new view of the same memory (writes through either are seen by both); otherwise it is a copy, gathered
    /// on the device. Unlike PyTorch's <c>contiguous()</c>, which may return <c>self</c>, the result is always
    /// a new <see cref="Tensor"/>, so the caller disposes it in either case.
    /// </summary>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    /// <exception cref="DeviceException">Its device has been disposed.</exception>
    /// <exception cref="ShapeMismatchException">The view has more than eight dimensions that cannot be merged.</exception>
    public Tensor Contiguous()
    {
        ThrowIfDisposed("this");
        if (IsContiguous)
            return new Tensor(_storage, DType, (int[])_shape.Clone(), RowMajorStrides(_shape), Offset);
        return Clone();
    }

    /// <summary>
    /// These elements as <paramref name="dtype"/> (PyTorch's <c>x.to(dtype)</c>) between float32, float16 and bfloat16,
    /// converted on the device: widening is exact; narrowing rounds to nearest, ties to even, and values past the range
    /// become ±Inf, bit for bit as PyTorch's and this library's host conversions; a NaN stays a NaN (on CUDA the
    /// canonical one: its sign and payload are not kept). A dense row-major result
    /// in its own memory, whatever this tensor's strides; for this tensor's own dtype, <see cref="Contiguous"/>'s result.
    /// The caller disposes it in either case. FP8 codes convert with scales: <c>Ops.QuantizeFp8</c>, <c>Ops.DequantizeFp8</c>.
    /// </summary>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    /// <exception cref="DeviceException">Its device has been disposed.</exception>
    /// <exception cref="UnsupportedDtypeException">This tensor or <paramref name="dtype"/> is not float32, float16 or bfloat16.</exception>
    public Tensor To(DType dtype) => To(dtype, 1 << 16);

    /// <summary><see cref="To(DType)"/> with at most <paramref name="maxBlocks"/> blocks (tests: the threads' loop).</summary>
    internal Tensor To(DType dtype, int maxBlocks)
    {
        ThrowIfDisposed("this");
        Check.DType(this, "this", DType.Float32, DType.Float16, DType.BFloat16);
        Check.FloatDType(dtype, nameof(dtype));
        if (dtype == DType)
            return Contiguous();
        using var source = Contiguous();
        var result = Empty(_shape, dtype, Device);
        long count = ElementCount;
        if (count == 0)
            return result;
        try
        {
            var device = Device;
            using var gate = device.Enter();
            // One element a thread; past maxBlocks blocks (65 536: 16.7 M elements) the threads loop.
            int blocks = (int)Math.Min((count + CastKernel.Threads - 1) / CastKernel.Threads, maxBlocks);
            device.Launch(CastKernel.Variant(DTypes.ElementTypeOf(DType), DTypes.ElementTypeOf(dtype)), new KernelConfig(blocks, CastKernel.Threads),
                source.Bytes, result.Bytes, count);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>A new dense row-major copy in its own memory, whatever this tensor's strides (a copy on the device).</summary>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    /// <exception cref="DeviceException">Its device has been disposed.</exception>
    /// <exception cref="ShapeMismatchException">The view has more than eight dimensions that cannot be merged.</exception>
    public Tensor Clone()
    {
        ThrowIfDisposed("this");
        var plan = PlanCopy(_shape, _strides, Offset, RowMajorStrides(_shape), 0);
        var copy = Empty(_shape, DType, Device);
        LaunchCopy(this, copy, plan);
        return copy;
    }

    /// <summary>
    /// A view of <paramref name="length"/> indices of dimension <paramref name="dim"/> from
    /// <paramref name="start"/> on (<c>torch.narrow</c>); shares memory, so the caller disposes it. Narrowing
    /// any dimension but the outermost non-trivial one gives a strided (non-contiguous) view.
    /// </summary>
    /// <exception cref="ShapeMismatchException"><paramref name="dim"/> is not in [0, Rank), or the range
    /// [start, start + length) does not lie within that dimension.</exception>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    public Tensor Narrow(int dim, int start, int length)
    {
        ThrowIfDisposed("this");
        if ((uint)dim >= (uint)Rank)
            throw new ShapeMismatchException($"Argument 'dim': expected a dimension in [0, {Rank}) of shape {ShapeText}, got {dim}.");
        int size = _shape[dim];
        if (start < 0 || start > size)
            throw new ShapeMismatchException(
                $"Argument 'start': expected 0 <= start <= {size} (the size of dimension {dim} of {ShapeText}), got {start}.");
        if (length < 0 || length > size - start)
            throw new ShapeMismatchException(
                $"Argument 'length': expected 0 <= length <= {size - start} (dimension {dim} of {ShapeText} from {start}), got {length}.");
        int[] shape = (int[])_shape.Clone();
        shape[dim] = length;
        return new Tensor(_storage, DType, shape, (long[])_strides.Clone(), Offset + start * _strides[dim]);
    }

    /// <summary>
    /// Copies the elements, in row-major order, into <paramref name="destination"/> (a strided view is
    /// gathered on the device first). <typeparamref name="T"/> must match the dtype: float for float32,
    /// <see cref="System.Half"/> for float16, ushort (raw bits) for bfloat16 or float16, byte for the FP8 formats
    /// and uint8, int for int32, long for int64.
    /// </summary>
    /// <exception cref="UnsupportedDtypeException"><typeparamref name="T"/> does not fit the dtype.</exception>
    /// <exception cref="ShapeMismatchException">The span's length is not <see cref="ElementCount"/>.</exception>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    /// <exception cref="DeviceException">Its device has been disposed.</exception>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        ThrowIfDisposed("this");
        CheckHostElements<T>(nameof(destination), destination.Length);
        ReadInto(MemoryMarshal.AsBytes(destination));
    }

    /// <summary>
    /// Overwrites the elements with <paramref name="source"/>, taken in row-major order; same element types as
    /// <see cref="CopyTo{T}(Span{T})"/>. A strided view is supported: the values are staged in a dense
    /// buffer and scattered on the device, so only the view's elements of the shared memory change.
    /// </summary>
    /// <exception cref="UnsupportedDtypeException"><typeparamref name="T"/> does not fit the dtype.</exception>
    /// <exception cref="ShapeMismatchException">The span's length is not <see cref="ElementCount"/>, or a strided
    /// view has more than eight dimensions that cannot be merged.</exception>
    /// <exception cref="TensorDisposedException">This tensor has been disposed.</exception>
    /// <exception cref="DeviceException">Its device has been disposed.</exception>
    public void CopyFrom<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        ThrowIfDisposed("this");
        CheckHostElements<T>(nameof(source), source.Length);
        Check.Live(Device, "this");
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(source);
        if (bytes.Length == 0)
            return;
        if (IsContiguous)
        {
            using var gate = Device.Enter();
            HostCopy.ToDevice(Bytes, bytes);
            return;
        }
        var plan = PlanCopy(_shape, RowMajorStrides(_shape), 0, _strides, Offset);
        using var staged = FromBytes(bytes, _shape, DType, Device);
        LaunchCopy(staged, this, plan);
    }

    /// <summary>
    /// Overwrites the elements with <paramref name="source"/>'s (<c>copy_</c>): same device, dtype and shape, either side
    /// strided; one copy on the device. Stacking weights is the use: <c>fused.Narrow(0, rows, n).CopyFrom(weight)</c>.
    /// The two must not overlap in memory (a view copied onto itself is left as it is).
    /// </summary>
    /// <exception cref="DeviceException"><paramref name="source"/> lives on another device, or the device has been disposed.</exception>
    /// <exception cref="UnsupportedDtypeException">The dtypes differ.</exception>
    /// <exception cref="ShapeMismatchException">The shapes differ, or a view's strides merge into more than eight dimensions.</exception>
    /// <exception cref="InvalidArgumentException">The two share memory without being the same view.</exception>
    /// <exception cref="TensorDisposedException">Either tensor has been disposed.</exception>
    public void CopyFrom(Tensor source)
    {
        ThrowIfDisposed("this");
        Check.Usable(source, nameof(source));
        Check.SameDevice(source, nameof(source), this, "this");
        Check.SameDType(source, nameof(source), this, "this");
        Check.Shape(source._shape.AsSpan().SequenceEqual(_shape), nameof(source), ShapeText, source);
        Check.NoOverlap(source, nameof(source), this, "this", inPlaceAllowed: true);
        Check.Live(Device, "this");
        if (ReferenceEquals(source._storage, _storage) && source.Offset == Offset)
            return; // past the overlap check, the same start is exactly this view (or nothing): nothing to copy
        LaunchCopy(source, this, PlanCopy(_shape, source._strides, source.Offset, _strides, Offset));
    }

    /// <summary>The elements' bytes in row-major order into <paramref name="bytes"/> (exactly <see cref="ByteCount"/> long).</summary>
    private void ReadInto(Span<byte> bytes)
    {
        if (bytes.Length == 0)
            return;
        using var gate = Device.Enter();
        using var dense = Contiguous();
        Device.Accelerator.Synchronize();
        HostCopy.ToHost(dense.Bytes, bytes);
    }

    private static Tensor FromElements<T>(ReadOnlySpan<T> values, ReadOnlySpan<int> shape, DType dtype, Device? device, string name = "values")
        where T : unmanaged
    {
        int[] dims = ValidShape(shape);
        if (values.Length != CountOf(dims))
            throw new ShapeMismatchException(
                $"Argument '{name}': expected {CountOf(dims)} values for shape [{string.Join(", ", dims)}], got {values.Length}.");
        return FromBytes(MemoryMarshal.AsBytes(values), dims, dtype, device);
    }

    /// <summary>A host span of <typeparamref name="T"/> and <paramref name="length"/> must fit this tensor.</summary>
    private void CheckHostElements<T>(string name, int length) where T : unmanaged
    {
        Type t = typeof(T);
        bool fits = DType switch
        {
            DType.Float32 => t == typeof(float),
            DType.Float16 => t == typeof(System.Half) || t == typeof(ushort),
            DType.BFloat16 => t == typeof(ushort),
            DType.Float8E4M3 or DType.Float8E5M2 or DType.UInt8 => t == typeof(byte),
            DType.Int32 => t == typeof(int),
            DType.Int64 => t == typeof(long),
            _ => false,
        };
        if (!fits)
        {
            string expected = DType switch
            {
                DType.Float32 => "float",
                DType.Float16 => "Half or ushort (raw bits)",
                DType.BFloat16 => "ushort (raw bits)",
                DType.Int32 => "int",
                DType.Int64 => "long",
                _ => "byte",
            };
            throw new UnsupportedDtypeException(
                $"Argument '{name}': expected elements of {expected} for a {DTypes.Name(DType)} tensor, got {HostTypeName(t)}.");
        }
        if (length != ElementCount)
            throw new ShapeMismatchException(
                $"Argument '{name}': expected {ElementCount} elements for shape {ShapeText}, got {length}.");
    }

    private static string HostTypeName(Type t) =>
        t == typeof(float) ? "float" : t == typeof(double) ? "double" : t == typeof(ushort) ? "ushort" : t == typeof(short) ? "short"
        : t == typeof(byte) ? "byte" : t == typeof(sbyte) ? "sbyte" : t == typeof(int) ? "int" : t == typeof(uint) ? "uint"
        : t == typeof(long) ? "long" : t == typeof(ulong) ? "ulong" : t.Name;

    /// <summary>Disposed views must not reach their (possibly recycled) buffer.</summary>
    private void ThrowIfDisposed(string name)
    {
        if (IsDisposed)
            throw new TensorDisposedException($"Argument '{name}': the tensor ({DTypes.Name(DType)}, {ShapeText}) has been disposed.");
    }

    /// <summary>
    /// The kernel's description of copying <paramref name="shape"/> between two strided layouts: dimensions
    /// of size 1 dropped, neighbours that are dense relative to each other on both sides merged (a contiguous
    /// tensor becomes one dimension), then padded with leading size-1 dimensions to eight.
    /// </summary>
    private static StridedCopyShape PlanCopy(int[] shape, long[] sourceStrides, long sourceOffset, long[] destinationStrides, long destinationOffset)
    {
        var sizes = new List<long>();
        var from = new List<long>();
        var to = new List<long>();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1)
                continue;
            int last = sizes.Count - 1;
            if (last >= 0 && from[last] == sourceStrides[d] * shape[d] && to[last] == destinationStrides[d] * shape[d])
            {
                sizes[last] *= shape[d];
                from[last] = sourceStrides[d];
                to[last] = destinationStrides[d];
                continue;
            }
            sizes.Add(shape[d]);
            from.Add(sourceStrides[d]);
            to.Add(destinationStrides[d]);
        }
        if (sizes.Count > StridedCopyShape.MaxRank)
            throw new ShapeMismatchException(
                $"Argument 'this': expected a view whose strides merge into at most {StridedCopyShape.MaxRank} dimensions, " +
                $"got shape [{string.Join(", ", shape)}] with strides [{string.Join(", ", sourceStrides)}] ({sizes.Count} after merging).");
        while (sizes.Count < StridedCopyShape.MaxRank)
        {
            sizes.Insert(0, 1);
            from.Insert(0, 0);
            to.Insert(0, 0);
        }
        return new StridedCopyShape
        {
            Count = CountOf(shape),
            SourceOffset = sourceOffset,
            DestinationOffset = destinationOffset,
            Size0 = sizes[0], Size1 = sizes[1], Size2 = sizes[2], Size3 = sizes[3],
            Size4 = sizes[4], Size5 = sizes[5], Size6 = sizes[6], Size7 = sizes[7],
            Source0 = from[0], Source1 = from[1], Source2 = from[2], Source3 = from[3],
            Source4 = from[4], Source5 = from[5], Source6 = from[6], Source7 = from[7],
            Destination0 = to[0], Destination1 = to[1], Destination2 = to[2], Destination3 = to[3],
            Destination4 = to[4], Destination5 = to[5], Destination6 = to[6], Destination7 = to[7],
        };
    }

    /// <summary>One launch of <see cref="StridedCopyKernel"/> between two tensors of the same shape and dtype
    /// on one device; the offsets and strides in <paramref name="plan"/> address their whole buffers.</summary>
    private static void LaunchCopy(Tensor source, Tensor destination, in StridedCopyShape plan)
    {
        if (plan.Count == 0)
            return;
        var device = destination.Device;
        using var gate = device.Enter();
        // One element a thread; past 65 536 blocks (16.7 M elements) the threads loop.
        int blocks = (int)Math.Min((plan.Count + StridedCopyKernel.Threads - 1) / StridedCopyKernel.Threads, 1 << 16);
        ArrayView<byte> from = source._storage.Buffer.View, to = destination._storage.Buffer.View;
        device.Launch(StridedCopyKernel.Variant(DTypes.SizeOf(source.DType)), new KernelConfig(blocks, StridedCopyKernel.Threads), from, to, plan);
    }
}
