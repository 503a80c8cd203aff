using Edge.Runtime.Model;

namespace Edge.Tests.Numerics;

/// <summary>
/// <see cref="Activations.Sigmoid"/> and <see cref="Activations.Silu"/> against a float64 reference (within 2 ulp), on
/// special values, and bit for bit whatever an element's index and the span's length (prefill slices the recurrence).
/// </summary>
public class ActivationsTests
{
    const double MaxUlps = 2;

    static readonly float[] Special =
    [
        0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 88f, -88f, 104f, -104f, -87.3f, -100f,
        -103.3f, -103.9f, 17f, -17f, float.Epsilon, -float.Epsilon, 1e-40f, -1e-40f, 1e-30f, -1e-30f, 1e30f, -1e30f,
        float.MaxValue, float.MinValue, 1e-7f, -1e-7f, 0.5f, -0.5f,
    ];

    [Fact]
    public void BothAreWithinTwoUlpOfFloat64OnEveryLength()
    {
        var rng = new Random(11);
        foreach (int length in Enumerable.Range(1, 80).Concat([1024, 2816, 4099]))
        {
            var x = new float[length];
            for (int i = 0; i < length; i++)
                x[i] = (i % 3) switch
                {
                    0 => (rng.NextSingle() - 0.5f) * 40f,                               // where σ is neither 0 nor 1
                    1 => BitConverter.Int32BitsToSingle(rng.Next() | (rng.Next(2) << 31)), // anywhere in the float range
                    _ => rng.Next(8) == 0 ? Special[rng.Next(Special.Length)] : (rng.NextSingle() - 0.5f) * 240f,
                };
            AssertWithinTwoUlp(x);
        }
    }

    [Fact]
    public void SpecialValuesAreWithinTwoUlpAndLimitsAreExact()
    {
        AssertWithinTwoUlp(Special);
        var sigmoid = new float[Special.Length];
        var silu = new float[Special.Length];
        Activations.Sigmoid(Special, sigmoid);
        Activations.Silu(Special, silu);
        AssertBits(0.5f, sigmoid[0]);
        AssertBits(0f, silu[0]);
        AssertBits(0.5f, sigmoid[1]);
        AssertBits(-0f, silu[1]);
        AssertBits(1f, sigmoid[2]);
        AssertBits(float.PositiveInfinity, silu[2]);
        AssertBits(0f, sigmoid[3]);
        AssertBits(-0f, silu[3]);
        Assert.True(float.IsNaN(sigmoid[4]));
        Assert.True(float.IsNaN(silu[4]));
        Assert.Equal(1f, sigmoid[Array.IndexOf(Special, 104f)]);
        Assert.Equal(0f, sigmoid[Array.IndexOf(Special, -104f)]);                // e^−104 rounds to zero
        Assert.True(float.IsSubnormal(sigmoid[Array.IndexOf(Special, -100f)]));   // not flushed
        Assert.Equal(float.MaxValue, silu[Array.IndexOf(Special, float.MaxValue)]);
    }

    [Fact]
    public void AnElementGetsTheSameBitsAtEveryIndexAndLength()
    {
        var rng = new Random(5);
        var values = Special.Concat(Enumerable.Range(0, 40).Select(_ => (rng.NextSingle() - 0.5f) * 60f));
        foreach (float v in values)
        {
            float sigmoid = Sigmoid(v), silu = Silu(v);
            for (int length = 1; length <= 80; length++)
            {
                var x = Enumerable.Repeat(v, length).ToArray();
                var y = new float[length];
                Activations.Sigmoid(x, y);
                Assert.All(y, e => AssertBits(sigmoid, e));
                Activations.Silu(x, y);
                Assert.All(y, e => AssertBits(silu, e));
            }
        }
    }

    delegate void Function(ReadOnlySpan<float> x, Span<float> destination);

    [Fact]
    public void SlicesGiveTheSameBitsAsTheWholeAndInPlaceAsOutOfPlace()
    {
        var rng = new Random(9);
        var x = Enumerable.Range(0, 1000).Select(_ => (rng.NextSingle() - 0.5f) * 30f).ToArray();
        foreach (Function function in new Function[] { Activations.Sigmoid, Activations.Silu })
        {
            var whole = new float[x.Length];
            function(x, whole);
            foreach (int slice in new[] { 1, 3, 16, 21, 64 })
            {
                var sliced = new float[x.Length];
                for (int first = 0; first < x.Length; first += slice)
                {
                    int count = Math.Min(slice, x.Length - first);
                    function(x.AsSpan(first, count), sliced.AsSpan(first, count));
                }
                Assert.Equal(Bits(whole), Bits(sliced));
            }
            var inPlace = (float[])x.Clone();
            function(inPlace, inPlace);
            Assert.Equal(Bits(whole), Bits(inPlace));
        }
    }

    [Fact]
    public void RejectsAShortOrPartlyOverlappingDestination()
    {
        var buffer = new float[40];
        Assert.Throws<ArgumentException>(() => Activations.Sigmoid(buffer.AsSpan(0, 20), buffer.AsSpan(20, 19)));
        Assert.Throws<ArgumentException>(() => Activations.Silu(buffer.AsSpan(0, 20), buffer.AsSpan(1, 20)));
        Activations.Silu(buffer.AsSpan(0, 20), buffer.AsSpan(20, 20));
        Activations.Sigmoid([], []);
    }

    static void AssertWithinTwoUlp(float[] x)
    {
        var sigmoid = new float[x.Length];
        var silu = new float[x.Length];
        Activations.Sigmoid(x, sigmoid);
        Activations.Silu(x, silu);
        for (int i = 0; i < x.Length; i++)
        {
            double exact = 1 / (1 + Math.Exp(-(double)x[i]));
            double exactSilu = float.IsNegativeInfinity(x[i]) ? -0.0 : x[i] * exact;
            Assert.True(Ulps(sigmoid[i], exact) <= MaxUlps, $"σ({x[i]:R}) = {sigmoid[i]:R}, exact {exact:R}: {Ulps(sigmoid[i], exact):F2} ulp");
            Assert.True(Ulps(silu[i], exactSilu) <= MaxUlps, $"silu({x[i]:R}) = {silu[i]:R}, exact {exactSilu:R}: {Ulps(silu[i], exactSilu):F2} ulp");
        }
    }

    /// <summary>|actual − exact| in units of the float spacing at exact (2^−149 for subnormals); 0 for matching NaN or infinity.</summary>
    static double Ulps(float actual, double exact)
    {
        if (double.IsNaN(exact) || double.IsInfinity(exact))
            return actual.Equals((float)exact) ? 0 : double.PositiveInfinity;
        if (exact == 0 && actual == 0 && double.IsNegative(exact) != float.IsNegative(actual))
            return double.PositiveInfinity; // the sign of a zero is part of the result
        double ulp = Math.ScaleB(1.0, Math.Max(Math.ILogB(exact), -126) - 23);
        return Math.Abs(actual - exact) / ulp;
    }

    static float Sigmoid(float v)
    {
        var y = new float[1];
        Activations.Sigmoid([v], y);
        return y[0];
    }

    static float Silu(float v)
    {
        var y = new float[1];
        Activations.Silu([v], y);
        return y[0];
    }

    static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    static void AssertBits(float expected, float actual) =>
        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
}
