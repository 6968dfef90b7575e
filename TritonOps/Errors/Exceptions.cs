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

/// <summary>A checkpoint file (safetensors, its shard index, or a model's <c>config.json</c>) does not
/// follow its format: the message names the file and, where one is at fault, the tensor or field.</summary>
public sealed class CheckpointFormatException : TritonOpsException
{
    /// <summary>An error in <paramref name="filePath"/>, at tensor or field <paramref name="entry"/> when one is at fault.</summary>
    public CheckpointFormatException(string filePath, string? entry, string message)
        : base(Compose(filePath, entry, message))
    {
        FilePath = filePath;
        Entry = entry;
    }

    /// <summary>As above, with the exception that caused it (a JSON parse error, say).</summary>
    public CheckpointFormatException(string filePath, string? entry, string message, Exception inner)
        : base(Compose(filePath, entry, message), inner)
    {
        FilePath = filePath;
        Entry = entry;
    }

    /// <summary>The file at fault.</summary>
    public string FilePath { get; }

    /// <summary>The tensor (or config field) at fault; null when the fault is the file's as a whole.</summary>
    public string? Entry { get; }

    private static string Compose(string filePath, string? entry, string message) =>
        entry is null ? $"{filePath}: {message}" : $"{filePath}: '{entry}': {message}";
}
