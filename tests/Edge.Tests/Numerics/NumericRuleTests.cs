using Edge.Format.Numerics;

namespace Edge.Tests.Numerics;

public class NumericRuleTests
{
    [Theory]
    [InlineData(0.5f, 1)]
    [InlineData(-0.5f, -1)]
    [InlineData(1.5f, 2)]
    [InlineData(2.5f, 3)]
    [InlineData(-2.5f, -3)]
    [InlineData(0.49999997f, 0)]
    [InlineData(126.5f, 127)]
    [InlineData(127.4f, 127)]
    [InlineData(-127.5f, -128)]
    [InlineData(-300f, -128)]
    [InlineData(300f, 127)]
    public void ActivationsRoundHalfAwayFromZeroAndClamp(float v, int expected) =>
        Assert.Equal(expected, ActivationQuantizer.QuantizeOne(v));

    [Theory]
    [InlineData(0.5f, 0)]      // torch.round: half to even
    [InlineData(-0.5f, 0)]
    [InlineData(1.5f, 1)]      // 2 after rounding, clamped to 1
    [InlineData(0.51f, 1)]
    [InlineData(-0.51f, -1)]
    [InlineData(-7f, -1)]
    [InlineData(0f, 0)]
    public void WeightsRoundHalfToEvenAndClampToTernary(float wOverScale, int expected) =>
        Assert.Equal(expected, TernaryQuantizer.Ternarize(wOverScale, 1f));

    [Fact]
    public void WeightScaleIsTheAbsMeanOfTheLatentWeights()
    {
        float[] w = [0.2f, -0.4f, 0.0f, 1.0f];
        Assert.Equal(0.4f, TernaryQuantizer.AbsMeanScale(w), 6);
        var t = new sbyte[4];
        TernaryQuantizer.Ternarize(w, TernaryQuantizer.AbsMeanScale(w), t);
        Assert.Equal(new sbyte[] { 0, -1, 0, 1 }, t);   // 0.2/0.4 = 0.5 is a tie → 0
    }

    [Fact]
    public void ScaleIsNotReDerivedFromTernaryValues()
    {
        // The absmean of the ternary values would be the non-zero fraction (3/4 here), not the latent absmean.
        float[] w = [0.9f, -1.1f, 0.05f, 1.0f];
        float scale = TernaryQuantizer.AbsMeanScale(w);
        Assert.Equal((0.9f + 1.1f + 0.05f + 1.0f) / 4, scale, 6);
    }

    [Fact]
    public void StreamedAbsMeanEqualsTheWholeTensorAbsMean()
    {
        var rng = new Random(3);
        var w = Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var acc = new TernaryQuantizer.AbsMeanAccumulator();
        acc.Add(w.AsSpan(0, 333));
        acc.Add(w.AsSpan(333));
        Assert.Equal(TernaryQuantizer.AbsMeanScale(w), acc.Scale);
    }

    [Fact]
    public void TinyScalesAreClamped()
    {
        Assert.Equal(1e-5f, TernaryQuantizer.AbsMeanScale(new float[16]));
        var q = new sbyte[256];
        float sx = ActivationQuantizer.Quantize(new float[4], [1, 1, 1, 1], new float[4], q);
        Assert.Equal(127f / 1e-5f, sx);
        Assert.All(q, v => Assert.Equal(0, v));
    }

    [Fact]
    public void QuantizeNormalizesWithEpsAndScalesAbsMaxTo127()
    {
        float[] x = [3f, -4f, 0f, 1f];
        float[] weight = [1f, 2f, 1f, 1f];
        var q = new sbyte[256];
        q.AsSpan().Fill(99);
        float sx = ActivationQuantizer.Quantize(x, weight, new float[4], q);
        double rstd = 1 / Math.Sqrt((9 + 16 + 0 + 1) / 4.0 + 1e-6);
        double[] y = [3 * rstd, -8 * rstd, 0, rstd];
        Assert.Equal(127 / (8 * rstd), sx, 3);
        Assert.Equal(new sbyte[] { 48, -127, 0, 16 }, q[..4]);   // 47.625 → 48, 15.875 → 16
        Assert.All(q[4..], v => Assert.Equal(0, v));            // padding zeroed
        Assert.Equal(-127, (int)Math.Round(y[1] * sx, MidpointRounding.AwayFromZero));
    }

    [Fact]
    public void RescaleMultipliesByWeightOverActivationScale()
    {
        var output = new float[2];
        BitLinearRule.Rescale([10, -3], BitLinearRule.OutputFactor(0.5f, 127f), output);
        Assert.Equal(10 * (0.5f / 127f), output[0]);
        Assert.Equal(-3 * (0.5f / 127f), output[1]);
    }

    [Fact]
    public void BFloat16ConversionRoundsToNearestEven()
    {
        Assert.Equal(1.0f, FloatFormats.BFloat16ToSingle(FloatFormats.SingleToBFloat16(1.0f)));
        // 1 + 2^-8 is exactly halfway between two bf16 values; ties go to the even mantissa (1.0).
        Assert.Equal(1.0f, FloatFormats.BFloat16ToSingle(FloatFormats.SingleToBFloat16(1f + 1f / 256)));
        Assert.Equal(1f + 1f / 64, FloatFormats.BFloat16ToSingle(FloatFormats.SingleToBFloat16(1f + 3f / 256 + 1e-6f)));
        Assert.True(float.IsNaN(FloatFormats.BFloat16ToSingle(FloatFormats.SingleToBFloat16(float.NaN))));
    }
}
