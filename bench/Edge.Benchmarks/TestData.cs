using Edge.Format.Numerics;

namespace Edge.Benchmarks;

/// <summary>
/// Deterministic weights and activations, so Edge and ggml multiply the very same ternary matrices and input:
/// copy c of a shape always has the same weights, whichever engine asks.
/// </summary>
static class TestData
{
    /// <summary>Row r of matrix copy c: ternary weights in {-1, 0, 1}, a third of each.</summary>
    public static void TernaryRow(GemvShape shape, int copy, int row, Span<sbyte> weights)
    {
        // A fixed arithmetic mix instead of System.Random keeps generating ~1 G weights for the cold sets fast.
        ulong state = (ulong)(uint)HashCode.Combine(shape.K, shape.N, copy, row) * 0x9E3779B97F4A7C15UL + 1;
        for (int k = 0; k < weights.Length; k++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            weights[k] = (sbyte)((int)((state >> 32) % 3) - 1);
        }
    }

    /// <summary>The input vector: roughly normal floats, like a normalized hidden state.</summary>
    public static float[] Activations(int k)
    {
        var random = new Random(k);
        var x = new float[k];
        for (int i = 0; i < k; i++)
            x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return x;
    }

    /// <summary>Per-token absmax int8, as BitLinear quantizes its input; padded with zeros to whole blocks.</summary>
    public static sbyte[] Quantize(float[] x, out int sum)
    {
        var q = new sbyte[TernaryPacking.PaddedLength(x.Length)];
        float max = x.Max(MathF.Abs);
        float scale = 127f / Math.Max(max, ActivationQuantizer.MinAbsMax);
        sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            q[i] = ActivationQuantizer.QuantizeOne(x[i] * scale);
            sum += q[i];
        }
        return q;
    }
}
