using TritonOps.Kernels.Numerics;

namespace TritonOps.Tests;

/// <summary>
/// Seeded random cases for every op against the float64 reference: sizes drawn from 0, 1, small primes
/// and awkward even sizes, every float dtype, both cos/sin layouts, contiguous and transposed b. Each
/// test draws a fixed list of cases from a fixed seed (the same cases every run; a failure names its
/// draw), sized to run in a few seconds on the CPU accelerator.
/// </summary>
public class PropertyTests
{
    // A CPU device of its own: its random shapes launch the widest groups, which slow every later launch on a device
    // (OnEveryDevice explains).
    private static readonly Lazy<Device> s_device = new(() => Device.Cpu(poisonAllocations: true));
    private static Device Device => s_device.Value;

    private static readonly DType[] FloatTypes = [DType.Float32, DType.Float16, DType.BFloat16];

    private static T Pick<T>(Random r, params T[] items) => items[r.Next(items.Length)];

    private static Tolerance For(DType dtype) => dtype switch
    {
        DType.Float32 => new(2e-5, 2e-5),
        DType.Float16 => new(2e-5, Math.Pow(2, -11) + 2e-5),
        _ => new(2e-5, Math.Pow(2, -8) + 2e-5),
    };

    [Test]
    public void FusedRmsNormRope_RandomShapes_MatchReference()
    {
        var r = new Random(20261203);
        for (int draw = 0; draw < 16; draw++)
        {
            int batch = Pick(r, 0, 1, 2, 3), seq = Pick(r, 1, 2, 5, 7), headDim = Pick(r, 2, 4, 6, 10, 16, 34), heads = Pick(r, 1, 2, 3, 5);
            DType dtype = Pick(r, FloatTypes);
            bool fourD = r.Next(2) == 0;
            int hidden = heads * headDim, seed = r.Next();
            string what = $"draw {draw}: {DTypes.Name(dtype)} [{batch},{seq},{hidden}] head_dim {headDim} cos {(fourD ? "4-D" : "2-D")}";
            using var x = Tensor.FromArray(Inputs.Normal(batch * seq * hidden, seed, 2), [batch, seq, hidden], dtype, Device);
            using var w = Tensor.FromArray(Inputs.Uniform(hidden, seed + 1, 0.5, 1.5), [hidden], dtype, Device);
            int[] tableShape = fourD ? [1, seq, 1, headDim] : [seq, headDim];
            using var cos = Tensor.FromArray(Inputs.Uniform(seq * headDim, seed + 2, -1, 1), tableShape, dtype, Device);
            using var sin = Tensor.FromArray(Inputs.Uniform(seq * headDim, seed + 3, -1, 1), tableShape, dtype, Device);
            using var y = Ops.FusedRmsNormRope(x, w, cos, sin);
            y.Shape.Should().Equal([batch, seq, hidden], what);
            Compare.AllClose(y.ToFloatArray(), Reference.FusedRmsNormRope(x, w, cos, sin), Tolerance.OneRoundingInto(dtype), what);
        }
    }

    [Test]
    public void FusedGatedMlp_RandomShapes_MatchReference()
    {
        var r = new Random(3);
        for (int draw = 0; draw < 12; draw++)
        {
            int m = Pick(r, 0, 1, 2, 3, 5, 17), hidden = Pick(r, 1, 3, 7, 8, 13, 24), intermediate = Pick(r, 0, 1, 5, 8, 17);
            DType dtype = Pick(r, FloatTypes);
            var activation = Pick(r, Activation.Silu, Activation.Gelu, Activation.GeluTanh);
            int seed = r.Next();
            string what = $"draw {draw}: {DTypes.Name(dtype)} {activation} M {m} hidden {hidden} intermediate {intermediate}";
            double bound = 1 / Math.Sqrt(hidden);
            using var x = Tensor.FromArray(Inputs.Normal(m * hidden, seed, 1.5), [1, m, hidden], dtype, Device);
            using var gate = Tensor.FromArray(Inputs.Uniform(intermediate * hidden, seed + 1, -2 * bound, 2 * bound), [intermediate, hidden], dtype, Device);
            using var up = Tensor.FromArray(Inputs.Uniform(intermediate * hidden, seed + 2, -2 * bound, 2 * bound), [intermediate, hidden], dtype, Device);
            using var y = Ops.FusedGatedMlp(x, gate, up, activation);
            y.Shape.Should().Equal([1, m, intermediate], what);
            Compare.AllClose(y.ToFloatArray(), Reference.FusedGatedMlp(x, gate, up, activation), For(dtype), what);
        }
    }

