namespace TritonOps;

/// <summary>The one place contract violations are detected and phrased: each message names the
/// argument, what was expected and what came. Ops call these before allocating or launching.</summary>
internal static class Check
{
    public static Tensor NotNull(Tensor? tensor, string name) =>
        tensor ?? throw new ArgumentNullException(name);

    public static void Live(Device device, string name)
    {
        if (device.IsDisposed)
            throw new DeviceException($"Argument '{name}': its device {device} has been disposed.");
    }

    /// <summary>Not null, not disposed, on a live device: every tensor argument passes here first.</summary>
    public static Tensor Usable(Tensor? tensor, string name)
    {
        NotNull(tensor, name);
        if (tensor!.IsDisposed)
            throw new TensorDisposedException($"Argument '{name}': expected a live tensor, got one that has been disposed ({DTypes.Name(tensor.DType)}, {tensor.ShapeText}).");
        Live(tensor.Device, name);
        return tensor;
    }

    public static void SameDevice(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        Usable(tensor, name);
        if (!ReferenceEquals(tensor.Device, reference.Device))
            throw new DeviceException(
                $"Argument '{name}': expected a tensor on {reference.Device} (the device of '{referenceName}'), got one on {tensor.Device}.");
    }

    /// <summary>The FP8 ops' device check: their kernels need sm_89 or later (or the CPU accelerator).</summary>
    public static void SupportsFp8(Tensor tensor, string name, string op)
    {
        Usable(tensor, name);
        if (!tensor.Device.HasFp8)
            throw new DeviceException(
                $"Argument '{name}': {op} needs a device with FP8 support (sm_89 or later), got one on {tensor.Device} ({tensor.Device.ArchitectureName}).");
    }

    public static void Rank(Tensor tensor, string name, int rank, string layout)
    {
        if (tensor.Rank != rank)
            throw new ShapeMismatchException(
                $"Argument '{name}': expected rank {rank} {layout}, got rank {tensor.Rank} with shape {tensor.ShapeText}.");
    }

    public static void Dim(Tensor tensor, string name, int dim, long expected, string what)
    {
        if (tensor.Shape[dim] != expected)
            throw new ShapeMismatchException(
                $"Argument '{name}': expected dimension {dim} ({what}) to be {expected}, got {tensor.Shape[dim]} (shape {tensor.ShapeText}).");
    }

    public static void Shape(bool ok, string name, string expected, Tensor actual)
    {
        if (!ok)
            throw new ShapeMismatchException($"Argument '{name}': expected {expected}, got shape {actual.ShapeText}.");
    }

    public static void Shape(bool ok, string name, string expected, string actual)
    {
        if (!ok)
            throw new ShapeMismatchException($"Argument '{name}': expected {expected}, got {actual}.");
    }

    public static void DType(Tensor tensor, string name, params TritonOps.DType[] allowed)
    {
        if (Array.IndexOf(allowed, tensor.DType) < 0)
            throw new UnsupportedDtypeException(
                $"Argument '{name}': expected dtype {string.Join(" or ", allowed.Select(DTypes.Name))}, got {DTypes.Name(tensor.DType)}.");
    }

    public static void SameDType(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        if (tensor.DType != reference.DType)
            throw new UnsupportedDtypeException(
                $"Argument '{name}': expected dtype {DTypes.Name(reference.DType)} (the dtype of '{referenceName}'), got {DTypes.Name(tensor.DType)}.");
    }

    public static void Contiguous(Tensor tensor, string name)
    {
        if (!tensor.IsContiguous)
            throw new NonContiguousTensorException(
                $"Argument '{name}': expected a contiguous row-major tensor, got shape {tensor.ShapeText} with strides [{string.Join(", ", tensor.Strides)}]; call Contiguous() first.");
    }

    /// <summary>The row stride of a view made of rows of its last dimension (<see cref="Tensor.RowStride"/>): dense, or a
    /// slice of a wider row.</summary>
    public static int RowStrided(Tensor tensor, string name)
    {
        if (tensor.RowStride is not long stride || stride > int.MaxValue)
            throw new NonContiguousTensorException(
                $"Argument '{name}': expected rows of its last dimension one stride apart with that dimension dense (contiguous, or a slice of a wider row), got shape {tensor.ShapeText} with strides [{string.Join(", ", tensor.Strides)}].");
        return (int)stride;
    }

    public static void Positive(long value, string name)
    {
        if (value <= 0)
            throw new InvalidArgumentException(name, $"Argument '{name}': expected a positive value, got {value}.");
    }

    public static void Eps(double eps, string name = "eps")
    {
        if (!double.IsFinite(eps) || eps < 0)
            throw new InvalidArgumentException(name, $"Argument '{name}': expected a finite value ≥ 0, got {eps}.");
    }

    public static void Finite(double value, string name)
    {
        if (!double.IsFinite(value))
            throw new InvalidArgumentException(name, $"Argument '{name}': expected a finite value, got {value}.");
    }

    /// <summary>An op's destination that must not share memory with an input it reads after writing (or reads
    /// in other threads): disjoint from <paramref name="input"/>, or, when <paramref name="inPlaceAllowed"/>, exactly it.</summary>
    public static void NoOverlap(Tensor output, string name, Tensor input, string inputName, bool inPlaceAllowed)
    {
        if (output.Overlaps(input, out bool identical) && !(inPlaceAllowed && identical))
            throw new InvalidArgumentException(name,
                $"Argument '{name}': expected a tensor that does not overlap '{inputName}'{(inPlaceAllowed ? $" (or is exactly '{inputName}')" : "")}, got one sharing its memory.");
    }

    public static void Defined<TEnum>(TEnum value, string name) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new InvalidArgumentException(name,
                $"Argument '{name}': expected {string.Join(", ", Enum.GetNames<TEnum>())}, got {Convert.ToInt64(value)}.");
    }

    /// <summary>A float dtype an op computes in and returns.</summary>
    public static void FloatDType(TritonOps.DType dtype, string name)
    {
        if (dtype is not (TritonOps.DType.Float32 or TritonOps.DType.Float16 or TritonOps.DType.BFloat16))
            throw new UnsupportedDtypeException($"Argument '{name}': expected float32 or float16 or bfloat16, got {DTypes.Name(dtype)}.");
    }

    // The argument errors an op raises where no ready-made check above fits. Each message starts "Argument 'name':",
    // written here once; the op writes what it expected and what it got, and throws (the message is built only then).

    public static InvalidArgumentException Invalid(string name, string message) => new(name, Prefixed(name, message));

    public static UnsupportedDtypeException UnsupportedDtype(string name, string message) => new(Prefixed(name, message));

    public static ShapeMismatchException ShapeMismatch(string name, string message) => new(Prefixed(name, message));

    public static NonContiguousTensorException NonContiguous(string name, string message) => new(Prefixed(name, message));

    public static ArgumentNullException Missing(string name, string message) => new(name, Prefixed(name, message));

    public static ArgumentOutOfRangeException OutOfRange(string name, object? value, string message) => new(name, value, Prefixed(name, message));

    /// <summary>An argument of an internal pinned schedule (tests and benchmark sweeps) that the call cannot take.</summary>
    public static ArgumentException Unusable(string name, string message) => new(Prefixed(name, message), name);

    private static string Prefixed(string name, string message) => $"Argument '{name}': {message}";
}
