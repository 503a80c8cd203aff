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

    /// <summary>
    /// The x86 kernels' batched driver (<see cref="TernaryKernel.MatMulByTokenGroups{TRows}"/>): eight tokens against
    /// one row from an interleaved copy of their activations for K ≤ 3072, four tokens in place beyond.
    /// </summary>
    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulByTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    readonly struct Rows : IRowTokenGroups
    {
        public static int Dot(byte* row, sbyte* x, int blocks) => NeonDotTernaryKernel.Dot(row, x, blocks);

        public static void PackEight(sbyte* x, int k, int tokens, int blocks, sbyte* packed) =>
            InterleaveEight(x, k, tokens, blocks * TernaryPacking.BlockWeights / 16, 16, packed);

        public static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride) =>
            NeonDotTernaryKernel.RowEightTokens(row, packed, blocks, sums, tokens, y, yStride);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
        {
            NeonDotTernaryKernel.DotFourTokens(row, x, k, blocks, out int r0, out int r1, out int r2, out int r3);
            y[0] = r0 - sums[0];
            y[yStride] = r1 - sums[1];
            y[2 * yStride] = r2 - sums[2];
            y[3 * yStride] = r3 - sums[3];
        }

        // Rows longer than the eight-token copy (K > 3072) are rare on the Pis' models: one row after the other.
        public static void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
        {
            DotFourTokens(row, x, k, blocks, sums, y, yStride);
            DotFourTokens(row + rowBytes, x, k, blocks, sums, y + 1, yStride);
        }

        // Single-token products: sdot needs no widening, so a shared unpacking would save little (not measured on a Pi).
        public static void DotTwoTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride) =>
            DotEachOfTwoTokens<Rows>(row, x, k, blocks, sums, y, yStride);
    }

    /// <summary>One code vector against the same 16 columns of the eight packed tokens (128 consecutive bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SdotEightTokens(Vector128<sbyte> codes, sbyte* x,
        ref Vector128<int> a0, ref Vector128<int> a1, ref Vector128<int> a2, ref Vector128<int> a3,
        ref Vector128<int> a4, ref Vector128<int> a5, ref Vector128<int> a6, ref Vector128<int> a7)
    {
        a0 = Sdot(a0, codes, x);
        a1 = Sdot(a1, codes, x + 16);
        a2 = Sdot(a2, codes, x + 32);
        a3 = Sdot(a3, codes, x + 48);
        a4 = Sdot(a4, codes, x + 64);
        a5 = Sdot(a5, codes, x + 80);
        a6 = Sdot(a6, codes, x + 96);
        a7 = Sdot(a7, codes, x + 112);
    }

    /// <summary>
    /// One weight row against the eight packed activation vectors: each 16 codes are unpacked once and used eight
    /// times (four with <see cref="DotFourTokens"/>), from consecutive addresses; the int32 sums need no widening.
    /// Byte q of a block's 16-byte quarter holds columns 64·lane + 16·quarter + q, i.e. 16-column chunk
    /// 4·lane + quarter of the block, whose eight tokens lie 128 bytes per chunk into the block's 2 KiB.
    /// </summary>
    static void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride)
    {
        Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        byte* wb = row;
        sbyte* xb = packed;
        for (int block = 0; block < blocks; block++)
        {
            for (int quarter = 0; quarter < 4; quarter++)
            {
                var codes = AdvSimd.LoadVector128(wb + 16 * quarter);
                sbyte* xq = xb + 128 * quarter;
                SdotEightTokens(Codes(codes, 0), xq, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
                SdotEightTokens(Codes(codes, 2), xq + 512, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
                SdotEightTokens(Codes(codes, 4), xq + 1024, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
                SdotEightTokens(Codes(codes, 6), xq + 1536, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            }
            wb += TernaryPacking.BlockBytes;
            xb += TernaryPacking.BlockWeights * TokensPerGroup;
        }
        // Two rounds of pairwise adds reduce four accumulators to [Σa0, Σa1, Σa2, Σa3].
        var low = AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(a0, a1), AdvSimd.Arm64.AddPairwise(a2, a3)) - AdvSimd.LoadVector128(sums);
        var high = AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(a4, a5), AdvSimd.Arm64.AddPairwise(a6, a7)) - AdvSimd.LoadVector128(sums + 4);
        StoreEight(low, high, tokens, y, yStride);
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
