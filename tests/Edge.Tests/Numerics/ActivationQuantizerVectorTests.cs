using Edge.Format.Numerics;

namespace Edge.Tests.Numerics;

/// <summary>The vectorized <see cref="ActivationQuantizer.Quantize"/> must equal <see cref="ActivationQuantizer.QuantizeOne"/> per element.</summary>
public class ActivationQuantizerVectorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(65536)]
    public void QuantizeEqualsTheScalarRuleElementByElement(int k)
    {
        var rng = new Random(k);
        var x = new float[k];
        var weight = new float[k];
        for (int i = 0; i < k; i++)
        {
            // A few exact halves and huge outliers next to ordinary values.
            x[i] = (i % 7) switch { 0 => rng.Next(-300, 300) + 0.5f, 1 => (rng.NextSingle() - 0.5f) * 1e4f, _ => rng.NextSingle() * 4 - 2 };
            weight[i] = 0.25f + rng.NextSingle();
        }
        int kPad = TernaryPacking.PaddedLength(k);
        var q = new sbyte[kPad];
        q.AsSpan().Fill(99);
        float scale = ActivationQuantizer.Quantize(x, weight, new float[k], q);

        var y = new float[k];
        ActivationQuantizer.RmsNorm(x, weight, ActivationQuantizer.NormEps, y);
        float expectedScale = 127f / Math.Max(y.Max(MathF.Abs), ActivationQuantizer.MinAbsMax);
        Assert.Equal(expectedScale, scale);
        for (int i = 0; i < k; i++)
            Assert.Equal(ActivationQuantizer.QuantizeOne(y[i] * scale), q[i]);
        Assert.All(q.AsSpan(k).ToArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void NaNInputQuantizesToZeroAsTheScalarRuleDoes()
    {
        float[] x = [127f, 0.5f, -2.5f, float.NaN];
        var q = new sbyte[256];
        q.AsSpan().Fill(99);
        ActivationQuantizer.Quantize(x, [1f, 1f, 1f, 1f], new float[x.Length], q);
        // NaN poisons the norm, so every element is NaN.
        Assert.All(q.AsSpan(0, x.Length).ToArray(), v => Assert.Equal(ActivationQuantizer.QuantizeOne(float.NaN), v));
    }
}

/// <summary>The vectorized <see cref="BitLinearRule.Rescale"/> must equal the scalar <c>(float)sum · factor</c>.</summary>
public class BitLinearRuleVectorTests
{
    [Fact]
    public void RescaleEqualsTheScalarExpression()
    {
        var rng = new Random(8);
        // Large sums round when converted to float; the vector path must round them the same way.
        var sums = Enumerable.Range(0, 1003).Select(i => (i % 3) switch { 0 => rng.Next(), 1 => -rng.Next(), _ => rng.Next(-5000, 5000) }).ToArray();
        var output = new float[sums.Length];
        foreach (float factor in new[] { 1f, 0.0123f, -3.7e-5f })
        {
            BitLinearRule.Rescale(sums, factor, output);
            for (int j = 0; j < sums.Length; j++)
                Assert.Equal((float)sums[j] * factor, output[j]);
        }
    }
}
