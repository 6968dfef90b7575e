namespace TritonOps.Samples.Decoder;

internal static class StackRows
{
    /// <summary>A new tensor of <paramref name="parts"/>' rows one after another (dimension 0), copied on the device; the
    /// parts share dtype, device and every other dimension (the caller checks, naming its weights).</summary>
    public static Tensor Of(IReadOnlyList<Tensor> parts)
    {
        int[] shape = parts[0].Shape.ToArray();
        shape[0] = parts.Sum(p => p.Shape[0]);
        var stacked = Tensor.Empty(shape, parts[0].DType, parts[0].Device);
        try
        {
            int row = 0;
            foreach (var part in parts)
            {
                using (var slot = stacked.Narrow(0, row, part.Shape[0]))
                    slot.CopyFrom(part);
                row += part.Shape[0];
            }
            return stacked;
        }
        catch
        {
            stacked.Dispose();
            throw;
        }
    }
}
