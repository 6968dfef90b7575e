using System.Runtime.InteropServices;

namespace TritonOps.Tests;

/// <summary>Data in and out of <see cref="Tensor"/>: typed host copies for every dtype, Narrow, Contiguous
/// and Clone of strided views (the device gather), the tensor overloads of <see cref="Reference"/>, and
/// every error path. The test device poisons new buffers, so an element no copy wrote reads back as NaN
/// (or 0xFF bytes).</summary>
public class TensorTests
{
    private static Device Device => TestDevices.Cpu;

    private static FluentAssertions.Specialized.ExceptionAssertions<T> ShouldThrow<T>(Action call) where T : Exception =>
        Validation.ThrowsBeforeAllocating<T>(Device, call);

    /// <summary>Random element bits of <typeparamref name="T"/> (NaN payloads included: copies are bitwise).</summary>
    private static T[] RandomBits<T>(int count, int seed) where T : unmanaged
    {
        var values = new T[count];
        new Random(seed).NextBytes(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    /// <summary>The host's reading of a view: element idx is base[offset + Σ idx·stride], row-major over the view's shape.</summary>
    private static T[] HostGather<T>(T[] dense, Tensor view)
    {
        var result = new T[view.ElementCount];
        int rank = view.Rank;
        var index = new int[rank];
        for (long i = 0; i < result.Length; i++)
        {
            long at = view.Offset;
            for (int d = 0; d < rank; d++)
                at += index[d] * view.Strides[d];
            result[i] = dense[at];
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < view.Shape[d])
                    break;
                index[d] = 0;
            }
        }
        return result;
    }

