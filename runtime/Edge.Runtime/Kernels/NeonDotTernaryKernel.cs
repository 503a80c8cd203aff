using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// NEON with the dot-product extension (ARMv8.2 <c>SDOT</c>: Cortex-A55/A76, Raspberry Pi 5): an AND (or a byte
/// shift) gives 16 codes, and one <c>sdot</c> adds four code·activation products straight into each int32 lane, so there
/// is no int16 stage and nothing to widen. One accumulator per 64-weight lane keeps four independent chains.
/// Σx is subtracted once per row.
/// </summary>
/// <remarks>
/// Overflow: an int32 lane gains at most 16 products |code·x| ≤ 256 per block, 16× that in decode's scaled lane:
/// 65,536 per block, far from 2³¹ for any row length a model uses.
/// </remarks>
internal sealed unsafe class NeonDotTernaryKernel : TernaryKernel
{

    public static bool IsSupported => AdvSimd.Arm64.IsSupported && Dp.IsSupported;

    public override string Name => "neon-dot";

    public override string Description => "sdot codes×int8 straight into int32";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByRows<Rows>(w, rowStart, x, xSum, y);

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulFourTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    readonly struct Rows : IRowDotFourTokens
    {
        public static int Dot(byte* row, sbyte* x, int blocks) => NeonDotTernaryKernel.Dot(row, x, blocks);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3) =>
            NeonDotTernaryKernel.DotFourTokens(row, x, k, blocks, out r0, out r1, out r2, out r3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<sbyte> Codes(Vector128<byte> packed, [ConstantExpected(Max = 6)] byte shift) =>
        shift switch
        {
            0 => AdvSimd.And(packed, Vector128.Create((byte)3)).AsSByte(),
            2 => AdvSimd.And(AdvSimd.ShiftRightLogical(packed, 2), Vector128.Create((byte)3)).AsSByte(),
            4 => AdvSimd.And(AdvSimd.ShiftRightLogical(packed, 4), Vector128.Create((byte)3)).AsSByte(),
            _ => AdvSimd.ShiftRightLogical(packed, 6).AsSByte(), // the top two bits need no mask
        };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<int> Sdot(Vector128<int> acc, Vector128<sbyte> codes, sbyte* x) => Dp.DotProduct(acc, codes, AdvSimd.LoadVector128(x));

    /// <remarks>
    /// Lanes 1 and 2 are masked in place (with 12 and 48: 4·codes and 16·codes, still positive as s8) instead of
    /// shifted and masked, and lane 3 is the byte shifted by 6: four operations per 16 bytes instead of six. Their
    /// accumulators are scaled by 4 and 16 and divided back at the end, exactly, since every term is a multiple.
    /// </remarks>
    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var mask1 = Vector128.Create((byte)0x03);
        var mask2 = Vector128.Create((byte)0x0C);
        var mask3 = Vector128.Create((byte)0x30);
        Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int block = 0; block < blocks; block++)
        {
            byte* wb = row + block * TernaryPacking.BlockBytes;
            sbyte* xb = x + block * TernaryPacking.BlockWeights;
            for (int quarter = 0; quarter < 4; quarter++)
            {
                var packed = AdvSimd.LoadVector128(wb + 16 * quarter);
                sbyte* xq = xb + 16 * quarter;
                a0 = Sdot(a0, AdvSimd.And(packed, mask1).AsSByte(), xq);
                a1 = Sdot(a1, AdvSimd.And(packed, mask2).AsSByte(), xq + 64);
                a2 = Sdot(a2, AdvSimd.And(packed, mask3).AsSByte(), xq + 128);
                a3 = Sdot(a3, AdvSimd.ShiftRightLogical(packed, 6).AsSByte(), xq + 192);
            }
        }
        return Vector128.Sum((a0 + Vector128.ShiftRightArithmetic(a1, 2)) + (Vector128.ShiftRightArithmetic(a2, 4) + a3));
    }

    /// <summary>One code vector against the same 16 columns of four activation vectors k apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SdotFourTokens(Vector128<sbyte> codes, sbyte* x, long k, long k2, long k3, ref Vector128<int> a0, ref Vector128<int> a1, ref Vector128<int> a2, ref Vector128<int> a3)
    {
        a0 = Sdot(a0, codes, x);
        a1 = Sdot(a1, codes, x + k);
        a2 = Sdot(a2, codes, x + k2);
        a3 = Sdot(a3, codes, x + k3);
    }

    /// <summary>
    /// One weight row against four activation vectors: each 16 codes are unpacked once and used four times. The
    /// quarters and lanes are spelled out: written as loops with a switch on the lane, the JIT kept a jump table
    /// in the inner loop.
    /// </summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
    {
        Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
        long k2 = 2L * k, k3 = 3L * k;
        byte* wb = row;
        sbyte* xb = x;
        for (int block = 0; block < blocks; block++)
        {
            for (int quarter = 0; quarter < 64; quarter += 16)
            {
                var packed = AdvSimd.LoadVector128(wb + quarter);
                sbyte* xq = xb + quarter;
                SdotFourTokens(Codes(packed, 0), xq, k, k2, k3, ref a0, ref a1, ref a2, ref a3);
                SdotFourTokens(Codes(packed, 2), xq + 64, k, k2, k3, ref a0, ref a1, ref a2, ref a3);
                SdotFourTokens(Codes(packed, 4), xq + 128, k, k2, k3, ref a0, ref a1, ref a2, ref a3);
                SdotFourTokens(Codes(packed, 6), xq + 192, k, k2, k3, ref a0, ref a1, ref a2, ref a3);
            }
            wb += TernaryPacking.BlockBytes;
            xb += TernaryPacking.BlockWeights;
        }
        r0 = Vector128.Sum(a0);
        r1 = Vector128.Sum(a1);
        r2 = Vector128.Sum(a2);
        r3 = Vector128.Sum(a3);
    }
}
