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

    public static void SameDevice(Tensor tensor, string name, Tensor reference, string referenceName)
    {
        Live(tensor.Device, name);
        if (!ReferenceEquals(tensor.Device, reference.Device))
            throw new DeviceException(
                $"Argument '{name}': expected a tensor on {reference.Device} (the device of '{referenceName}'), got one on {tensor.Device}.");
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

    public static void Positive(long value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"Argument '{name}': expected a positive value, got {value}.");
    }
}