    private static byte[] Raw<T>(T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    // Every (dtype, host type) pair CopyTo/CopyFrom accept.
    private static IEnumerable<TestCaseData> HostPairs()
    {
        yield return new TestCaseData(DType.Float32, typeof(float));
        yield return new TestCaseData(DType.Float16, typeof(System.Half));
        yield return new TestCaseData(DType.Float16, typeof(ushort));
        yield return new TestCaseData(DType.BFloat16, typeof(ushort));
        yield return new TestCaseData(DType.Float8E4M3, typeof(byte));
        yield return new TestCaseData(DType.Float8E5M2, typeof(byte));
        yield return new TestCaseData(DType.UInt8, typeof(byte));
        yield return new TestCaseData(DType.Int32, typeof(int));
        yield return new TestCaseData(DType.Int64, typeof(long));
    }

    private static readonly DType[] AllDTypes = Enum.GetValues<DType>();

    private static void Run(Type t, string name, params object[] arguments) =>
        typeof(TensorTests).GetMethod(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(t).Invoke(null, arguments);

    // ---- round trips ----------------------------------------------------------------------------

    [TestCaseSource(nameof(HostPairs))]
    public void CopyFrom_ThenCopyTo_RoundTripsBits(DType dtype, Type t) => Run(t, nameof(RoundTrip), dtype);

    private static void RoundTrip<T>(DType dtype) where T : unmanaged
    {
        T[] values = RandomBits<T>(3 * 5 * 7, Inputs.Seed(dtype, typeof(T).Name));
        using var tensor = Tensor.Empty([3, 5, 7], dtype, Device);
        tensor.CopyFrom<T>(values);
        var back = new T[values.Length];
        tensor.CopyTo<T>(back);
        Raw(back).Should().Equal(Raw(values));
        tensor.ToBytes().Should().Equal(Raw(values), "ToBytes is the same row-major bytes");
        using var clone = tensor.Clone();
        var cloned = new T[values.Length];
        clone.CopyTo<T>(cloned);
        Raw(cloned).Should().Equal(Raw(values), "Clone copies every element");
    }

    [TestCaseSource(nameof(HostPairs))]
    public void TransposeThenContiguous_MatchesHostTranspose(DType dtype, Type t) => Run(t, nameof(TransposeContiguous), dtype);

    private static void TransposeContiguous<T>(DType dtype) where T : unmanaged
    {
        const int rows = 5, cols = 7; // odd sizes: no dimension a multiple of anything
        T[] values = RandomBits<T>(rows * cols, Inputs.Seed("transpose", dtype, typeof(T).Name));
        using var tensor = Tensor.Empty([rows, cols], dtype, Device);
        tensor.CopyFrom<T>(values);
        using var view = tensor.Transpose(0, 1);
        view.IsContiguous.Should().BeFalse();
        var expected = new T[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                expected[c * rows + r] = values[r * cols + c];

        using var dense = view.Contiguous();
        dense.IsContiguous.Should().BeTrue();
        dense.Shape.Should().Equal(cols, rows);
        var actual = new T[rows * cols];
        dense.CopyTo<T>(actual);
        Raw(actual).Should().Equal(Raw(expected));

        var direct = new T[rows * cols];
        view.CopyTo<T>(direct);
        Raw(direct).Should().Equal(Raw(expected), "CopyTo gathers a strided view itself");
        view.ToBytes().Should().Equal(Raw(expected), "ToBytes gathers a strided view");
    }

    [Test]
    public void ToFloatArray_OfTransposedBf16View_MatchesHostTranspose()
    {
        float[] values = Inputs.Normal(3 * 4 * 5, seed: 7).Select(v => DTypes.Round(v, DType.BFloat16)).ToArray();
        using var tensor = Tensor.FromArray(values, [3, 4, 5], DType.BFloat16, Device);
        using var view = tensor.Transpose(0, 2); // [5, 4, 3]
        var expected = new float[values.Length];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 5; c++)
                    expected[(c * 4 + b) * 3 + a] = values[(a * 4 + b) * 5 + c];
        view.ToFloatArray().Should().Equal(expected);
    }

    [Test]
    public void Contiguous_OfReversedRank8View_UsesAllEightKernelDims()
    {
        int[] shape = [2, 3, 2, 3, 2, 3, 2, 3];
        int count = shape.Aggregate(1, (p, s) => p * s);
        int[] values = Enumerable.Range(0, count).ToArray();
        using var tensor = Tensor.FromArray(values, shape, Device);
        var views = new List<Tensor> { tensor.Transpose(0, 7) };
        views.Add(views[^1].Transpose(1, 6));
        views.Add(views[^1].Transpose(2, 5));
        views.Add(views[^1].Transpose(3, 4)); // every dimension reversed: no two merge
        try
        {
            var view = views[^1];
            using var dense = view.Contiguous();
            var actual = new int[count];
            dense.CopyTo<int>(actual);
            actual.Should().Equal(HostGather(values, view));
        }
        finally
        {
            views.ForEach(v => v.Dispose());
        }
    }

    [Test]
    public void Contiguous_OfRank9ViewThatMergesToFewDims_Works()
    {
        int[] shape = [2, 1, 2, 2, 1, 2, 2, 2, 3];
        int count = shape.Aggregate(1, (p, s) => p * s);
        long[] values = Enumerable.Range(0, count).Select(i => (long)i * 1_000_000_007L).ToArray();
        using var tensor = Tensor.FromArray(values, shape, Device);
        using var view = tensor.Transpose(0, 8);
        using var dense = view.Contiguous();
        var actual = new long[count];
        dense.CopyTo<long>(actual);
        actual.Should().Equal(HostGather(values, view));
    }

    [Test]
    public void Contiguous_OfContiguousTensor_IsANewViewOfTheSameMemory()
    {
        using var tensor = Tensor.FromArray([1, 2, 3, 4, 5, 6], [2, 3], Device);
        using var view = tensor.Contiguous();
        view.Should().NotBeSameAs(tensor);
        view.Offset.Should().Be(tensor.Offset);
        view.CopyFrom<int>([10, 20, 30, 40, 50, 60]);
        var back = new int[6];
        tensor.CopyTo<int>(back);
        back.Should().Equal([10, 20, 30, 40, 50, 60], "the view shares the buffer");
    }

    [Test]
    public void Clone_OfContiguousTensor_HasItsOwnMemory()
    {
        using var tensor = Tensor.FromArray([1L, 2L, 3L], [3], Device);
        using var clone = tensor.Clone();
        clone.CopyFrom<long>([7L, 8L, 9L]);
        var back = new long[3];
        tensor.CopyTo<long>(back);
        back.Should().Equal(1L, 2L, 3L);
    }

    [Test]
    public void Clone_OfStridedView_WritesEveryElement()
    {
        float[] values = Inputs.Normal(6 * 9, seed: 3);
        using var tensor = Tensor.FromArray(values, [6, 9], DType.Float32, Device);
        using var view = tensor.Narrow(1, 2, 5).Transpose(0, 1); // [5, 6] over a poisoned clone target
        using var clone = view.Clone();
        float[] actual = clone.ToFloatArray();
        actual.Should().NotContain(float.NaN, "the poisoned clone must be overwritten everywhere");
        actual.Should().Equal(HostGather(values, view));
    }

    [Test]
    public void FromArray_Half_StoresFloat16Bits()
    {
        System.Half[] values = [(System.Half)1.5f, (System.Half)(-0.25f), System.Half.MaxValue, System.Half.Epsilon];
        using var tensor = Tensor.FromArray(values, [2, 2], Device);
        tensor.DType.Should().Be(DType.Float16);
        tensor.ToFloatArray().Should().Equal(values.Select(v => (float)v));
        var bits = new ushort[4];
        tensor.CopyTo<ushort>(bits);
        bits.Should().Equal(values.Select(BitConverter.HalfToUInt16Bits));
    }

    [Test]
    public void FromArray_IntAndLong_StoreInt32AndInt64()
    {
        int[] ints = [int.MinValue, -1, 0, 1, int.MaxValue];
        long[] longs = [long.MinValue, -1L, 0L, 1L << 40, long.MaxValue];
        using var a = Tensor.FromArray(ints, [5], Device);
        using var b = Tensor.FromArray(longs, [5, 1], Device);
        a.DType.Should().Be(DType.Int32);
        b.DType.Should().Be(DType.Int64);
        var intsBack = new int[5];
        var longsBack = new long[5];
        a.CopyTo<int>(intsBack);
        b.CopyTo<long>(longsBack);
        intsBack.Should().Equal(ints);
        longsBack.Should().Equal(longs);
    }

    [Test]
    public void FromArrayOfBytes_AndFromBits_StoreUInt8AndTheGivenSixteenBitDtype()
    {
        byte[] bytes = [0, 1, 127, 128, 255, 42];
        using var u8 = Tensor.FromArray(bytes, [2, 3], Device);
        u8.DType.Should().Be(DType.UInt8);
        var bytesBack = new byte[6];
        u8.CopyTo<byte>(bytesBack);
        bytesBack.Should().Equal(bytes);

        // bf16 1.5, −0.25, the largest finite, the smallest subnormal; then the same values' float16 bits. And integer
        // literals with a dtype still mean floats (FromBits has a name of its own for that reason).
        ushort[] bf16 = [0x3FC0, 0xBE80, 0x7F7F, 0x0001];
        using var b = Tensor.FromBits(bf16, [4], DType.BFloat16, Device);
        b.DType.Should().Be(DType.BFloat16);
        b.ToFloatArray().Should().Equal(bf16.Select(v => BitConverter.Int32BitsToSingle(v << 16)));
        ushort[] f16 = [0x3E00, 0xB400, 0x7BFF, 0x0001];
        using var h = Tensor.FromBits(f16, [2, 2], DType.Float16, Device);
        h.ToFloatArray().Should().Equal(f16.Select(v => (float)BitConverter.UInt16BitsToHalf(v)));

        ShouldThrow<UnsupportedDtypeException>(() => Tensor.FromBits(f16, [4], DType.Float32, Device))
            .WithMessage("*'dtype'*bfloat16 or float16*float32*");
        using var floats = Tensor.FromArray([1, 2, 3], [3], DType.Float32, Device);
        floats.ToFloatArray().Should().Equal(1f, 2f, 3f);
    }

    // ---- Narrow ---------------------------------------------------------------------------------

    [TestCase(0, 1, 2)]
    [TestCase(1, 2, 3)]
    [TestCase(2, 0, 5)]
    [TestCase(2, 6, 1)]
    [TestCase(1, 5, 0)]
    public void Narrow_OnEachDim_MatchesHostSlice(int dim, int start, int length)
    {
        int[] shape = [4, 5, 7];
        int[] values = Enumerable.Range(0, 4 * 5 * 7).ToArray();
        using var tensor = Tensor.FromArray(values, shape, Device);
        using var view = tensor.Narrow(dim, start, length);
        int[] viewShape = (int[])shape.Clone();
        viewShape[dim] = length;
        view.Shape.Should().Equal(viewShape);
        var expected = new List<int>();
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 5; b++)
                for (int c = 0; c < 7; c++)
                {
                    int i = dim == 0 ? a : dim == 1 ? b : c;
                    if (i >= start && i < start + length)
                        expected.Add(values[(a * 5 + b) * 7 + c]);
                }
        var actual = new int[view.ElementCount];
        view.CopyTo<int>(actual);
        actual.Should().Equal(expected);
        view.IsContiguous.Should().Be(dim == 0, "only a narrow of the outermost dimension stays dense");
    }

    [Test]
    public void Narrow_OfNarrowAndOfTranspose_Composes()
    {
        int[] values = Enumerable.Range(0, 6 * 8).ToArray();
        using var tensor = Tensor.FromArray(values, [6, 8], Device);
        using var rows = tensor.Narrow(0, 1, 4);         // rows 1..4
        using var block = rows.Narrow(1, 3, 4);          // columns 3..6
        using var transposed = block.Transpose(0, 1);    // [4 cols, 4 rows]
        using var corner = transposed.Narrow(1, 2, 2);   // rows 3..4 of the original
        var expected = new List<int>();
        for (int c = 3; c < 7; c++)
            for (int r = 3; r < 5; r++)
                expected.Add(values[r * 8 + c]);
        var actual = new int[corner.ElementCount];
        corner.CopyTo<int>(actual);
        actual.Should().Equal(expected);
    }

    [Test]
    public void CopyFrom_IntoNarrowedView_WritesOnlyTheWindow()
    {
        using var tensor = Tensor.Empty([4, 6], DType.Float32, Device); // poisoned: NaN everywhere
        using var window = tensor.Narrow(1, 2, 3);
        window.IsContiguous.Should().BeFalse();
        float[] values = Enumerable.Range(1, 12).Select(i => (float)i).ToArray();
        window.CopyFrom<float>(values);
        float[] all = tensor.ToFloatArray();
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 6; c++)
            {
                if (c is >= 2 and < 5)
                    all[r * 6 + c].Should().Be(values[r * 3 + c - 2]);
                else
                    float.IsNaN(all[r * 6 + c]).Should().BeTrue($"[{r}, {c}] lies outside the window");
            }
    }

