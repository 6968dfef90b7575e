namespace TritonOps;

/// <summary>Base of every error TritonOps raises for bad input or an unusable device.</summary>
public class TritonOpsException : Exception
{
    /// <summary>An error with its message.</summary>
    public TritonOpsException(string message) : base(message) { }

    /// <summary>An error with its message and the exception that caused it.</summary>
    public TritonOpsException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A tensor is on the wrong device, a device is disposed, or a requested device is
/// not available (the original library's <c>DeviceError</c>).</summary>
public sealed class DeviceException : TritonOpsException
{
    /// <summary>An error with its message.</summary>
    public DeviceException(string message) : base(message) { }

    /// <summary>An error with its message and the exception that caused it.</summary>
    public DeviceException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A tensor's rank or sizes do not fit the op's contract (<c>ShapeMismatchError</c>).</summary>
public sealed class ShapeMismatchException : TritonOpsException
{
    /// <summary>An error with its message.</summary>
    public ShapeMismatchException(string message) : base(message) { }
}

/// <summary>A tensor's dtype is not supported here, or differs from a dtype it must match
/// (<c>UnsupportedDtypeError</c>).</summary>
public sealed class UnsupportedDtypeException : TritonOpsException
{
    /// <summary>An error with its message.</summary>
    public UnsupportedDtypeException(string message) : base(message) { }
}

/// <summary>A tensor view is strided where the op needs dense row-major memory.</summary>
public sealed class NonContiguousTensorException : TritonOpsException
{
    /// <summary>An error with its message.</summary>
    public NonContiguousTensorException(string message) : base(message) { }
}

/// <summary>A tensor was used after <see cref="Tensor.Dispose"/>: its memory may already serve another tensor.</summary>
public sealed class TensorDisposedException : TritonOpsException
{
    /// <summary>An error with its message.</summary>
    public TensorDisposedException(string message) : base(message) { }
}

/// <summary>A non-tensor argument is outside its contract (an eps below zero, an unknown activation name,
/// an undefined enum value). <see cref="ParamName"/> names it.</summary>
public sealed class InvalidArgumentException : TritonOpsException
{
    /// <summary>An error about <paramref name="paramName"/> with its message.</summary>
    public InvalidArgumentException(string paramName, string message) : base(message) => ParamName = paramName;

    /// <summary>The argument's name.</summary>
    public string ParamName { get; }
}
