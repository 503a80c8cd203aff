using System.Runtime.Intrinsics.X86;

namespace Edge.Runtime.Kernels;

/// <summary>
/// For x86 cores whose 512-bit units are full width (Zen 5, Intel since Sapphire Rapids): decode's GEMV is the AVX2
/// kernel's, the batched products (prefill, several sequences per step, prompt-lookup batches) the AVX-512 kernel's,
/// which on such a core run about 1.7-1.9 times as fast as AVX2's (docs/PERFORMANCE.md, "AVX-512 batched products").
/// Zen 4 runs 512-bit operations as two halves, where AVX2's batched loop is as fast; it also lacks the VEX-encoded
/// AVX-VNNI that Zen 5 and those Intel cores have, so AVX-VNNI stands for full width here.
/// </summary>
internal sealed class Avx2Avx512TernaryKernel : TernaryKernel
{
    public static bool IsSupported => Avx2TernaryKernel.IsSupported && Avx512TernaryKernel.IsSupported && AvxVnni.IsSupported;

    public override string Name => "avx2-avx512";

    public override string Description => "avx2's GEMV for decode, avx512's batched products (cores with full-width 512-bit units)";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByFourRows<Avx2TernaryKernel.Rows>(w, rowStart, x, xSum, y);

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulByTokenGroups<Avx512TernaryKernel.Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);
}