    [Test]
    public void CopyFrom_IntoTransposedView_ScattersRowMajorValues()
    {
        using var tensor = Tensor.Empty([3, 5], DType.BFloat16, Device);
        using var view = tensor.Transpose(0, 1); // [5, 3]
        ushort[] bits = Enumerable.Range(0, 15).Select(i => (ushort)(0x3F80 + i)).ToArray();
        view.CopyFrom<ushort>(bits);
        var back = new ushort[15];
        tensor.CopyTo<ushort>(back);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 5; c++)
                back[r * 5 + c].Should().Be(bits[c * 3 + r]);
    }

    [Test]
    public void CopyFromTensor_StacksRowsAndFillsAStridedWindow_FromAStridedSource()
    {
        // Stacking: two weights into row windows of one tensor (contiguous views), on the device.
        float[] a = Enumerable.Range(0, 6).Select(i => i + 0.5f).ToArray(), b = Enumerable.Range(0, 9).Select(i => -i - 0.25f).ToArray();
        using var ta = Tensor.FromArray(a, [2, 3], DType.BFloat16, Device);
        using var tb = Tensor.FromArray(b, [3, 3], DType.BFloat16, Device);
        using var stacked = Tensor.Empty([5, 3], DType.BFloat16, Device);
        using (var top = stacked.Narrow(0, 0, 2)) top.CopyFrom(ta);
        using (var bottom = stacked.Narrow(0, 2, 3)) bottom.CopyFrom(tb);
        stacked.ToFloatArray().Should().Equal(a.Concat(b));

        // A transposed source into a column window: both sides strided; the rest stays poisoned.
        using var source = Tensor.FromArray(Enumerable.Range(1, 8).Select(i => (float)i).ToArray(), [2, 4], DType.Float32, Device);
        using var transposed = source.Transpose(0, 1); // [4, 2]
        using var target = Tensor.Empty([4, 5], DType.Float32, Device);
        using var window = target.Narrow(1, 1, 2);
        window.CopyFrom(transposed);
        float[] all = target.ToFloatArray();
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 5; c++)
            {
                if (c is 1 or 2)
                    all[r * 5 + c].Should().Be((c - 1) * 4 + r + 1, $"[{r}, {c}] is source[{c - 1}, {r}]");
                else
                    float.IsNaN(all[r * 5 + c]).Should().BeTrue($"[{r}, {c}] lies outside the window");
            }
    }

    [Test]
    public void CopyFromTensor_BadSource_ThrowsTypedErrors_BeforeAnyLaunch()
    {
        using var target = Tensor.Empty([2, 3], DType.BFloat16, Device);
        using var wrongShape = Tensor.Empty([3, 2], DType.BFloat16, Device);
        using var wrongDtype = Tensor.Empty([2, 3], DType.Float16, Device);
        FluentActions.Invoking(() => target.CopyFrom(wrongShape)).Should().Throw<ShapeMismatchException>().WithMessage("*'source'*[2, 3]*[3, 2]*");
        FluentActions.Invoking(() => target.CopyFrom(wrongDtype)).Should().Throw<UnsupportedDtypeException>().WithMessage("*'source'*");
        FluentActions.Invoking(() => target.CopyFrom((Tensor)null!)).Should().Throw<ArgumentNullException>();
        var disposed = Tensor.Empty([2, 3], DType.BFloat16, Device);
        disposed.Dispose();
        FluentActions.Invoking(() => target.CopyFrom(disposed)).Should().Throw<TensorDisposedException>();
    }

    [Test]
    public void RowStride_And_Overlaps_SeeSlicesOfOneWiderRow()
    {
        using var t = Tensor.Empty([2, 3, 10], DType.BFloat16, Device);
        t.RowStride.Should().Be(10);
        using var q = t.Narrow(2, 0, 6);
        using var k = t.Narrow(2, 6, 2);
        using var v = t.Narrow(2, 8, 2);
        q.RowStride.Should().Be(10);
        k.RowStride.Should().Be(10);
        q.Overlaps(k, out _).Should().BeFalse("columns 0–5 and 6–7 of every row are disjoint");
        k.Overlaps(v, out _).Should().BeFalse();
        using var shifted = t.Narrow(2, 5, 3); // columns 5–7: one column shared with q, two with k
        shifted.Overlaps(q, out _).Should().BeTrue();
        shifted.Overlaps(k, out bool identical).Should().BeTrue();
        identical.Should().BeFalse();
        using var again = t.Narrow(2, 6, 2);
        k.Overlaps(again, out identical).Should().BeTrue();
        identical.Should().BeTrue("the same strided view: in place is allowed");
        using var middleRows = t.Narrow(1, 1, 1); // [2, 1, 10]: rows 1 and 4, 30 apart
        middleRows.RowStride.Should().Be(30);
        using var rowsOfTwoBatches = t.Narrow(1, 1, 2); // [2, 2, 10]: rows 1, 2, 4, 5: not one stride
        rowsOfTwoBatches.RowStride.Should().BeNull();
        using var transposed = t.Transpose(1, 2);
        transposed.RowStride.Should().BeNull("the last dimension is not dense");
        using var none = t.Narrow(1, 0, 0);
        none.RowStride.Should().Be(10);
        none.Overlaps(t, out _).Should().BeFalse("a view of no elements shares none");
    }

    [Test]
    public void CopyFromTensor_OntoAnOverlappingView_ThrowsBeforeLaunching_AndOntoItself_IsANoOp()
    {
        using var t = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), [3, 4], DType.Float32, Device);
        using var left = t.Narrow(1, 0, 3);
        using var right = t.Narrow(1, 1, 3);
        Validation.ThrowsBeforeAllocating<InvalidArgumentException>(Device, () => left.CopyFrom(right)).WithMessage("*'source'*overlap*'this'*");
        using var same = t.Narrow(1, 0, 3);
        left.CopyFrom(same);
        t.ToFloatArray().Should().Equal(Enumerable.Range(0, 12).Select(i => (float)i));
    }

    // ---- empty tensors --------------------------------------------------------------------------

    [Test]
    public void EmptyTensor_CopiesViewsAndReadBacks_DoNothing()
    {
        using var tensor = Tensor.Empty([3, 0, 4], DType.Float16, Device);
        tensor.ElementCount.Should().Be(0);
        tensor.CopyFrom<System.Half>([]);
        tensor.CopyTo<System.Half>([]);
        tensor.ToBytes().Should().BeEmpty();
        tensor.ToFloatArray().Should().BeEmpty();
        using var transposed = tensor.Transpose(0, 2);
        using var dense = transposed.Contiguous();
        dense.Shape.Should().Equal(4, 0, 3);
        using var clone = transposed.Clone();
        clone.ToBytes().Should().BeEmpty();
        using var narrowed = tensor.Narrow(2, 4, 0);
        narrowed.Shape.Should().Equal(3, 0, 0);
        using var fromInts = Tensor.FromArray(Array.Empty<int>(), [0], Device);
        fromInts.ToBytes().Should().BeEmpty();
    }

    [Test]
    public void NarrowToZeroLength_OfNonEmptyTensor_ReadsNothing()
    {
        using var tensor = Tensor.FromArray([1f, 2f, 3f, 4f], [2, 2], DType.Float32, Device);
        using var none = tensor.Narrow(1, 1, 0);
        none.Shape.Should().Equal(2, 0);
        none.ToFloatArray().Should().BeEmpty();
        using var clone = none.Clone();
        clone.ElementCount.Should().Be(0);
    }

    // ---- errors ---------------------------------------------------------------------------------

    [Test]
    public void CopyTo_WithEveryWrongHostType_ThrowsUnsupportedDtype()
    {
        Type[] hostTypes = [typeof(float), typeof(System.Half), typeof(ushort), typeof(byte), typeof(int), typeof(long), typeof(double), typeof(short)];
        var accepted = HostPairs().Select(c => ((DType)c.Arguments[0]!, (Type)c.Arguments[1]!)).ToHashSet();
        foreach (DType dtype in AllDTypes)
        {
            using var tensor = Tensor.Empty([2], dtype, Device);
            foreach (Type t in hostTypes.Where(t => !accepted.Contains((dtype, t))))
            {
                foreach (string method in new[] { nameof(WrongTypeCopyTo), nameof(WrongTypeCopyFrom) })
                {
                    Action call = () =>
                    {
                        try { Run(t, method, tensor); }
                        catch (System.Reflection.TargetInvocationException e) { throw e.InnerException!; }
                    };
                    string argument = method == nameof(WrongTypeCopyTo) ? "destination" : "source";
                    ShouldThrow<UnsupportedDtypeException>(call)
                        .WithMessage($"*'{argument}'*{DTypes.Name(dtype)}*")
                        .Which.Message.Should().EndWith($"got {HostName(t)}.");
                }
            }
        }
    }

    private static string HostName(Type t) => t == typeof(System.Half) ? "Half" : t == typeof(float) ? "float" : t == typeof(double) ? "double"
        : t == typeof(ushort) ? "ushort" : t == typeof(short) ? "short" : t == typeof(byte) ? "byte" : t == typeof(int) ? "int" : "long";

    private static void WrongTypeCopyTo<T>(Tensor tensor) where T : unmanaged => tensor.CopyTo(new T[2].AsSpan());

    private static void WrongTypeCopyFrom<T>(Tensor tensor) where T : unmanaged => tensor.CopyFrom<T>(new T[2]);

    [Test]
    public void CopyTo_Float32IntoHalf_NamesExpectedAndActual()
    {
        using var tensor = Tensor.Empty([3], DType.Float32, Device);
        ShouldThrow<UnsupportedDtypeException>(() => tensor.CopyTo(new System.Half[3].AsSpan()))
            .WithMessage("Argument 'destination': expected elements of float for a float32 tensor, got Half.");
    }

    [TestCase(5)]
    [TestCase(7)]
    [TestCase(0)]
    public void CopyToAndFrom_WrongLength_ThrowsShapeMismatch(int length)
    {
        using var tensor = Tensor.Empty([2, 3], DType.Int32, Device);
        ShouldThrow<ShapeMismatchException>(() => tensor.CopyTo(new int[length].AsSpan()))
            .WithMessage($"Argument 'destination': expected 6 elements for shape [2, 3], got {length}.");
        ShouldThrow<ShapeMismatchException>(() => tensor.CopyFrom<int>(new int[length]))
            .WithMessage($"Argument 'source': expected 6 elements for shape [2, 3], got {length}.");
        using var view = tensor.Transpose(0, 1);
        ShouldThrow<ShapeMismatchException>(() => view.CopyFrom<int>(new int[length])).WithMessage("*'source'*[3, 2]*");
    }

    [Test]
    public void FromArray_WrongLength_ThrowsShapeMismatch()
    {
        ShouldThrow<ShapeMismatchException>(() => Tensor.FromArray([1, 2, 3], [2, 2], Device)).WithMessage("*'values'*4*got 3*");
        ShouldThrow<ShapeMismatchException>(() => Tensor.FromArray([1L], [2], Device)).WithMessage("*'values'*2*got 1*");
        ShouldThrow<ShapeMismatchException>(() => Tensor.FromArray([System.Half.One], [0], Device)).WithMessage("*'values'*0*got 1*");
        ShouldThrow<ShapeMismatchException>(() => Tensor.FromArray(new byte[] { 1, 2 }, [3], Device)).WithMessage("*'values'*3*got 2*");
        ShouldThrow<ShapeMismatchException>(() => Tensor.FromBits(new ushort[] { 0x3F80 }, [2], DType.BFloat16, Device)).WithMessage("*'bits'*2*got 1*");
    }

    [TestCase(-1, 0, 1, "dim")]
    [TestCase(3, 0, 1, "dim")]
    [TestCase(1, -1, 1, "start")]
    [TestCase(1, 6, 0, "start")]
    [TestCase(1, 0, -1, "length")]
    [TestCase(1, 3, 3, "length")]
    [TestCase(2, 7, 2, "length")]
    public void Narrow_OutOfRange_ThrowsShapeMismatch(int dim, int start, int length, string argument)
    {
        using var tensor = Tensor.Empty([4, 5, 8], DType.UInt8, Device);
        ShouldThrow<ShapeMismatchException>(() => tensor.Narrow(dim, start, length).Dispose())
            .WithMessage($"Argument '{argument}'*[4, 5, 8]*got {(argument == "dim" ? dim : argument == "start" ? start : length)}.");
    }

    [Test]
    public void Contiguous_OfNineUnmergeableDims_ThrowsShapeMismatch_BeforeAllocating()
    {
        int[] shape = Enumerable.Repeat(2, 9).ToArray();
        using var tensor = Tensor.Empty(shape, DType.Float32, Device);
        using var t1 = tensor.Transpose(0, 8);
        using var t2 = t1.Transpose(1, 7);
        using var t3 = t2.Transpose(2, 6);
        using var reversed = t3.Transpose(3, 5);
        ShouldThrow<ShapeMismatchException>(() => reversed.Contiguous().Dispose()).WithMessage("*at most 8 dimensions*9 after merging*");
        ShouldThrow<ShapeMismatchException>(() => reversed.CopyFrom<float>(new float[512])).WithMessage("*at most 8 dimensions*");
    }

    [Test]
    public void DisposedTensor_ThrowsTensorDisposed()
    {
        var tensor = Tensor.FromArray([1f, 2f], [2], DType.Float32, Device);
        tensor.Dispose();
        var calls = new Dictionary<string, Action>
        {
            ["Contiguous"] = () => tensor.Contiguous(),
            ["Clone"] = () => tensor.Clone(),
            ["Narrow"] = () => tensor.Narrow(0, 0, 1),
            ["CopyTo"] = () => tensor.CopyTo(new float[2].AsSpan()),
            ["CopyFrom"] = () => tensor.CopyFrom<float>(new float[2]),
            ["ToBytes"] = () => tensor.ToBytes(),
            ["ToFloatArray"] = () => tensor.ToFloatArray(),
            ["Reshape"] = () => tensor.Reshape(1, 2),
            ["Transpose"] = () => tensor.Transpose(0, 0),
        };
        foreach (var (name, call) in calls)
            ShouldThrow<TensorDisposedException>(call).WithMessage("*has been disposed*", name).Which.Should().BeAssignableTo<TritonOpsException>();
    }

    // ---- Reference overloads taking tensors -----------------------------------------------------

    [TestCase(ScaleGranularity.PerTensor)]
    [TestCase(ScaleGranularity.PerRow)]
    [TestCase(ScaleGranularity.PerColumn)]
    public void ReferenceQuantizeFp8_OfTensor_MatchesArrayOverload(ScaleGranularity granularity)
    {
        const int rows = 5, cols = 9;
        float[] values = Inputs.Normal(rows * cols, Inputs.Seed("quantize", granularity), scale: 3).Select(v => DTypes.Round(v, DType.BFloat16)).ToArray();
        using var x = Tensor.FromArray(values, [rows, cols], DType.BFloat16, Device);
        var (codes, scales) = Reference.QuantizeFp8(x, granularity: granularity);
        int groups = granularity switch { ScaleGranularity.PerRow => rows, ScaleGranularity.PerColumn => cols, _ => 1 };
        Func<long, int> scaleOf = granularity switch
        {
            ScaleGranularity.PerRow => i => (int)(i / cols),
            ScaleGranularity.PerColumn => i => (int)(i % cols),
            _ => _ => 0,
        };
        var (expectedCodes, expectedScales) = Reference.QuantizeFp8(values, DType.Float8E4M3, groups, scaleOf);
        codes.Should().Equal(expectedCodes);
        scales.Should().Equal(expectedScales);

        using var given = Tensor.Full([1], 0.5f, DType.Float32, Device);
        var (givenCodes, givenScales) = Reference.QuantizeFp8(x, given, DType.Float8E5M2);
        givenCodes.Should().Equal(Reference.QuantizeFp8(values, DType.Float8E5M2, 1, _ => 0, [0.5f]).Codes);
        givenScales.Should().Equal(0.5f);
    }

    [Test]
    public void ReferenceQuantizeFp8_OfTransposedView_QuantizesTheViewsOrder()
    {
        float[] values = Inputs.Normal(4 * 6, seed: 11);
        using var x = Tensor.FromArray(values, [4, 6], DType.Float32, Device);
        using var view = x.Transpose(0, 1);
        var (codes, scales) = Reference.QuantizeFp8(view, granularity: ScaleGranularity.PerRow);
        float[] transposed = HostGather(values, view);
        var expected = Reference.QuantizeFp8(transposed, DType.Float8E4M3, 6, i => (int)(i / 4));
        codes.Should().Equal(expected.Codes);
        scales.Should().Equal(expected.Scales);
    }

    [Test]
    public void ReferenceFp8Gemm_WithTransposedB_MatchesArrayOverload()
    {
        const int m = 3, k = 7, n = 5;
        float[] aValues = Inputs.Normal(m * k, seed: 21), wValues = Inputs.Normal(n * k, seed: 22), biasValues = Inputs.Normal(n, seed: 23);
        var (aCodes, aScales) = Reference.QuantizeFp8(aValues, DType.Float8E4M3, m, i => (int)(i / k));
        var (wCodes, wScales) = Reference.QuantizeFp8(wValues, DType.Float8E4M3, 1, _ => 0);
        using var a = Tensor.FromBytes(aCodes, [m, k], DType.Float8E4M3, Device);
        using var aScale = Tensor.FromArray(aScales, [m, 1], DType.Float32, Device);
        using var w = Tensor.FromBytes(wCodes, [n, k], DType.Float8E4M3, Device);
        using var b = w.Transpose(0, 1); // [K, N], strided: the layout Fp8Linear keeps
        using var bScale = Tensor.FromArray(wScales, [1], DType.Float32, Device);
        using var bias = Tensor.FromArray(biasValues, [n], DType.Float32, Device);

        double[] actual = Reference.Fp8Gemm(a, aScale, b, bScale, bias);

        float[] aDecoded = new float[m * k], wDecoded = new float[n * k], bDecoded = new float[k * n];
        DTypes.Decode(aCodes, DType.Float8E4M3, aDecoded);
        DTypes.Decode(wCodes, DType.Float8E4M3, wDecoded);
        for (int o = 0; o < n; o++)
            for (int i = 0; i < k; i++)
                bDecoded[i * n + o] = wDecoded[o * k + i];
        actual.Should().Equal(Reference.Fp8Gemm(aDecoded, aScales, bDecoded, wScales, m, k, n, biasValues));
        Reference.Fp8Gemm(a, aScale, b, bScale).Should().Equal(Reference.Fp8Gemm(aDecoded, aScales, bDecoded, wScales, m, k, n));
    }

    [Test]
    public void ReferenceFp8Gemm_BadArguments_ThrowTyped()
    {
        using var a = Tensor.Empty([2, 4], DType.Float8E4M3, Device);
        using var aFloat = Tensor.Empty([2, 4], DType.Float32, Device);
        using var b = Tensor.Empty([4, 3], DType.Float8E4M3, Device);
        using var bShort = Tensor.Empty([5, 3], DType.Float8E4M3, Device);
        using var one = Tensor.Full([1], 1f, DType.Float32, Device);
        using var rowScales = Tensor.Full([3, 1], 1f, DType.Float32, Device);
        using var bias = Tensor.Full([4], 0f, DType.Float32, Device);
        ShouldThrow<UnsupportedDtypeException>(() => Reference.Fp8Gemm(aFloat, one, b, one)).WithMessage("*'aCodes'*float8_e4m3fn*float32*");
        ShouldThrow<ShapeMismatchException>(() => Reference.Fp8Gemm(a, one, bShort, one)).WithMessage("*'bCodes'*4*5*");
        ShouldThrow<ShapeMismatchException>(() => Reference.Fp8Gemm(a, rowScales, b, one)).WithMessage("*'aScale'*[2, 1]*[3, 1]*");
        ShouldThrow<ShapeMismatchException>(() => Reference.Fp8Gemm(a, one, b, one, bias)).WithMessage("*'bias'*[N = 3]*[4]*");
        ShouldThrow<ArgumentNullException>(() => Reference.Fp8Gemm(a, null!, b, one)).WithParameterName("aScale");
    }

    [Test]
    public void ReferenceQuantizeFp8_BadArguments_ThrowTyped()
    {
        using var ints = Tensor.Empty([2, 3], DType.Int32, Device);
        using var flat = Tensor.Empty([6], DType.Float32, Device);
        using var x = Tensor.Full([2, 3], 1f, DType.Float32, Device);
        using var wrongScale = Tensor.Full([1, 2], 1f, DType.Float32, Device);
        ShouldThrow<UnsupportedDtypeException>(() => Reference.QuantizeFp8(ints)).WithMessage("*'x'*int32*");
        ShouldThrow<UnsupportedDtypeException>(() => Reference.QuantizeFp8(x, format: DType.Float16)).WithMessage("*'format'*float16*");
        ShouldThrow<ShapeMismatchException>(() => Reference.QuantizeFp8(flat, granularity: ScaleGranularity.PerColumn)).WithMessage("*'x'*rank 2*");
        ShouldThrow<ShapeMismatchException>(() => Reference.QuantizeFp8(x, wrongScale, granularity: ScaleGranularity.PerColumn)).WithMessage("*'scale'*[1, 3]*[1, 2]*");
    }
}
