using System.Numerics;
using System.Numerics.Tensors;

namespace Edge.Format.Numerics;

/// <summary>
/// The official BitLinear input path (<c>_layer_norm_fwd_quant_kernel</c>): RMSNorm with the layer's own weight
/// (eps 1e-6), then per-token absmax int8 quantization rounded half away from zero.
/// </summary>
public static class ActivationQuantizer
{
    /// <summary>The official fused kernel's default eps; <c>FusedBitLinear</c> never passes its module's 1e-8.</summary>
    public const float NormEps = 1e-6f;

    /// <summary>Lower clamp of the absmax.</summary>
    public const float MinAbsMax = 1e-5f;

    /// <summary>
    /// Normalizes <paramref name="x"/> (length K) with <paramref name="normWeight"/>, quantizes it into
    /// <paramref name="q"/> (length ≥ K; the rest is zeroed, so padded weights meet zeros) and returns the
    /// activation scale <c>sx = 127 / max(absmax, 1e-5)</c>; the real activation is <c>q / sx</c>.
    /// </summary>
    /// <param name="normalized">Scratch of length K (holds the scaled, rounded values afterwards).</param>
    public static float Quantize(ReadOnlySpan<float> x, ReadOnlySpan<float> normWeight, Span<float> normalized, Span<sbyte> q)
    {
        int k = x.Length;
        if (normWeight.Length != k || normalized.Length < k || q.Length < k)
            throw new ArgumentException("Activation, norm weight and buffers must agree in length.");
        var y = normalized[..k];
        RmsNorm(x, normWeight, NormEps, y);
        float scale = 127f / Math.Max(MathF.Abs(TensorPrimitives.MaxMagnitude(y)), MinAbsMax);
        QuantizeScaled(y, scale, q[..k]);
        q[k..].Clear();
        return scale;
    }

    /// <summary>
    /// q[i] = QuantizeOne(y[i]·scale), vectorized (TensorPrimitives' float→sbyte conversion is a scalar loop, and
    /// decode quantizes every projection's input). Rounding half away from zero is built from truncation, which is
    /// exact: t = trunc(v), v − t is exact in float, and |v − t| ≥ ½ moves t one step away from zero.
    /// </summary>
    public static void QuantizeScaled(ReadOnlySpan<float> y, float scale, Span<sbyte> q)
    {
        if (q.Length < y.Length)
            throw new ArgumentException("The output must be as long as the input.", nameof(q));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int step = 4 * Vector<float>.Count; // four float vectors narrow into one vector of bytes
            for (; i + step <= y.Length; i += step)
            {
                var a = Vector.Narrow(ToInt32(y.Slice(i), scale), ToInt32(y.Slice(i + Vector<float>.Count), scale));
                var b = Vector.Narrow(ToInt32(y.Slice(i + 2 * Vector<float>.Count), scale), ToInt32(y.Slice(i + 3 * Vector<float>.Count), scale));
                Vector.Narrow(a, b).CopyTo(q.Slice(i));
            }
        }
        for (; i < y.Length; i++)
            q[i] = QuantizeOne(y[i] * scale);
    }

    /// <summary>QuantizeOne of one vector of y·scale, as int32 lanes in [-128, 127].</summary>
    static Vector<int> ToInt32(ReadOnlySpan<float> y, float scale)
    {
        var v = new Vector<float>(y) * scale;
        var t = Vector.Truncate(v);
        var away = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(Vector.Abs(v - t), new Vector<float>(0.5f)), Vector.CopySign(Vector<float>.One, v), Vector<float>.Zero);
        var r = Vector.Min(Vector.Max(t + away, new Vector<float>(-128f)), new Vector<float>(127f));
        r = Vector.ConditionalSelect(Vector.Equals(v, v), r, Vector<float>.Zero); // NaN → 0
        return Vector.ConvertToInt32(r);
    }

    /// <summary><c>clamp(round_half_away_from_zero(v), -128, 127)</c> as Triton's libdevice round does.</summary>
    public static sbyte QuantizeOne(float v)
    {
        float r = MathF.Round(v, MidpointRounding.AwayFromZero);
        return r >= 127f ? (sbyte)127 : r <= -128f ? (sbyte)-128 : float.IsNaN(r) ? (sbyte)0 : (sbyte)r;
    }

    /// <summary><c>y = x * weight / sqrt(mean(x²) + eps)</c>, in fp32.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float rstd = 1f / MathF.Sqrt(meanSquare + eps);
        TensorPrimitives.Multiply(x, rstd, y);
        TensorPrimitives.Multiply(y, weight, y);
    }
}
