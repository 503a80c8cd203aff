using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// AVX2: a 64-byte block is two 32-byte loads; one 16-bit shift and one AND per 32 weights turn them into the
/// codes t+1 ∈ {0,1,2}, <c>vpmaddubsw</c> multiplies codes (u8) by activations (s8) and adds pairs into int16,
/// and <c>vpmaddwd</c> by ones widens to int32. Σx is subtracted once per row to undo the +1.
/// </summary>
/// <remarks>
/// Overflow: a <c>vpmaddubsw</c> lane is (t+1)·x + (t+1)·x ∈ [-512, 508] (x ∈ [-128, 127]). Each block adds 8 of
/// them into every int16 lane, so after <see cref="BlocksPerWiden"/> = 8 blocks a lane holds at most 64 of them:
/// [-32768, 32512] fits int16 exactly; then it is widened. No saturation can occur either: a single pair is far
/// below the int16 limits.
/// </remarks>
public sealed unsafe class Avx2TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;
    const int TokensPerGroup = 4;

    public static bool IsSupported => Avx2.IsSupported;

    public override string Name => "avx2";

    public override string Description => "vpmaddubsw codes×int8 into int16, widened every 2048 weights; 2 rows per activation load";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
    {
        CheckMatVec(w, rowStart, x, y);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        byte* row = w.Data + rowStart * rowBytes;
        fixed (sbyte* px = x)
        fixed (int* py = y)
        {
            int i = 0;
            for (; i + 2 <= y.Length; i += 2)
            {
                DotTwoRows(row + i * rowBytes, row + (i + 1) * rowBytes, px, blocks, out int a, out int b);
                py[i] = a - xSum;
                py[i + 1] = b - xSum;
            }
            if (i < y.Length)
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
            for (int i = 0; i < rowCount; i++)
            {
                byte* row = w.Data + (rowStart + i) * rowBytes;
                int b = 0;
                for (; b + TokensPerGroup <= n; b += TokensPerGroup)
                {
                    sbyte* x0 = px + (long)b * k;
                    DotFourTokens(row, x0, k, blocks, out int r0, out int r1, out int r2, out int r3);
                    py[(long)b * yStride + i] = r0 - pSums[b];
                    py[(long)(b + 1) * yStride + i] = r1 - pSums[b + 1];
                    py[(long)(b + 2) * yStride + i] = r2 - pSums[b + 2];
                    py[(long)(b + 3) * yStride + i] = r3 - pSums[b + 3];
                }
                for (; b < n; b++)
                    py[(long)b * yStride + i] = Dot(row, px + (long)b * k, blocks) - pSums[b];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Codes(Vector256<byte> packed, [ConstantExpected] byte shift) =>
        Avx2.ShiftRightLogical(packed.AsUInt16(), shift).AsByte() & Vector256.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Madd(Vector256<byte> codes, sbyte* x) => Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(x));

    /// <summary>Σ codes·x of one block, as int16 lanes that each hold 8 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> Block(Vector256<byte> w0, Vector256<byte> w1, sbyte* x)
    {
        var mask = Vector256.Create((byte)3);
        var s0 = Madd(w0 & mask, x) + Madd(w1 & mask, x + 32);
        var s1 = Madd(Codes(w0, 2), x + 64) + Madd(Codes(w1, 2), x + 96);
        var s2 = Madd(Codes(w0, 4), x + 128) + Madd(Codes(w1, 4), x + 160);
        var s3 = Madd(Codes(w0, 6), x + 192) + Madd(Codes(w1, 6), x + 224);
        return (s0 + s1) + (s2 + s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Widen(Vector256<short> sums) => Avx2.MultiplyAddAdjacent(sums, Vector256.Create((short)1));

    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var acc = Vector256<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            var sums = Vector256<short>.Zero;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sums += Block(Avx.LoadVector256(wb), Avx.LoadVector256(wb + 32), x + block * TernaryPacking.BlockWeights);
            }
            acc += Widen(sums);
        }
        return Vector256.Sum(acc);
    }

    static void DotTwoRows(byte* rowA, byte* rowB, sbyte* x, int blocks, out int a, out int b)
    {
        var accA = Vector256<int>.Zero;
        var accB = Vector256<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            var sumsA = Vector256<short>.Zero;
            var sumsB = Vector256<short>.Zero;
            for (int block = start; block < end; block++)
            {
                int offset = block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                sumsA += Block(Avx.LoadVector256(rowA + offset), Avx.LoadVector256(rowA + offset + 32), xb);
                sumsB += Block(Avx.LoadVector256(rowB + offset), Avx.LoadVector256(rowB + offset + 32), xb);
            }
            accA += Widen(sumsA);
            accB += Widen(sumsB);
        }
        a = Vector256.Sum(accA);
        b = Vector256.Sum(accB);
    }

    /// <summary>One weight row against four activation vectors: each 32 codes are unpacked once and used four times.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
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
        r0 = Vector256.Sum(acc0);
        r1 = Vector256.Sum(acc1);
        r2 = Vector256.Sum(acc2);
        r3 = Vector256.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Accumulate(Vector256<byte> codes, sbyte* x, int k, ref Vector256<short> s0, ref Vector256<short> s1, ref Vector256<short> s2, ref Vector256<short> s3)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + k);
        s2 += Madd(codes, x + 2 * k);
        s3 += Madd(codes, x + 3 * k);
    }
}
