using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// AVX2: <c>vpmaddubsw</c> multiplies codes t+1 ∈ {0,1,2} (u8) by activations (s8) and adds pairs into int16;
/// Σx is subtracted once per row to undo the +1. Decode unpacks with one shift per 32 bytes instead of three:
/// lanes 0 and 2 are masked with 3 (codes), lanes 1 and 3 with 12 in place, which gives 4·codes, and go to a
/// second accumulator that is divided by 4 at the end (exact: every term is a multiple of 4).
/// </summary>
/// <remarks>
/// Overflow, decode: a pair sum is (t+1)·x + (t+1)·x ∈ [-512, 508] (x ∈ [-128, 127]), ×4 for the in-place lanes.
/// Each block adds 4 of them to every int16 lane of each accumulator, so after <see cref="BlocksPerWidenScaled"/> = 4
/// blocks the scaled accumulator holds 16 · [-2048, 2032] = [-32768, 32512]: exactly int16; then both are widened
/// with <c>vpmaddwd</c> by ones. Batched products keep the unscaled codes (shift and mask per lane); each row × token
/// accumulator gets 8 pair sums per block (2 halves × 4 lanes), so it is widened after <see cref="BlocksPerWiden"/> = 8
/// blocks (64 pair sums). No saturation can occur: one pair is far below the limits.
/// </remarks>
internal sealed unsafe class Avx2TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;
    const int BlocksPerWidenScaled = 4;

    public static bool IsSupported => Avx2.IsSupported;

    public override string Name => "avx2";

    public override string Description => "vpmaddubsw codes×int8 into int16 (in-place masks, one shift per 128 weights), widened every 1024 weights";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByFourRows<Rows>(w, rowStart, x, xSum, y);

    /// <summary>The AVX2 loops; <see cref="Avx2Avx512TernaryKernel"/> takes its GEMV from them.</summary>
    internal readonly struct Rows : IRowDotFourRows, IRowTokenGroups
    {
        public static void PackEight(sbyte* x, int k, int tokens, int blocks, sbyte* packed) =>
            InterleaveEight(x, k, tokens, blocks * TernaryPacking.BlockWeights / 32, 32, packed);

        public static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride) =>
            Avx2TernaryKernel.RowEightTokens(row, packed, blocks, sums, tokens, y, yStride);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            Avx2TernaryKernel.DotFourTokens(row, x, k, blocks, sums, y, yStride);

        public static void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            Avx2TernaryKernel.DotTwoRowsFourTokens(row, rowBytes, x, k, blocks, sums, y, yStride);

        public static void DotTwoTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            Avx2TernaryKernel.DotTwoTokens(row, x, k, blocks, sums, y, yStride);

        public static int Dot(byte* row, sbyte* x, int blocks) => Vector256.Sum(RowSums(row, x, blocks));

        public static Vector128<int> DotFourRows(byte* row, long rowBytes, sbyte* x, int blocks) =>
            SumFour(RowSums(row, x, blocks), RowSums(row + rowBytes, x, blocks),
                RowSums(row + 2 * rowBytes, x, blocks), RowSums(row + 3 * rowBytes, x, blocks));
    }

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulByTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Codes(Vector256<byte> packed, [ConstantExpected] byte shift) =>
        Avx2.ShiftRightLogical(packed.AsUInt16(), shift).AsByte() & Vector256.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Madd(Vector256<byte> codes, sbyte* x) => Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Widen(Vector256<short> sums) => Avx2.MultiplyAddAdjacent(sums, Vector256.Create((short)1));

    /// <summary>One row's dot product as eight int32 lanes, before the horizontal sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> RowSums(byte* row, sbyte* x, int blocks)
    {
        var codeMask = Vector256.Create((byte)3);
        var scaledMask = Vector256.Create((byte)12);
        Vector256<int> acc = default, accScaled = default;
        for (int start = 0; start < blocks; start += BlocksPerWidenScaled)
        {
            int end = Math.Min(blocks, start + BlocksPerWidenScaled);
            Vector256<short> sums = default, scaled = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                var low0 = Avx.LoadVector256(wb);
                var low1 = Avx.LoadVector256(wb + 32);
                var high0 = Avx2.ShiftRightLogical(low0.AsUInt16(), 4).AsByte();
                var high1 = Avx2.ShiftRightLogical(low1.AsUInt16(), 4).AsByte();
                sums += (Madd(low0 & codeMask, xb) + Madd(low1 & codeMask, xb + 32))
                    + (Madd(high0 & codeMask, xb + 128) + Madd(high1 & codeMask, xb + 160));
                scaled += (Madd(low0 & scaledMask, xb + 64) + Madd(low1 & scaledMask, xb + 96))
                    + (Madd(high0 & scaledMask, xb + 192) + Madd(high1 & scaledMask, xb + 224));
            }
            acc += Widen(sums);
            accScaled += Widen(scaled);
        }
        return acc + Avx2.ShiftRightArithmetic(accScaled, 2);
    }

    /// <summary>
    /// One weight row against two activation vectors k apart, with the decode loop's in-place masks: each 64 packed
    /// bytes are shifted once and masked eight times for both tokens.
    /// </summary>
    static void DotTwoTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
    {
        var codeMask = Vector256.Create((byte)3);
        var scaledMask = Vector256.Create((byte)12);
        sbyte* x1 = x + k;
        Vector256<int> acc0 = default, accScaled0 = default, acc1 = default, accScaled1 = default;
        for (int start = 0; start < blocks; start += BlocksPerWidenScaled)
        {
            int end = Math.Min(blocks, start + BlocksPerWidenScaled);
            Vector256<short> sums0 = default, scaled0 = default, sums1 = default, scaled1 = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                int offset = block * TernaryPacking.BlockWeights;
                var low0 = Avx.LoadVector256(wb);
                var low1 = Avx.LoadVector256(wb + 32);
                var high0 = Avx2.ShiftRightLogical(low0.AsUInt16(), 4).AsByte();
                var high1 = Avx2.ShiftRightLogical(low1.AsUInt16(), 4).AsByte();
                TwoTokensOf(low0 & codeMask, x + offset, x1 + offset, ref sums0, ref sums1);
                TwoTokensOf(low1 & codeMask, x + offset + 32, x1 + offset + 32, ref sums0, ref sums1);
                TwoTokensOf(high0 & codeMask, x + offset + 128, x1 + offset + 128, ref sums0, ref sums1);
                TwoTokensOf(high1 & codeMask, x + offset + 160, x1 + offset + 160, ref sums0, ref sums1);
                TwoTokensOf(low0 & scaledMask, x + offset + 64, x1 + offset + 64, ref scaled0, ref scaled1);
                TwoTokensOf(low1 & scaledMask, x + offset + 96, x1 + offset + 96, ref scaled0, ref scaled1);
                TwoTokensOf(high0 & scaledMask, x + offset + 192, x1 + offset + 192, ref scaled0, ref scaled1);
                TwoTokensOf(high1 & scaledMask, x + offset + 224, x1 + offset + 224, ref scaled0, ref scaled1);
            }
            acc0 += Widen(sums0);
            accScaled0 += Widen(scaled0);
            acc1 += Widen(sums1);
            accScaled1 += Widen(scaled1);
        }
        y[0] = Vector256.Sum(acc0 + Avx2.ShiftRightArithmetic(accScaled0, 2)) - sums[0];
        y[yStride] = Vector256.Sum(acc1 + Avx2.ShiftRightArithmetic(accScaled1, 2)) - sums[1];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void TwoTokensOf(Vector256<byte> codes, sbyte* x0, sbyte* x1, ref Vector256<short> s0, ref Vector256<short> s1)
    {
        s0 += Madd(codes, x0);
        s1 += Madd(codes, x1);
    }

    /// <summary>[Σa, Σb, …, Σh] over the int32 lanes of eight accumulators: three rounds of <c>vphaddd</c> and one add of 128-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> SumEight(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d,
        Vector256<int> e, Vector256<int> f, Vector256<int> g, Vector256<int> h)
    {
        var abcd = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d));
        var efgh = Avx2.HorizontalAdd(Avx2.HorizontalAdd(e, f), Avx2.HorizontalAdd(g, h));
        return Avx2.Permute2x128(abcd, efgh, 0x20) + Avx2.Permute2x128(abcd, efgh, 0x31);
    }

    /// <summary>
    /// One weight row against the eight packed activation vectors: each 32 codes are unpacked once and used
    /// eight times; the loads fold into the multiply-adds.
    /// </summary>
    static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride)
    {
        var mask = Vector256.Create((byte)3);
        Vector256<int> w0 = default, w1 = default, w2 = default, w3 = default, w4 = default, w5 = default, w6 = default, w7 = default;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector256<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = packed + block * TernaryPacking.BlockWeights * TokensPerGroup;
                for (int half = 0; half < 2; half++)
                {
                    // Lane l of this half is chunk 2·l + half of the block: 256 packed bytes per chunk.
                    var codes = Avx.LoadVector256(wb + 32 * half);
                    sbyte* xh = xb + 256 * half;
                    AccumulateEight(codes & mask, xh, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
                    AccumulateEight(Codes(codes, 2), xh + 512, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
                    AccumulateEight(Codes(codes, 4), xh + 1024, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
                    AccumulateEight(Codes(codes, 6), xh + 1536, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
                }
            }
            w0 += Widen(s0);
            w1 += Widen(s1);
            w2 += Widen(s2);
            w3 += Widen(s3);
            w4 += Widen(s4);
            w5 += Widen(s5);
            w6 += Widen(s6);
            w7 += Widen(s7);
        }
        StoreEight(SumEight(w0, w1, w2, w3, w4, w5, w6, w7) - Avx.LoadVector256(sums), tokens, y, yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AccumulateEight(Vector256<byte> codes, sbyte* x,
        ref Vector256<short> s0, ref Vector256<short> s1, ref Vector256<short> s2, ref Vector256<short> s3,
        ref Vector256<short> s4, ref Vector256<short> s5, ref Vector256<short> s6, ref Vector256<short> s7)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + 32);
        s2 += Madd(codes, x + 64);
        s3 += Madd(codes, x + 96);
        s4 += Madd(codes, x + 128);
        s5 += Madd(codes, x + 160);
        s6 += Madd(codes, x + 192);
        s7 += Madd(codes, x + 224);
    }

    /// <summary>
    /// [Σa, Σb, Σc, Σd] over the int32 lanes of four accumulators: two rounds of <c>vphaddd</c> and one add of the
    /// 128-bit halves, instead of four separate reductions: on K = 1024 products the reductions are a tenth of the
    /// work.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<int> SumFour(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d)
    {
        var sums = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d));
        return sums.GetLower() + sums.GetUpper();
    }

    /// <summary>One weight row against four activation vectors: each 32 codes are unpacked once and used four times.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
    {
        Vector256<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var mask = Vector256.Create((byte)3);
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector256<short> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int half = 0; half < 2; half++)
                {
                    var packed = Avx.LoadVector256(wb + 32 * half);
                    sbyte* xh = xb + 32 * half;
                    Accumulate(packed & mask, xh, k, ref s0, ref s1, ref s2, ref s3);
                    Accumulate(Codes(packed, 2), xh + 64, k, ref s0, ref s1, ref s2, ref s3);
                    Accumulate(Codes(packed, 4), xh + 128, k, ref s0, ref s1, ref s2, ref s3);
                    Accumulate(Codes(packed, 6), xh + 192, k, ref s0, ref s1, ref s2, ref s3);
                }
            }
            acc0 += Widen(s0);
            acc1 += Widen(s1);
            acc2 += Widen(s2);
            acc3 += Widen(s3);
        }
        var r = SumFour(acc0, acc1, acc2, acc3) - Sse2.LoadVector128(sums);
        y[0] = r.ToScalar();
        y[yStride] = r.GetElement(1);
        y[2 * yStride] = r.GetElement(2);
        y[3 * yStride] = r.GetElement(3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Accumulate(Vector256<byte> codes, sbyte* x, int k, ref Vector256<short> s0, ref Vector256<short> s1, ref Vector256<short> s2, ref Vector256<short> s3)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + k);
        s2 += Madd(codes, x + 2 * k);
        s3 += Madd(codes, x + 3 * k);
    }

    /// <summary>Two adjacent weight rows against four activation vectors: eight sums from each pair of unpacked codes.</summary>
    static void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
    {
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<int> b0 = default, b1 = default, b2 = default, b3 = default;
        byte* next = row + rowBytes;
        var mask = Vector256.Create((byte)3);
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector256<short> sa0 = default, sa1 = default, sa2 = default, sa3 = default;
            Vector256<short> sb0 = default, sb1 = default, sb2 = default, sb3 = default;
            for (int block = start; block < end; block++)
            {
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int half = 0; half < 2; half++)
                {
                    int offset = block * TernaryPacking.BlockBytes + 32 * half;
                    var packedA = Avx.LoadVector256(row + offset);
                    var packedB = Avx.LoadVector256(next + offset);
                    sbyte* xh = xb + 32 * half;
                    AccumulateTwo(packedA & mask, packedB & mask, xh, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                    AccumulateTwo(Codes(packedA, 2), Codes(packedB, 2), xh + 64, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                    AccumulateTwo(Codes(packedA, 4), Codes(packedB, 4), xh + 128, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                    AccumulateTwo(Codes(packedA, 6), Codes(packedB, 6), xh + 192, k, ref sa0, ref sa1, ref sa2, ref sa3, ref sb0, ref sb1, ref sb2, ref sb3);
                }
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
        var ra = SumFour(a0, a1, a2, a3) - s4;
        var rb = SumFour(b0, b1, b2, b3) - s4;
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
    static void AccumulateTwo(Vector256<byte> codesA, Vector256<byte> codesB, sbyte* x, int k,
        ref Vector256<short> sa0, ref Vector256<short> sa1, ref Vector256<short> sa2, ref Vector256<short> sa3,
        ref Vector256<short> sb0, ref Vector256<short> sb1, ref Vector256<short> sb2, ref Vector256<short> sb3)
    {
        var x0 = Avx.LoadVector256(x);
        sa0 += Avx2.MultiplyAddAdjacent(codesA, x0);
        sb0 += Avx2.MultiplyAddAdjacent(codesB, x0);
        var x1 = Avx.LoadVector256(x + k);
        sa1 += Avx2.MultiplyAddAdjacent(codesA, x1);
        sb1 += Avx2.MultiplyAddAdjacent(codesB, x1);
        var x2 = Avx.LoadVector256(x + 2 * k);
        sa2 += Avx2.MultiplyAddAdjacent(codesA, x2);
        sb2 += Avx2.MultiplyAddAdjacent(codesB, x2);
        var x3 = Avx.LoadVector256(x + 3 * k);
        sa3 += Avx2.MultiplyAddAdjacent(codesA, x3);
        sb3 += Avx2.MultiplyAddAdjacent(codesB, x3);
    }
}
