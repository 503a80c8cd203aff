using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// Portable SIMD through the cross-platform <see cref="Vector128"/> API, for CPUs without a dedicated kernel:
/// byte shift and AND give 16 codes, codes and activations are widened to int16 and multiplied, and the int16
/// lanes are widened to int32 every two blocks. Σx is subtracted once per row.
/// </summary>
/// <remarks>
/// Overflow: a product (t+1)·x lies in [-256, 254]; each block adds 32 of them into every int16 lane, so
/// <see cref="BlocksPerWiden"/> = 2 blocks give at most 64: [-16384, 16256].
/// </remarks>
internal sealed unsafe class Vector128TernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 2;

    public static bool IsSupported => Vector128.IsHardwareAccelerated;

    public override string Name => "vector128";

    public override string Description => "portable Vector128: codes and int8 widened to int16, multiply-add, widened every 512 weights";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByRows<Rows>(w, rowStart, x, xSum, y);

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulFourTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    readonly struct Rows : IRowDotFourTokens
    {
        public static int Dot(byte* row, sbyte* x, int blocks) => Vector128TernaryKernel.Dot(row, x, blocks);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3) =>
            Vector128TernaryKernel.DotFourTokens(row, x, k, blocks, out r0, out r1, out r2, out r3);
    }

    /// <summary>The codes of one 64-weight lane; the shift is a literal per lane so the JIT emits a single instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<sbyte> Codes(Vector128<byte> packed, int lane) =>
        (lane switch
        {
            0 => packed,
            1 => Vector128.ShiftRightLogical(packed, 2),
            2 => Vector128.ShiftRightLogical(packed, 4),
            _ => Vector128.ShiftRightLogical(packed, 6),
        } & Vector128.Create((byte)3)).AsSByte();

    /// <summary>Σ over 16 weights of codes·x, as 8 int16 lanes of two products each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<short> Products(Vector128<sbyte> codes, sbyte* x)
    {
        var (low, high) = Vector128.Widen(codes);
        return Products(low, high, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<short> Products(Vector128<short> codesLow, Vector128<short> codesHigh, sbyte* x)
    {
        var (xLow, xHigh) = Vector128.Widen(Vector128.Load(x));
        return codesLow * xLow + codesHigh * xHigh;
    }

    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var acc = Vector128<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            var sums = Vector128<short>.Zero;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    var packed = Vector128.Load(wb + 16 * quarter);
                    sbyte* xq = xb + 16 * quarter;
                    sums += Products(Codes(packed, 0), xq) + Products(Codes(packed, 1), xq + 64)
                        + Products(Codes(packed, 2), xq + 128) + Products(Codes(packed, 3), xq + 192);
                }
            }
            var (sumsLow, sumsHigh) = Vector128.Widen(sums);
            acc += sumsLow + sumsHigh;
        }
        return Vector128.Sum(acc);
    }

    /// <summary>One weight row against four activation vectors: codes are unpacked and widened once for all four.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
    {
        Vector128<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector128<short> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    var packed = Vector128.Load(wb + 16 * quarter);
                    for (int lane = 0; lane < 4; lane++)
                    {
                        var (low, high) = Vector128.Widen(Codes(packed, lane));
                        sbyte* xq = xb + 16 * quarter + 64 * lane;
                        s0 += Products(low, high, xq);
                        s1 += Products(low, high, xq + k);
                        s2 += Products(low, high, xq + 2 * k);
                        s3 += Products(low, high, xq + 3 * k);
                    }
                }
            }
            acc0 += WidenSum(s0);
            acc1 += WidenSum(s1);
            acc2 += WidenSum(s2);
            acc3 += WidenSum(s3);
        }
        r0 = Vector128.Sum(acc0);
        r1 = Vector128.Sum(acc1);
        r2 = Vector128.Sum(acc2);
        r3 = Vector128.Sum(acc3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<int> WidenSum(Vector128<short> sums)
    {
        var (low, high) = Vector128.Widen(sums);
        return low + high;
    }
}
