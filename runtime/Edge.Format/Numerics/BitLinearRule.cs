using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Edge.Format.Numerics;

/// <summary>
/// How a BitLinear output is rebuilt from the exact integer sum: <c>out_j = acc_j · (weightScale / activationScale)</c>,
/// with <c>acc_j = Σ_k t_jk · q_k</c> (the official <c>yq · Wq</c> is <c>(q/sx)·(t·β)</c>). Every kernel, the FPGA
/// path and the tests apply this one epilogue, so equal integer sums give bit-identical outputs.
/// </summary>
internal static class BitLinearRule
{
    public static float OutputFactor(float weightScale, float activationScale) => weightScale / activationScale;

    public static void Rescale(ReadOnlySpan<int> sums, float factor, Span<float> output)
    {
        // (float)sums[j] * factor, the same two roundings as the scalar expression, in one pass: prefill rescales
        // megabytes of sums per layer, and a convert pass then a multiply pass would stream them through the cache twice.
        if (output.Length < sums.Length)
            throw new ArgumentException($"The output has room for {output.Length} values; {sums.Length} sums need rescaling.", nameof(output));
        ref int source = ref MemoryMarshal.GetReference(sums);
        ref float destination = ref MemoryMarshal.GetReference(output);
        int n = sums.Length, j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + Vector512<int>.Count <= n; j += Vector512<int>.Count)
                (Vector512.ConvertToSingle(Vector512.LoadUnsafe(ref source, (nuint)j)) * factor).StoreUnsafe(ref destination, (nuint)j);
        if (Vector256.IsHardwareAccelerated)
            for (; j + Vector256<int>.Count <= n; j += Vector256<int>.Count)
                (Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref source, (nuint)j)) * factor).StoreUnsafe(ref destination, (nuint)j);
        if (Vector128.IsHardwareAccelerated)
            for (; j + Vector128<int>.Count <= n; j += Vector128<int>.Count)
                (Vector128.ConvertToSingle(Vector128.LoadUnsafe(ref source, (nuint)j)) * factor).StoreUnsafe(ref destination, (nuint)j);
        for (; j < n; j++)
            Unsafe.Add(ref destination, j) = Unsafe.Add(ref source, j) * factor;
    }
}
