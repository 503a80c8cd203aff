using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// AVX-512BW: one 64-byte load is a whole block; one GFNI affine transform (or a shift and an AND) gives the 64
/// codes of each of its four 64-weight lanes, which meet the 64 matching activations in one 512-bit <c>vpmaddubsw</c>; <c>vpmaddwd</c> by ones widens.
/// Half the instructions of the AVX2 kernel per weight (Zen 4 splits 512-bit operations in two, so the gain is
/// in decode and issue slots, not in arithmetic).
/// </summary>
/// <remarks>
/// Overflow: each block adds 4 pair sums ∈ [-512, 508] into every int16 lane of a row × token accumulator (GEMV and
/// both batched paths), so <see cref="BlocksPerWiden"/> = 16 blocks give at most 64 of them, [-32768, 32512], before
/// widening. On Zen 4 the batched product is still slower than AVX2's: the register-only vpmaddubsw + vpaddw
/// loop peaks lower with zmm than with ymm there (<c>Edge.Benchmarks peak</c>; docs/PERFORMANCE.md, "Decode and
/// prefill per thread count").
/// </remarks>
internal sealed unsafe class Avx512TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 16;

    public static bool IsSupported => Avx512BW.IsSupported;

    public override string Name => "avx512";

    public override string Description => "512-bit vpmaddubsw codes×int8 into int16, widened every 4096 weights";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByFourRows<Rows>(w, rowStart, x, xSum, y);

    /// <summary>The AVX-512 loops; <see cref="Avx2Avx512TernaryKernel"/> takes its batched products from them.</summary>
    internal readonly struct Rows : IRowDotFourRows, IRowTokenGroups
    {
        public static void PackEight(sbyte* x, int k, int tokens, int blocks, sbyte* packed) =>
            InterleaveEight(x, k, tokens, blocks * TernaryPacking.BlockWeights / 64, 64, packed);

        public static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride) =>
            Avx512TernaryKernel.RowEightTokens(row, packed, blocks, sums, tokens, y, yStride);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            Avx512TernaryKernel.DotFourTokens(row, x, k, blocks, sums, y, yStride);

        public static void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            Avx512TernaryKernel.DotTwoRowsFourTokens(row, rowBytes, x, k, blocks, sums, y, yStride);

        // No two-token loop yet (measured only for AVX2): the 2-3 tokens left over take single-token products.
        public static void DotTwoTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            DotEachOfTwoTokens<Rows>(row, x, k, blocks, sums, y, yStride);

        public static int Dot(byte* row, sbyte* x, int blocks) => Vector512.Sum(RowSums(row, x, blocks));

        public static Vector128<int> DotFourRows(byte* row, long rowBytes, sbyte* x, int blocks) =>
            SumFour(Fold(RowSums(row, x, blocks)), Fold(RowSums(row + rowBytes, x, blocks)),
                Fold(RowSums(row + 2 * rowBytes, x, blocks)), Fold(RowSums(row + 3 * rowBytes, x, blocks)));
    }

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulByTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    /// <summary>
    /// One weight row against the eight packed activation vectors: each 64 codes are unpacked once and used eight
    /// times; the loads fold into the multiply-adds. At most <see cref="TernaryKernel.MaxEightTokenBlocks"/> blocks, fewer than <see cref="BlocksPerWiden"/>: one widening.
    /// </summary>
    static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride)
    {
        Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int block = 0; block < blocks; block++)
        {
            var codes = Vector512.Load(row + block * TernaryPacking.BlockBytes);
            sbyte* xb = packed + block * TernaryPacking.BlockWeights * TokensPerGroup;
            AccumulateEight(codes & Vector512.Create((byte)3), xb, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            AccumulateEight(Codes(codes, 2), xb + 512, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            AccumulateEight(Codes(codes, 4), xb + 1024, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            AccumulateEight(Codes(codes, 6), xb + 1536, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
        }
        StoreEight(SumEight(s0, s1, s2, s3, s4, s5, s6, s7) - Avx.LoadVector256(sums), tokens, y, yStride);
    }

    /// <summary>[Σa, …, Σh] over eight int16 accumulators: widened, halves folded, three rounds of <c>vphaddd</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> SumEight(Vector512<short> s0, Vector512<short> s1, Vector512<short> s2, Vector512<short> s3,
        Vector512<short> s4, Vector512<short> s5, Vector512<short> s6, Vector512<short> s7)
    {
        var abcd = Avx2.HorizontalAdd(Avx2.HorizontalAdd(Fold(Widen(s0)), Fold(Widen(s1))), Avx2.HorizontalAdd(Fold(Widen(s2)), Fold(Widen(s3))));
        var efgh = Avx2.HorizontalAdd(Avx2.HorizontalAdd(Fold(Widen(s4)), Fold(Widen(s5))), Avx2.HorizontalAdd(Fold(Widen(s6)), Fold(Widen(s7))));
        return Avx2.Permute2x128(abcd, efgh, 0x20) + Avx2.Permute2x128(abcd, efgh, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void AccumulateEight(Vector512<byte> codes, sbyte* x,
        ref Vector512<short> s0, ref Vector512<short> s1, ref Vector512<short> s2, ref Vector512<short> s3,
        ref Vector512<short> s4, ref Vector512<short> s5, ref Vector512<short> s6, ref Vector512<short> s7)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + 64);
        s2 += Madd(codes, x + 128);
        s3 += Madd(codes, x + 192);
        s4 += Madd(codes, x + 256);
        s5 += Madd(codes, x + 320);
        s6 += Madd(codes, x + 384);
        s7 += Madd(codes, x + 448);
    }

    /// <summary>The codes of the weights in bits shift..shift+1 of every byte.</summary>
    /// <remarks>
    /// With GFNI one <c>gf2p8affineqb</c> moves the two bits down and clears the rest (bit i of the result is the
    /// parity of the byte ANDed with row 7-i of the matrix, so rows 7 and 6 select bits shift and shift+1), one
    /// instruction instead of a shift and an AND, one operation fewer per code vector. Without GFNI, shift and mask.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> Codes(Vector512<byte> packed, [ConstantExpected] byte shift)
    {
        if (Gfni.V512.IsSupported)
        {
            ulong matrix = ((ulong)(1u << shift) << 56) | ((ulong)(2u << shift) << 48);
            return Gfni.V512.GaloisFieldAffineTransform(packed, Vector512.Create(matrix).AsByte(), 0);
        }
        return Avx512BW.ShiftRightLogical(packed.AsUInt16(), shift).AsByte() & Vector512.Create((byte)3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<short> Madd(Vector512<byte> codes, sbyte* x) => Avx512BW.MultiplyAddAdjacent(codes, Vector512.Load(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Block(Vector512<byte> packed, sbyte* x) =>
        (Madd(packed & Vector512.Create((byte)3), x) + Madd(Codes(packed, 2), x + 64))
        + (Madd(Codes(packed, 4), x + 128) + Madd(Codes(packed, 6), x + 192));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> Widen(Vector512<short> sums) => Avx512BW.MultiplyAddAdjacent(sums, Vector512.Create((short)1));

    /// <summary>One row's dot product as sixteen int32 lanes, before the horizontal sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> RowSums(byte* row, sbyte* x, int blocks)
    {
        var acc = Vector512<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            var sums = Vector512<short>.Zero;
            for (int block = start; block < end; block++)
                sums += Block(Vector512.Load(row + block * TernaryPacking.BlockBytes), x + block * TernaryPacking.BlockWeights);
            acc += Widen(sums);
        }
        return acc;
    }

    /// <summary>
    /// [Σa, Σb, Σc, Σd] over the int32 lanes of four accumulators: two rounds of <c>vphaddd</c> and one add of the
    /// 128-bit halves, instead of four separate reductions: on K = 1024 products the reductions are a tenth of the
    /// work.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> SumFour(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d)
    {
        var sums = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d));
        return sums.GetLower() + sums.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> Fold(Vector512<int> v) => v.GetLower() + v.GetUpper();

    /// <summary>One weight row against four activation vectors: each 64 codes are unpacked once and used four times.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
    {
        Vector512<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int block = start; block < end; block++)
            {
                var packed = Vector512.Load(row + block * TernaryPacking.BlockBytes);
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                Accumulate(packed & Vector512.Create((byte)3), xb, k, ref s0, ref s1, ref s2, ref s3);
                Accumulate(Codes(packed, 2), xb + 64, k, ref s0, ref s1, ref s2, ref s3);
                Accumulate(Codes(packed, 4), xb + 128, k, ref s0, ref s1, ref s2, ref s3);
                Accumulate(Codes(packed, 6), xb + 192, k, ref s0, ref s1, ref s2, ref s3);
            }
            acc0 += Widen(s0);
            acc1 += Widen(s1);
            acc2 += Widen(s2);
            acc3 += Widen(s3);
        }
        var r = SumFour(Fold(acc0), Fold(acc1), Fold(acc2), Fold(acc3)) - Sse2.LoadVector128(sums);
        y[0] = r.ToScalar();
        y[yStride] = r.GetElement(1);
        y[2 * yStride] = r.GetElement(2);
        y[3 * yStride] = r.GetElement(3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Accumulate(Vector512<byte> codes, sbyte* x, int k, ref Vector512<short> s0, ref Vector512<short> s1, ref Vector512<short> s2, ref Vector512<short> s3)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + k);
        s2 += Madd(codes, x + 2 * k);
        s3 += Madd(codes, x + 3 * k);
    }

    /// <summary>Two adjacent weight rows against four activation vectors: eight sums from each pair of unpacked codes.</summary>
    static void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
    {
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<int> b0 = default, b1 = default, b2 = default, b3 = default;
        byte* next = row + rowBytes;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector512<short> sa0 = default, sa1 = default, sa2 = default, sa3 = default;
            Vector512<short> sb0 = default, sb1 = default, sb2 = default, sb3 = default;
            for (int block = start; block < end; block++)
            {
                var packedA = Vector512.Load(row + block * TernaryPacking.BlockBytes);
                var packedB = Vector512.Load(next + block * TernaryPacking.BlockBytes);
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                var mask = Vector512.Create((byte)3);
                AccumulateTwo(packedA & mask, packedB & mask, xb, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                AccumulateTwo(Codes(packedA, 2), Codes(packedB, 2), xb + 64, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                AccumulateTwo(Codes(packedA, 4), Codes(packedB, 4), xb + 128, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                AccumulateTwo(Codes(packedA, 6), Codes(packedB, 6), xb + 192, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
            }
            a0 += Widen(sa0);
            a1 += Widen(sa1);
            a2 += Widen(sa2);
            a3 += Widen(sa3);
            b0 += Widen(sb0);
            b1 += Widen(sb1);
            b2 += Widen(sb2);
            b3 += Widen(sb3);
        }
        var s4 = Sse2.LoadVector128(sums);
        var ra = SumFour(Fold(a0), Fold(a1), Fold(a2), Fold(a3)) - s4;
        var rb = SumFour(Fold(b0), Fold(b1), Fold(b2), Fold(b3)) - s4;
        y[0] = ra.ToScalar();
        y[1] = rb.ToScalar();
        y[yStride] = ra.GetElement(1);
        y[yStride + 1] = rb.GetElement(1);
        y[2 * yStride] = ra.GetElement(2);
        y[2 * yStride + 1] = rb.GetElement(2);
        y[3 * yStride] = ra.GetElement(3);
        y[3 * yStride + 1] = rb.GetElement(3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AccumulateTwo(Vector512<byte> codesA, Vector512<byte> codesB, sbyte* x, int k,
        ref Vector512<short> sa0, ref Vector512<short> sa1, ref Vector512<short> sa2, ref Vector512<short> sa3,
        ref Vector512<short> sb0, ref Vector512<short> sb1, ref Vector512<short> sb2, ref Vector512<short> sb3)
    {
        var x0 = Vector512.Load(x);
        sa0 += Avx512BW.MultiplyAddAdjacent(codesA, x0);
        sb0 += Avx512BW.MultiplyAddAdjacent(codesB, x0);
        var x1 = Vector512.Load(x + k);
        sa1 += Avx512BW.MultiplyAddAdjacent(codesA, x1);
        sb1 += Avx512BW.MultiplyAddAdjacent(codesB, x1);
        var x2 = Vector512.Load(x + 2 * k);
        sa2 += Avx512BW.MultiplyAddAdjacent(codesA, x2);
        sb2 += Avx512BW.MultiplyAddAdjacent(codesB, x2);
        var x3 = Vector512.Load(x + 3 * k);
        sa3 += Avx512BW.MultiplyAddAdjacent(codesA, x3);
        sb3 += Avx512BW.MultiplyAddAdjacent(codesB, x3);
    }
}
