using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Edge.Runtime.Model;

/// <summary>
/// σ(x) = 1/(1+e^−x) and silu(x) = x·σ(x) over spans, in float32 throughout (<c>TensorPrimitives.Sigmoid</c> computes
/// its exp in double), for the recurrence, which takes one σ and two silu per hidden element and token, and the GLU.
/// Within 2 ulp of the exact values over the whole float range (1.1 ulp measured over every float), subnormal results
/// included; σ(+∞) = 1, σ(−∞) = 0, NaN stays NaN. Every element goes through the same lane-wise operations whatever its
/// index and the span's length (a short span is padded to a vector), so a vector cut into slices gives the same bits
/// as the whole.
/// </summary>
internal static class Activations
{
    /// <summary>destination = σ(x); destination may be x itself but must not otherwise overlap it.</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> destination) => Map<SigmoidFunction>(x, destination);

    /// <summary>destination = x·σ(x); destination may be x itself but must not otherwise overlap it.</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> destination) => Map<SiluFunction>(x, destination);

    // e^a = 2^n·e^r with n = round(a·log2 e) and r = a − n·ln2, |r| ≤ ln2/2; ln2 is split in two so that r is exact
    // but for its last rounding. e^r − 1 ≈ r + r²·(c2 + c3·r + … + c6·r⁴): a minimax fit of relative error 6.6e-9
    // (0.06 ulp) to e^r, kept apart from the 1 so that the rounding of 1 + (e^r − 1) can be recovered.
    const float Log2E = 1.442695f;
    const float Ln2High = 0.6931472f;
    const float Ln2Low = -1.9046542e-9f;
    const float C2 = 0.5f, C3 = 0.16666545f, C4 = 0.041666865f, C5 = 0.008366377f, C6 = 0.0013905067f;

    /// <summary>Below e^−110 both σ and silu round to zero; clamping there keeps n within [−159, 0].</summary>
    const float MinExpArgument = -110f;

    /// <summary>
    /// 1.5·2^23 + 127 + 64: adding it rounds a·log2 e to an integer n held in the low mantissa bits as n + 191, which a
    /// shift by 23 moves into the exponent field, giving 2^(n+64): a normal float for every n in [−159, 0].
    /// </summary>
    const float Shifter = 12582912f + 127f + 64f;

