namespace TritonOps.Kernels.FusedRmsNormRope;

/// <summary>Sizes of one fused RMSNorm + RoPE launch, in runs of the access width W.</summary>
internal struct RmsNormRopeShape
{
    /// <summary>batch · seq.</summary>
    public int Rows;
    public int Seq;
    public int Heads;
    /// <summary>Runs in half a head: (head_dim / 2) / W.</summary>
    public int HalfRuns;
    /// <summary>Runs in a head: head_dim / W.</summary>
    public int HeadRuns;
    /// <summary>Runs in a row: hidden / W.</summary>
    public int RowRuns;
    /// <summary>Pairs of runs in a row (one run from each half of a head): Heads · HalfRuns.</summary>
    public int Pairs;
    /// <summary>1 / hidden, so the mean is one multiply.</summary>
    public float InvHidden;
    public float Eps;
}

/// <summary>
/// RMSNorm then rotate-half RoPE, the formulas the row and staged kernels share:
///   y = x · rsqrt(mean(x²) + eps) · w
///   out[d]       = y[d] · cos[d]             − y[d + h/2] · sin[d]
///   out[d + h/2] = y[d + h/2] · cos[d + h/2] + y[d] · sin[d + h/2]      (d &lt; h/2, per head)
/// A thread owns matching runs of both halves of a head, so the rotation needs no exchange: one read of x, one
/// write of out, float32 math, one rounding at the store.
/// </summary>
internal static class RmsNormRope
{
    internal static void RotateAndStore<TAccess>(
        ArrayView<byte> output, long firstRun, int halfRuns, float rstd,
        Vec4U xa, Vec4U xb, Vec4U wa, Vec4U wb, Vec4U ca, Vec4U cb, Vec4U sa, Vec4U sb)
        where TAccess : struct, IRunAccess
        => RotateAndStore<TAccess>(output, firstRun, halfRuns, rstd, xa, xb, wa, wb,
            TAccess.Unpack(ca), TAccess.Unpack(cb), TAccess.Unpack(sa), TAccess.Unpack(sb));

    /// <summary>As above with cos and sin already unpacked (shared by all pairs at one position of a head).</summary>
    internal static void RotateAndStore<TAccess>(
        ArrayView<byte> output, long firstRun, int halfRuns, float rstd,
        Vec4U xa, Vec4U xb, Vec4U wa, Vec4U wb, in Vec8F ca, in Vec8F cb, in Vec8F sa, in Vec8F sb)
        where TAccess : struct, IRunAccess
    {
        Vec8F ya = TAccess.Unpack(xa).MultiplyScaled(TAccess.Unpack(wa), rstd);
        Vec8F yb = TAccess.Unpack(xb).MultiplyScaled(TAccess.Unpack(wb), rstd);
        TAccess.Store(output, firstRun, Vec8F.MulAddMul(ya, ca, -1f, yb, sa));
        TAccess.Store(output, firstRun + halfRuns, Vec8F.MulAddMul(yb, cb, 1f, ya, sb));
    }
}
