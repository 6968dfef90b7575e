namespace TritonOps.Tests;

/// <summary>Every contract violation of fused_rmsnorm_rope raises its typed exception, names the
/// argument, and is caught before anything is allocated or launched.</summary>
public class FusedRmsNormRopeErrorTests
{
    private const int Seq = 3, Hidden = 64, HeadDim = 16;
    private static Device Device => TestDevices.Cpu;

    private static Tensor X(DType dtype = DType.Float32) => Tensor.FromArray(Inputs.Normal(2 * Seq * Hidden, 1), [2, Seq, Hidden], dtype, Device);
    private static Tensor W(DType dtype = DType.Float32, int hidden = Hidden) => Tensor.Full([hidden], 1f, dtype, Device);
    private static Tensor Rope(params int[] shape) => Rope(DType.Float32, shape);
    private static Tensor Rope(DType dtype, params int[] shape) => Tensor.Full(shape.Length == 0 ? [Seq, HeadDim] : shape, 0.5f, dtype, Device);

    private static FluentAssertions.Specialized.ExceptionAssertions<T> ShouldThrow<T>(Func<Tensor> call) where T : Exception =>
        Validation.ThrowsBeforeAllocating<T>(Device, () => call());

    [Test]
    public void XOfRankTwo_ThrowsShapeMismatch()
    {
        using var x = Tensor.Full([Seq, Hidden], 1f, DType.Float32, Device);
        using var w = W(); using var c = Rope(); using var s = Rope();
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s))
            .WithMessage("*'x'*rank 3*[batch, seq, hidden]*rank 2*");
    }

    [Test]
    public void WeightOfWrongLength_ThrowsShapeMismatch()
    {
        using var x = X(); using var w = W(hidden: Hidden + 2); using var c = Rope(); using var s = Rope();
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'weight'*64*66*");
    }

    [Test]
    public void HiddenNotDivisibleByHeadDim_ThrowsShapeMismatch()
    {
        using var x = X(); using var w = W(); using var c = Rope(Seq, 24); using var s = Rope(Seq, 24);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'x'*divisible by head_dim = 24*");
    }

    [Test]
    public void OddHeadDim_ThrowsShapeMismatch()
    {
        using var x = Tensor.Full([1, Seq, 63], 1f, DType.Float32, Device);
        using var w = W(hidden: 63); using var c = Rope(Seq, 21); using var s = Rope(Seq, 21);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'cos'*even head_dim*[3, 21]*");
    }

    [Test]
    public void CosAndSinShapesDiffer_ThrowsShapeMismatch()
    {
        using var x = X(); using var w = W(); using var c = Rope(Seq, HeadDim); using var s = Rope(1, Seq, 1, HeadDim);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'sin'*[3, 16]*[1, 3, 1, 16]*");
    }

    [TestCase(new[] { Seq + 1, HeadDim })]
    [TestCase(new[] { 1, Seq - 1, 1, HeadDim })]
    public void CosSeqNotMatchingX_ThrowsShapeMismatch(int[] shape)
    {
        using var x = X(); using var w = W(); using var c = Rope(shape); using var s = Rope(shape);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'cos'*seq = 3*");
    }

    [TestCase(new[] { 2, Seq, 1, HeadDim })]
    [TestCase(new[] { 1, Seq, 2, HeadDim })]
    [TestCase(new[] { Seq * HeadDim })]
    public void CosOfUnsupportedLayout_ThrowsShapeMismatch(int[] shape)
    {
        using var x = X(); using var w = W(); using var c = Rope(shape); using var s = Rope(shape);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'cos'*[seq=3, head_dim] or [1, seq=3, 1, head_dim]*");
    }

    [Test]
    public void NumHeadsNotMatching_ThrowsShapeMismatch()
    {
        using var x = X(); using var w = W(); using var c = Rope(); using var s = Rope();
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s, numHeads: 3)).WithMessage("*'numHeads'*4*got 3*");
    }

    [TestCase(DType.Float8E4M3)]
    [TestCase(DType.Float8E5M2)]
    public void XOfFp8Dtype_ThrowsUnsupportedDtype(DType dtype)
    {
        using var x = X(dtype); using var w = W(dtype); using var c = Rope(dtype); using var s = Rope(dtype);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.FusedRmsNormRope(x, w, c, s))
            .WithMessage($"*'x'*float32 or float16 or bfloat16*{DTypes.Name(dtype)}*");
    }

    [Test]
    public void WeightDtypeDiffers_ThrowsUnsupportedDtype()
    {
        using var x = X(DType.BFloat16); using var w = W(DType.Float32); using var c = Rope(DType.BFloat16); using var s = Rope(DType.BFloat16);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'weight'*bfloat16*got float32*");
    }

    [Test]
    public void SinDtypeDiffers_ThrowsUnsupportedDtype()
    {
        using var x = X(); using var w = W(); using var c = Rope(); using var s = Rope(DType.Float16);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'sin'*float32*got float16*");
        using var xb = X(DType.BFloat16); using var wb = W(DType.BFloat16); using var ch = Rope(DType.Float16); using var sh = Rope(DType.Float16);
        ShouldThrow<UnsupportedDtypeException>(() => Ops.FusedRmsNormRope(xb, wb, ch, sh)).WithMessage("*'cos'*bfloat16*got float16*");
    }

    [Test]
    public void NonContiguousX_ThrowsNonContiguous()
    {
        using var dense = Tensor.FromArray(Inputs.Normal(2 * Seq * Hidden, 2), [2, Hidden, Seq], DType.Float32, Device);
        using var x = dense.Transpose(1, 2);
        using var w = W(); using var c = Rope(); using var s = Rope();
        ShouldThrow<NonContiguousTensorException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'x'*contiguous*");
    }

    [Test]
    public void WeightOnAnotherDevice_ThrowsDeviceException()
    {
        using var other = Device.Cpu();
        using var x = X(); using var c = Rope(); using var s = Rope();
        using var w = Tensor.Full([Hidden], 1f, DType.Float32, other);
        ShouldThrow<DeviceException>(() => Ops.FusedRmsNormRope(x, w, c, s)).WithMessage("*'weight'*expected a tensor on*");
    }

    [Test]
    public void InputsOnADisposedDevice_ThrowDeviceException()
    {
        var other = Device.Cpu();
        var x = Tensor.Full([1, Seq, Hidden], 1f, DType.Float32, other);
        var w = Tensor.Full([Hidden], 1f, DType.Float32, other);
        var c = Tensor.Full([Seq, HeadDim], 1f, DType.Float32, other);
        other.Dispose();
        FluentActions.Invoking(() => Ops.FusedRmsNormRope(x, w, c, c)).Should().Throw<DeviceException>().WithMessage("*'x'*disposed*");
    }

    [TestCase(-1e-6)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void InvalidEps_ThrowsInvalidArgument(double eps)
    {
        using var x = X(); using var w = W(); using var c = Rope(); using var s = Rope();
        ShouldThrow<InvalidArgumentException>(() => Ops.FusedRmsNormRope(x, w, c, s, eps)).WithMessage("*'eps'*");
    }

    [Test]
    public void NullTensor_ThrowsArgumentNull()
    {
        using var x = X(); using var w = W(); using var c = Rope();
        ShouldThrow<ArgumentNullException>(() => Ops.FusedRmsNormRope(x, w, c, null!)).Which.ParamName.Should().Be("sin");
    }

    [Test]
    public void OutputOfWrongShapeOrDtype_Throws()
    {
        using var x = X(); using var w = W(); using var c = Rope(); using var s = Rope();
        using var wrongShape = Tensor.Empty([2, Seq, Hidden + 1], DType.Float32, Device);
        using var wrongDtype = Tensor.Empty([2, Seq, Hidden], DType.Float16, Device);
        ShouldThrow<ShapeMismatchException>(() => Ops.FusedRmsNormRope(x, w, c, s, output: wrongShape)).WithMessage("*'output'*[2, 3, 64]*[2, 3, 65]*");
        ShouldThrow<UnsupportedDtypeException>(() => Ops.FusedRmsNormRope(x, w, c, s, output: wrongDtype)).WithMessage("*'output'*float32*float16*");
    }

    [TestCase(64, 15)]
    [TestCase(64, 24)]
    [TestCase(0, 16)]
    public void ModuleWithInvalidSizes_Throws(int hidden, int headDim)
    {
        FluentActions.Invoking(() => new FusedRmsNormRope(hidden, headDim, device: Device)).Should().Throw<Exception>()
            .Which.Should().Match(e => e is ShapeMismatchException || e is InvalidArgumentException);
    }
}