    /// <summary>2^−64, undoing the scale of 2^(n+64); the one multiply that rounds where a result is subnormal.</summary>
    const float Unscale = 1f / 18446744073709551616f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVector Sigmoid<TVector>(TVector x) where TVector : struct, IFloatVector<TVector>
    {
        var negative = TVector.SignMask(x);
        var q = ScaledSigmoid(x, negative, out _, out var residual, out var reciprocal);
        return TVector.FusedMultiplyAdd(residual, reciprocal, q) * TVector.Select(negative, Unscale, 1f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVector Silu<TVector>(TVector x) where TVector : struct, IFloatVector<TVector>
    {
        var negative = TVector.SignMask(x);
        var q = ScaledSigmoid(x, negative, out var a, out var residual, out var reciprocal);
        // x·(q + residual·reciprocal), rounded once. Where x is negative the clamped a (= x down to −110) stands in for x,
        // so that silu(−∞) = −0 rather than −∞·0; the correction term, zero from x = 104 on, is multiplied by ±|a| rather
        // than x for the same reason at +∞.
        return TVector.FusedMultiplyAdd(TVector.Select(negative, a, x), q, TVector.CopySign(a, x) * residual * reciprocal)
            * TVector.Select(negative, Unscale, 1f);
    }

    /// <summary>
    /// σ(x) with t = e^−|x|: 1/(1+t) where x's sign bit is clear, t/(1+t) scaled by 2^64 (so that it stays a normal float)
    /// where it is set; t never overflows, and σ is never 1 − something close to 1. Returned as the unevaluated
    /// q + residual·reciprocal: the residual makes up for the roundings of the numerator, of 1+t and of the quotient,
    /// which alone would leave up to 2.4 ulp. <paramref name="a"/> = max(−|x|, −110), NaN staying NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TVector ScaledSigmoid<TVector>(TVector x, TVector negative, out TVector a, out TVector residual, out TVector reciprocal)
        where TVector : struct, IFloatVector<TVector>
    {
        a = TVector.AtLeast(TVector.CopySign(x, -1f), MinExpArgument);
        var z = TVector.FusedMultiplyAdd(a, Log2E, Shifter);
        var n = z - Shifter;
        var r = TVector.FusedMultiplyAdd(n, -Ln2High, a);
        r = TVector.FusedMultiplyAdd(n, -Ln2Low, r);
        var c = TVector.FusedMultiplyAdd(C6, r, C5);
        c = TVector.FusedMultiplyAdd(c, r, C4);
        c = TVector.FusedMultiplyAdd(c, r, C3);
        c = TVector.FusedMultiplyAdd(c, r, C2);
        var expm1 = TVector.FusedMultiplyAdd(r * r, c, r); // e^r − 1
        var scale = TVector.ShiftBitsLeft(z, 23);          // 2^(n+64)
        var head = TVector.FusedMultiplyAdd(expm1, scale, scale);
        var headError = TVector.FusedMultiplyAdd(expm1, scale, scale - head); // scale − head is exact
        var t = head * Unscale;

        var d = t + 1f;
        var dError = t - (d - 1f); // d + dError = 1 + t exactly, as t ≤ 1
        // The numerator, 2^(n+64)·(1 + expm1) or 1, as a float and the part it leaves out.
        var numerator = TVector.Select(negative, head, 1f);
        var numeratorError = TVector.Select(negative, headError, 0f);
        reciprocal = 1f / d;
        var q = numerator * reciprocal;
        residual = TVector.FusedMultiplyAdd(-q, dError, numeratorError) + TVector.FusedMultiplyAdd(-q, d, numerator);
        return q;
    }

    static void Map<TFunction>(ReadOnlySpan<float> x, Span<float> destination) where TFunction : IVectorFunction
    {
        if (destination.Length < x.Length)
            throw new ArgumentException("The destination must be as long as the input.", nameof(destination));
        if (x.Overlaps(destination, out int offset) && offset != 0)
            throw new ArgumentException("The destination may be the input but must not otherwise overlap it.", nameof(destination));
        // The widest vector that fits; shorter spans take narrower vectors, which give the same bits lane for lane.
        if (Vector512.IsHardwareAccelerated && x.Length >= FloatVector512.Count)
            Map<FloatVector512, TFunction>(x, destination);
        else if (Vector256.IsHardwareAccelerated && x.Length >= FloatVector256.Count)
            Map<FloatVector256, TFunction>(x, destination);
        else if (x.Length >= FloatVector128.Count)
            Map<FloatVector128, TFunction>(x, destination);
        else if (!x.IsEmpty)
        {
            Span<float> padded = stackalloc float[FloatVector128.Count];
            x.CopyTo(padded);
            Map<FloatVector128, TFunction>(padded, padded);
            padded[..x.Length].CopyTo(destination);
        }
    }

    /// <summary>Whole vectors, the last one ending at the end of x (overlapping its predecessor unless x.Length is a multiple of the width).</summary>
    static void Map<TVector, TFunction>(ReadOnlySpan<float> x, Span<float> destination)
        where TVector : struct, IFloatVector<TVector>
        where TFunction : IVectorFunction
    {
        ref float source = ref MemoryMarshal.GetReference(x);
        ref float target = ref MemoryMarshal.GetReference(destination);
        nuint last = (nuint)(x.Length - TVector.Count);
        var lastVector = TVector.Load(ref source, last); // read before anything is written, in case destination is x
        for (nuint i = 0; i < last; i += (nuint)TVector.Count)
            TFunction.Apply(TVector.Load(ref source, i)).Store(ref target, i);
        TFunction.Apply(lastVector).Store(ref target, last);
    }

    interface IVectorFunction
    {
        static abstract TVector Apply<TVector>(TVector x) where TVector : struct, IFloatVector<TVector>;
    }

    readonly struct SigmoidFunction : IVectorFunction
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TVector>(TVector x) where TVector : struct, IFloatVector<TVector> => Sigmoid(x);
    }

    readonly struct SiluFunction : IVectorFunction
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TVector Apply<TVector>(TVector x) where TVector : struct, IFloatVector<TVector> => Silu(x);
    }
}
