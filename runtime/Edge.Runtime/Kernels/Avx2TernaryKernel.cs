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
/// with <c>vpmaddwd</c> by ones. Batched products keep the unscaled codes (shift and mask per lane) and widen after
/// <see cref="BlocksPerWiden"/> = 8 blocks (64 pair sums). No saturation can occur: one pair is far below the limits.
/// </remarks>
public sealed unsafe class Avx2TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;
    const int BlocksPerWidenScaled = 4;
    const int TokensPerGroup = 4;
    const int RowsPerTile = 64;

    public static bool IsSupported => Avx2.IsSupported;

    public override string Name => "avx2";

    public override string Description => "vpmaddubsw codes×int8 into int16 (in-place masks, one shift per 128 weights), widened every 1024 weights";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
    {
        CheckMatVec(w, rowStart, x, y);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        byte* row = w.Data + rowStart * rowBytes;
        fixed (sbyte* px = x)
        fixed (int* py = y)
        {
            // One row at a time on purpose: two or more rows per activation load are no faster from cache and much
            // slower from DRAM, where streams a row apart defeat the hardware prefetcher (docs/kernels.md).
            for (int i = 0; i < y.Length; i++)
                py[i] = Dot(row + i * rowBytes, px, blocks) - xSum;
        }
    }

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
    {
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        int k = w.PaddedColumns;
        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            // A tile of rows meets four activation vectors at a time: the four vectors stay in L1 and the tile's
            // weights in L2 while every weight is unpacked once per four tokens and every activation load feeds two
            // rows. 64-row tiles measured 1-3 % faster than 16 (fewer passes over the activations).
            for (int tile = 0; tile < rowCount; tile += RowsPerTile)
            {
                int tileEnd = Math.Min(rowCount, tile + RowsPerTile);
                int b = 0;
                for (; b + TokensPerGroup <= n; b += TokensPerGroup)
                {
                    sbyte* xb = px + (long)b * k;
                    int* yb = py + (long)b * yStride;
                    int i = tile;
                    for (; i + 2 <= tileEnd; i += 2)
                        DotTwoRowsFourTokens(w.Data + (rowStart + i) * rowBytes, rowBytes, xb, k, blocks, pSums + b, yb + i, yStride);
                    if (i < tileEnd)
                        DotFourTokens(w.Data + (rowStart + i) * rowBytes, xb, k, blocks, pSums + b, yb + i, yStride);
                }
                for (; b < n; b++)
                    for (int i = tile; i < tileEnd; i++)
                        py[(long)b * yStride + i] = Dot(w.Data + (rowStart + i) * rowBytes, px + (long)b * k, blocks) - pSums[b];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Codes(Vector256<byte> packed, [ConstantExpected] byte shift) =>
        Avx2.ShiftRightLogical(packed.AsUInt16(), shift).AsByte() & Vector256.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Madd(Vector256<byte> codes, sbyte* x) => Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Widen(Vector256<short> sums) => Avx2.MultiplyAddAdjacent(sums, Vector256.Create((short)1));

    static int Dot(byte* row, sbyte* x, int blocks)
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
        return Vector256.Sum(acc + Avx2.ShiftRightArithmetic(accScaled, 2));
    }

    /// <summary>
    /// [Σa, Σb, Σc, Σd] over the int32 lanes of four accumulators: two rounds of <c>vphaddd</c> and one add of the
    /// 128-bit halves, instead of four separate reductions (measured 4-8 % faster on K = 1024 products, where the
    /// reductions are a tenth of the work).
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
