using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Edge.Format.Numerics;

/// <summary>
/// The official BitLinear input path (<c>_layer_norm_fwd_quant_kernel</c>): RMSNorm with the layer's own weight
/// (eps 1e-6), then per-token absmax int8 quantization rounded half away from zero.
/// </summary>
internal static class ActivationQuantizer
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
    /// <param name="x">The activations (length K).</param>
    /// <param name="normWeight">The RMSNorm weight (length K).</param>
    /// <param name="q">The int8 activations (length ≥ K).</param>
    /// <param name="normalized">Scratch of length K (holds the scaled, rounded values afterwards).</param>
    public static float Quantize(ReadOnlySpan<float> x, ReadOnlySpan<float> normWeight, Span<float> normalized, Span<sbyte> q)
    {
        int k = x.Length;
        if (normWeight.Length != k || normalized.Length < k || q.Length < k)
            throw new ArgumentException("Activation, norm weight and buffers must agree in length.");
        var y = normalized[..k];
        float absMax = Normalize(x, normWeight, InverseRms(x, NormEps), y);
        float scale = 127f / Math.Max(absMax, MinAbsMax);
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

    /// <summary>
    /// QuantizeOne of one vector of y·scale, as int32 lanes in [-128, 127]. Works on the magnitude, so the sign is
    /// one bitwise or, and uses the native min and convert (no NaN fix-ups): NaN lanes are masked to zero last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<int> ToInt32(ReadOnlySpan<float> y, float scale)
    {
        var v = new Vector<float>(y) * scale;
        var magnitude = Vector.Abs(v);
        var t = Vector.Truncate(magnitude);
        var r = t + (Vector.GreaterThanOrEqual(magnitude - t, new Vector<float>(0.5f)).As<int, float>() & Vector<float>.One);
        r = Vector.MinNative(r, new Vector<float>(128f)) | (v & new Vector<float>(-0f));
        r = Vector.MinNative(r, new Vector<float>(127f)) & Vector.Equals(v, v).As<int, float>();
        return Vector.ConvertToInt32Native(r);
    }

    /// <summary><c>clamp(round_half_away_from_zero(v), -128, 127)</c> as Triton's libdevice round does.</summary>
    public static sbyte QuantizeOne(float v)
    {
        float r = MathF.Round(v, MidpointRounding.AwayFromZero);
        return r >= 127f ? (sbyte)127 : r <= -128f ? (sbyte)-128 : float.IsNaN(r) ? (sbyte)0 : (sbyte)r;
    }

    /// <summary><c>y = x * weight / sqrt(mean(x²) + eps)</c>, in fp32.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y) =>
        Normalize(x, weight, InverseRms(x, eps), y);

    static float InverseRms(ReadOnlySpan<float> x, float eps) =>
        1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + eps);

    /// <summary>
    /// y = (x·rstd)·weight in one pass (the two roundings of two separate multiplies), returning max |y|, or NaN
    /// if any y is NaN, as <see cref="TensorPrimitives.MaxMagnitude{T}(ReadOnlySpan{T})"/> would.
    /// </summary>
    static float Normalize(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float rstd, Span<float> y)
    {
        int k = x.Length;
        if (weight.Length != k || y.Length < k)
            throw new ArgumentException("Activation, norm weight and output must agree in length.");
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float pw = ref MemoryMarshal.GetReference(weight);
        ref float py = ref MemoryMarshal.GetReference(y);
        var max = Vector<float>.Zero;
        var nan = Vector<int>.Zero;
        int i = 0;
        for (; i + Vector<float>.Count <= k; i += Vector<float>.Count)
        {
            var v = Vector.LoadUnsafe(ref px, (nuint)i) * rstd * Vector.LoadUnsafe(ref pw, (nuint)i);
            v.StoreUnsafe(ref py, (nuint)i);
            max = Vector.MaxNative(max, Vector.Abs(v));
            nan |= ~Vector.Equals(v, v);
        }
        float absMax = 0;
        for (int lane = 0; lane < Vector<float>.Count; lane++)
            absMax = Math.Max(absMax, max[lane]);
        bool anyNaN = nan != Vector<int>.Zero;
        for (; i < k; i++)
        {
            y[i] = x[i] * rstd * weight[i];
            absMax = Math.Max(absMax, MathF.Abs(y[i]));
            anyNaN |= float.IsNaN(y[i]);
        }
        return anyNaN ? float.NaN : absMax;
    }
}
