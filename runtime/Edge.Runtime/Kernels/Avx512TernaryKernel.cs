using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// AVX-512BW: one 64-byte load is a whole block; shift and AND give the 64 codes of each of its four 64-weight
/// lanes, which meet the 64 matching activations in one 512-bit <c>vpmaddubsw</c>; <c>vpmaddwd</c> by ones widens.
/// Half the instructions of the AVX2 kernel per weight (Zen 4 splits 512-bit operations in two, so the gain is
/// in decode and issue slots, not in arithmetic).
/// </summary>
/// <remarks>
/// Overflow: each block adds 4 pair sums ∈ [-512, 508] into every int16 lane, so <see cref="BlocksPerWiden"/> = 16
/// blocks give at most 64 of them, [-32768, 32512], before widening.
/// </remarks>
public sealed unsafe class Avx512TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 16;
    const int TokensPerGroup = 4;

    public static bool IsSupported => Avx512BW.IsSupported;

    public override string Name => "avx512";

    public override string Description => "512-bit vpmaddubsw codes×int8 into int16, widened every 4096 weights; 2 rows per activation load";

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
                    DotFourTokens(row, px + (long)b * k, k, blocks, out int r0, out int r1, out int r2, out int r3);
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
    static Vector512<byte> Codes(Vector512<byte> packed, [ConstantExpected] byte shift) =>
        Avx512BW.ShiftRightLogical(packed.AsUInt16(), shift).AsByte() & Vector512.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Madd(Vector512<byte> codes, sbyte* x) => Avx512BW.MultiplyAddAdjacent(codes, Vector512.Load(x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Block(Vector512<byte> packed, sbyte* x) =>
        (Madd(packed & Vector512.Create((byte)3), x) + Madd(Codes(packed, 2), x + 64))
        + (Madd(Codes(packed, 4), x + 128) + Madd(Codes(packed, 6), x + 192));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> Widen(Vector512<short> sums) => Avx512BW.MultiplyAddAdjacent(sums, Vector512.Create((short)1));

    static int Dot(byte* row, sbyte* x, int blocks)
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
        return Vector512.Sum(acc);
    }

    static void DotTwoRows(byte* rowA, byte* rowB, sbyte* x, int blocks, out int a, out int b)
    {
        var accA = Vector512<int>.Zero;
        var accB = Vector512<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            var sumsA = Vector512<short>.Zero;
            var sumsB = Vector512<short>.Zero;
            for (int block = start; block < end; block++)
            {
                int offset = block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                sumsA += Block(Vector512.Load(rowA + offset), xb);
                sumsB += Block(Vector512.Load(rowB + offset), xb);
            }
            accA += Widen(sumsA);
            accB += Widen(sumsB);
        }
        a = Vector512.Sum(accA);
        b = Vector512.Sum(accB);
    }

    /// <summary>One weight row against four activation vectors: each 64 codes are unpacked once and used four times.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
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
        r0 = Vector512.Sum(acc0);
        r1 = Vector512.Sum(acc1);
        r2 = Vector512.Sum(acc2);
        r3 = Vector512.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Accumulate(Vector512<byte> codes, sbyte* x, int k, ref Vector512<short> s0, ref Vector512<short> s1, ref Vector512<short> s2, ref Vector512<short> s3)
    {
        s0 += Madd(codes, x);
        s1 += Madd(codes, x + k);
        s2 += Madd(codes, x + 2 * k);
        s3 += Madd(codes, x + 3 * k);
    }
}
