using System.Numerics.Tensors;
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
    public void QuantizeScaledEqualsTheScalarRuleOnTiesClampsAndSpecialValues()
    {
        // Ties of both signs, the float just below a half, values beyond the int8 range, infinities and NaN, at every
        // position of a vector and in the scalar tail.
        float[] special = [0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -126.5f, 126.5f, 127.5f, -128.5f, 0.49999997f, -0.49999997f,
            1.4999999f, 200f, -200f, 1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, 1e-30f];
        var rng = new Random(3);
        for (int length = 1; length <= 80; length++)
        {
            var y = new float[length];
            for (int i = 0; i < length; i++)
                y[i] = rng.Next(3) == 0 ? special[rng.Next(special.Length)] : (rng.NextSingle() - 0.5f) * 300f;
            foreach (float scale in new[] { 1f, 0.5f, 3f })
            {
                var q = new sbyte[length];
                ActivationQuantizer.QuantizeScaled(y, scale, q);
                for (int i = 0; i < length; i++)
                    Assert.Equal(ActivationQuantizer.QuantizeOne(y[i] * scale), q[i]);
            }
        }
    }

    [Fact]
    public void QuantizeEqualsTheScalarRuleOnEveryLengthWithInfinitiesAndNaN()
    {
        // The fused norm pass must keep RMSNorm's two roundings and MaxMagnitude's NaN and infinity behaviour, in the
        // vector body and in the scalar tail.
        float[] special = [float.PositiveInfinity, float.NegativeInfinity, float.NaN, 0f, -0f, 1e30f, -1e-30f];
        var rng = new Random(5);
        for (int length = 1; length <= 80; length++)
            for (int trial = 0; trial < 6; trial++)
            {
                var x = new float[length];
                var weight = new float[length];
                for (int i = 0; i < length; i++)
                {
                    x[i] = trial > 0 && rng.Next(4 * length) == 0 ? special[rng.Next(special.Length)] : (rng.NextSingle() - 0.5f) * 20f;
                    weight[i] = rng.NextSingle() * 2 - 0.5f;
                }
                float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(x) / length + ActivationQuantizer.NormEps);
                var y = x.Select((v, i) => v * rstd * weight[i]).ToArray();
                float expectedScale = 127f / Math.Max(MathF.Abs(TensorPrimitives.MaxMagnitude<float>(y)), ActivationQuantizer.MinAbsMax);

                var normalized = new float[length];
                ActivationQuantizer.RmsNorm(x, weight, ActivationQuantizer.NormEps, normalized);
                Assert.Equal(y, normalized);
                var q = new sbyte[length];
                float scale = ActivationQuantizer.Quantize(x, weight, normalized, q);
                Assert.Equal(expectedScale, scale);
                for (int i = 0; i < length; i++)
                    Assert.Equal(ActivationQuantizer.QuantizeOne(y[i] * expectedScale), q[i]);
            }
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
        // Large sums round when converted to float; every vector width and the scalar tail must round them the same way.
        foreach (int length in Enumerable.Range(0, 70).Append(1003))
        {
            var sums = Enumerable.Range(0, length).Select(i => (i % 3) switch { 0 => rng.Next(), 1 => -rng.Next(), _ => rng.Next(-5000, 5000) }).ToArray();
            var output = new float[length + 1];
            output[length] = 42f;
            foreach (float factor in new[] { 1f, 0.0123f, -3.7e-5f })
            {
                BitLinearRule.Rescale(sums, factor, output);
                for (int j = 0; j < length; j++)
                    Assert.Equal((float)sums[j] * factor, output[j]);
                Assert.Equal(42f, output[length]); // nothing written past the sums
            }
        }
    }

    [Fact]
    public void RescaleRefusesAShortOutput() =>
        Assert.Throws<ArgumentException>(() => BitLinearRule.Rescale(new int[17], 1f, new float[16]));
}