    [Test]
    public void QuantizeFp8_RandomShapesAndGranularities_AreBitExact()
    {
        var r = new Random(5);
        for (int draw = 0; draw < 16; draw++)
        {
            int rows = Pick(r, 0, 1, 2, 3, 7, 31), cols = Pick(r, 1, 2, 5, 8, 13, 40);
            DType dtype = Pick(r, FloatTypes), format = Pick(r, DType.Float8E4M3, DType.Float8E5M2);
            var granularity = Pick(r, ScaleGranularity.PerTensor, ScaleGranularity.PerRow, ScaleGranularity.PerColumn);
            string what = $"draw {draw}: {DTypes.Name(dtype)} → {DTypes.Name(format)} {granularity} [{rows},{cols}]";
            using var x = Tensor.FromArray(Inputs.Normal(rows * cols, r.Next(), 30), [rows, cols], dtype, Device);
            var (q, scale) = Ops.QuantizeFp8(x, format: format, granularity: granularity);
            using var _q = q; using var _s = scale;
            int groups = granularity switch { ScaleGranularity.PerRow => rows, ScaleGranularity.PerColumn => cols, _ => 1 };
            Func<long, int> groupOf = granularity switch
            {
                ScaleGranularity.PerRow => i => (int)(i / cols),
                ScaleGranularity.PerColumn => i => (int)(i % cols),
                _ => _ => 0,
            };
            var (codes, scales) = Reference.QuantizeFp8(x.ToFloatArray(), format, Math.Max(groups, 1), groupOf);
            q.ToBytes().Should().Equal(codes, what);
            if (rows * cols > 0)
                scale.ToFloatArray().Should().Equal(scales, what);
        }
    }

    [Test]
    public void Fp8Gemm_RandomShapesAndLayouts_MatchReference()
    {
        var r = new Random(7);
        for (int draw = 0; draw < 12; draw++)
        {
            int m = Pick(r, 0, 1, 2, 3, 7, 19), k = Pick(r, 0, 1, 16, 17, 32, 48), n = Pick(r, 0, 1, 3, 8, 24, 29);
            DType output = Pick(r, FloatTypes);
            bool transposedB = r.Next(2) == 0, withBias = r.Next(2) == 0;
            string what = $"draw {draw}: M {m} K {k} N {n} → {DTypes.Name(output)}{(transposedB ? ", b transposed view" : "")}{(withBias ? ", bias" : "")}";
            float[] aValues = Inputs.Normal(m * k, r.Next(), 2), bValues = Inputs.Normal(k * n, r.Next(), 0.5), biasValues = Inputs.Normal(n, r.Next());
            using var a = Tensor.FromArray(aValues, [m, k], DType.BFloat16, Device);
            float[] bStored = new float[k * n];
            if (transposedB)
                for (int i = 0; i < k; i++) for (int j = 0; j < n; j++) bStored[j * k + i] = bValues[i * n + j];
            using var storage = Tensor.FromArray(transposedB ? bStored : bValues, transposedB ? [n, k] : [k, n], DType.Float32, Device);
            using var b = transposedB ? storage.Transpose(0, 1) : storage.Reshape(k, n);
            using var bias = withBias ? Tensor.FromArray(biasValues, [n], DType.Float32, Device) : null;

            using var y = Ops.Fp8Gemm(a, b, outputDtype: output, bias: bias);

            y.Shape.Should().Equal([m, n], what);
            var (aCodes, aScale) = Reference.QuantizeFp8(a.ToFloatArray(), DType.Float8E4M3, 1, _ => 0);
            var (bCodes, bScale) = Reference.QuantizeFp8(bValues, DType.Float8E4M3, 1, _ => 0);
            float[] aDecoded = aCodes.Select(c => E4M3.Decode(c)).ToArray(), bDecoded = bCodes.Select(c => E4M3.Decode(c)).ToArray();
            double[] expected = Reference.Fp8Gemm(aDecoded, aScale, bDecoded, bScale, m, k, n, withBias ? biasValues : null);
            double[] slack = Reference.Fp8Gemm(aDecoded.Select(MathF.Abs).ToArray(), aScale, bDecoded.Select(MathF.Abs).ToArray(), bScale, m, k, n)
                .Select(s => Math.Pow(2, -10) * s).ToArray();
            var tolerance = new Tolerance(1e-4, output == DType.Float32 ? 1e-5 : output == DType.Float16 ? Math.Pow(2, -11) + 1e-5 : Math.Pow(2, -8) + 1e-5);
            Compare.AllClose(y.ToFloatArray(), expected, tolerance, slack, what);
        }
    }
}
