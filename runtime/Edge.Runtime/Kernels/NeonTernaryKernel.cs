using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// NEON without the dot-product extension (Cortex-A53/A72, Raspberry Pi 3/4): byte shift and AND give 16 codes,
/// <c>smlal</c>/<c>smlal2</c> multiply codes by activations and accumulate into int16, and <c>sadalp</c> widens
/// pairs into int32 every few blocks; one code vector in eight is summed without a multiply. Σx is subtracted once
/// per row.
/// </summary>
/// <remarks>
/// On the A72 <c>smlal</c> issues only on one of the two ASIMD pipes: 8 products a cycle were the loops' floor while
/// the other pipe idled. So lane 2 of quarters 1 and 3 (2 of a block's 16 code vectors)
/// takes a path with no multiply: Σ c·x = Σ over c ≥ 1 of x + Σ over c = 2 of x, two <c>cmtst</c> masks straight
/// from the packed bits, an AND with the activations for each and two <c>sadalp</c>, which run on the other pipe. In
/// decode lane 1 is also masked in place (4·codes, no shift) into accumulators of its own, shifted back at the end:
/// a block is then 28 <c>smlal</c> against 28 operations of the other pipe (docs/PERFORMANCE.md "ARM (static
/// analysis)"). More lanes without a multiply cost more operations than they take off the multiply pipe.
/// Overflow: a product (t+1)·x lies in [-256, 254], a lane-1 product 4·(t+1)·x in [-1024, 1016]; each block adds 4
/// of them into every int16 lane of each lane's accumulators and 2 pair sums in [-256, 254] into each masked sum,
/// so <see cref="BlocksPerWiden"/> = 8 blocks give at most 32 lane-1 products: [-32768, 32512].
/// </remarks>
internal sealed unsafe class NeonTernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;

    public static bool IsSupported => AdvSimd.IsSupported;

    public override string Name => "neon";

    public override string Description => "smlal codes×int8 into int16, 1 code vector in 8 by cmtst masks + sadalp, widened every 2048 weights";

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y) =>
        MatVecByRows<Rows>(w, rowStart, x, xSum, y);

    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride) =>
        MatMulFourTokenGroups<Rows>(w, rowStart, rowCount, x, xSums, n, y, yStride);

    readonly struct Rows : IRowDotFourTokens
    {
        public static int Dot(byte* row, sbyte* x, int blocks) => NeonTernaryKernel.Dot(row, x, blocks);

        public static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3) =>
            NeonTernaryKernel.DotFourTokens(row, x, k, blocks, out r0, out r1, out r2, out r3);
    }

    /// <remarks><c>smlal2</c> first, so that reading the lower halves is the codes' last use (the other order made the
    /// JIT copy both registers first).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MultiplyAccumulate(Vector128<sbyte> codes, Vector128<sbyte> xv, ref Vector128<short> low, ref Vector128<short> high)
    {
        high = AdvSimd.MultiplyWideningUpperAndAdd(high, codes, xv);
        low = AdvSimd.MultiplyWideningLowerAndAdd(low, codes.GetLower(), xv.GetLower());
    }

    /// <summary>16 packed bytes against their 64 activations (lane l at x + offset + 64·l), every lane multiplied.</summary>
    /// <remarks>
    /// The JIT emits instructions in source order, and the A53 issues them in that order, stalling on any operand not
    /// ready yet; the one exception is the last code computed, which the JIT moves to just before its first use, so
    /// that is lane 0's single AND and the two-step lane 2 comes first. Loads take x + constant offsets from the
    /// block's start: one base register, no address add between them.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void QuarterMultiplied(byte* w, sbyte* x, int offset, Vector128<byte> lane0Mask, Vector128<byte> lane1Mask,
        ref Vector128<short> low0, ref Vector128<short> high0, ref Vector128<short> low1, ref Vector128<short> high1,
        ref Vector128<short> low2, ref Vector128<short> high2, ref Vector128<short> low3, ref Vector128<short> high3)
    {
        var packed = AdvSimd.LoadVector128(w + offset);
        var x0 = AdvSimd.LoadVector128(x + offset);
        var x1 = AdvSimd.LoadVector128(x + (offset + 64));
        var x2 = AdvSimd.LoadVector128(x + (offset + 128));
        var x3 = AdvSimd.LoadVector128(x + (offset + 192));
        var s2 = AdvSimd.ShiftRightLogical(packed, 4);
        var c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte(); // the top two bits need no mask
        var c1Times4 = AdvSimd.And(packed, lane1Mask).AsSByte();
        var c2 = AdvSimd.And(s2, lane0Mask).AsSByte();
        var c0 = AdvSimd.And(packed, lane0Mask).AsSByte();
        MultiplyAccumulate(c3, x3, ref low3, ref high3);
        MultiplyAccumulate(c1Times4, x1, ref low1, ref high1);
        MultiplyAccumulate(c0, x0, ref low0, ref high0);
        MultiplyAccumulate(c2, x2, ref low2, ref high2);
    }

    /// <summary>As <see cref="QuarterMultiplied"/>, but lane 2 without a multiply: its activations where the code is
    /// at least 1 and those where it is 2, added in pairs into two sums (two chains for the A53).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void QuarterMasked(byte* w, sbyte* x, int offset, Vector128<byte> lane0Mask, Vector128<byte> lane1Mask, Vector128<byte> lane2Mask, Vector128<byte> lane2HighMask,
        ref Vector128<short> low0, ref Vector128<short> high0, ref Vector128<short> low1, ref Vector128<short> high1,
        ref Vector128<short> low3, ref Vector128<short> high3, ref Vector128<short> sumAtLeastOne, ref Vector128<short> sumTwo)
    {
        var packed = AdvSimd.LoadVector128(w + offset);
        var x0 = AdvSimd.LoadVector128(x + offset);
        var x1 = AdvSimd.LoadVector128(x + (offset + 64));
        var x2 = AdvSimd.LoadVector128(x + (offset + 128)).AsByte();
        var x3 = AdvSimd.LoadVector128(x + (offset + 192));
        var atLeastOne = AdvSimd.CompareTest(packed, lane2Mask);
        var two = AdvSimd.CompareTest(packed, lane2HighMask);
        var c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte();
        var c1Times4 = AdvSimd.And(packed, lane1Mask).AsSByte();
        var c0 = AdvSimd.And(packed, lane0Mask).AsSByte();
        MultiplyAccumulate(c3, x3, ref low3, ref high3);
        var xAtLeastOne = AdvSimd.And(atLeastOne, x2).AsSByte();
        var xTwo = AdvSimd.And(two, x2).AsSByte();
        MultiplyAccumulate(c1Times4, x1, ref low1, ref high1);
        MultiplyAccumulate(c0, x0, ref low0, ref high0);
        sumAtLeastOne = AdvSimd.AddPairwiseWideningAndAdd(sumAtLeastOne, xAtLeastOne);
        sumTwo = AdvSimd.AddPairwiseWideningAndAdd(sumTwo, xTwo);
    }

    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var lane0Mask = Vector128.Create((byte)0x03);
        var lane1Mask = Vector128.Create((byte)0x0c); // 4·codes, in place
        var lane2Mask = Vector128.Create((byte)0x30); // code ≥ 1
        var lane2HighMask = Vector128.Create((byte)0x20); // code = 2
        var acc = Vector128<int>.Zero;
        var accTimes4 = Vector128<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector128<short> low0 = default, high0 = default, low1 = default, high1 = default, low2 = default, high2 = default;
            Vector128<short> low3 = default, high3 = default, sumAtLeastOne = default, sumTwo = default;
            byte* wb = row + start * TernaryPacking.BlockBytes;
            sbyte* xb = x + start * TernaryPacking.BlockWeights;
            for (int block = start; block < end; block++)
            {
                QuarterMultiplied(wb, xb, 0, lane0Mask, lane1Mask, ref low0, ref high0, ref low1, ref high1, ref low2, ref high2, ref low3, ref high3);
                QuarterMasked(wb, xb, 16, lane0Mask, lane1Mask, lane2Mask, lane2HighMask, ref low0, ref high0, ref low1, ref high1, ref low3, ref high3, ref sumAtLeastOne, ref sumTwo);
                QuarterMultiplied(wb, xb, 32, lane0Mask, lane1Mask, ref low0, ref high0, ref low1, ref high1, ref low2, ref high2, ref low3, ref high3);
                QuarterMasked(wb, xb, 48, lane0Mask, lane1Mask, lane2Mask, lane2HighMask, ref low0, ref high0, ref low1, ref high1, ref low3, ref high3, ref sumAtLeastOne, ref sumTwo);
                wb += TernaryPacking.BlockBytes;
                xb += TernaryPacking.BlockWeights;
            }
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, low0), high0);
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, low2), high2);
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, low3), high3);
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, sumAtLeastOne), sumTwo);
            accTimes4 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(accTimes4, low1), high1);
        }
        return Vector128.Sum(acc) + (Vector128.Sum(accTimes4) >> 2); // every lane-1 term is a multiple of 4
    }

    /// <summary>16 packed bytes against four activation vectors (x + k·t): each code vector is unpacked once, used four times.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void QuarterFourTokens(byte* w, sbyte* x, long k, long k2, long k3, Vector128<byte> mask,
        ref Vector128<short> l0, ref Vector128<short> h0, ref Vector128<short> l1, ref Vector128<short> h1,
        ref Vector128<short> l2, ref Vector128<short> h2, ref Vector128<short> l3, ref Vector128<short> h3)
    {
        var packed = AdvSimd.LoadVector128(w);
        var c0 = AdvSimd.And(packed, mask).AsSByte();
        var s1 = AdvSimd.ShiftRightLogical(packed, 2);
        var s2 = AdvSimd.ShiftRightLogical(packed, 4);
        var c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte();
        var c1 = AdvSimd.And(s1, mask).AsSByte();
        var c2 = AdvSimd.And(s2, mask).AsSByte();
        LaneFourTokens(c0, x, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
        LaneFourTokens(c1, x + 64, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
        LaneFourTokens(c2, x + 128, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
        LaneFourTokens(c3, x + 192, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
    }

    /// <summary>As <see cref="QuarterFourTokens"/>, but lane 2 without a multiply, as in <see cref="QuarterMasked"/>:
    /// its two masks serve the four tokens, each token's selected activations go into <paramref name="m0"/>..<paramref name="m3"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void QuarterMaskedFourTokens(byte* w, sbyte* x, long k, long k2, long k3, Vector128<byte> mask, Vector128<byte> lane2Mask, Vector128<byte> lane2HighMask,
        ref Vector128<short> l0, ref Vector128<short> h0, ref Vector128<short> l1, ref Vector128<short> h1,
        ref Vector128<short> l2, ref Vector128<short> h2, ref Vector128<short> l3, ref Vector128<short> h3,
        ref Vector128<short> m0, ref Vector128<short> m1, ref Vector128<short> m2, ref Vector128<short> m3)
    {
        var packed = AdvSimd.LoadVector128(w);
        var c0 = AdvSimd.And(packed, mask).AsSByte();
        var s1 = AdvSimd.ShiftRightLogical(packed, 2);
        var c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte();
        var atLeastOne = AdvSimd.CompareTest(packed, lane2Mask);
        var two = AdvSimd.CompareTest(packed, lane2HighMask);
        var c1 = AdvSimd.And(s1, mask).AsSByte();
        LaneFourTokens(c0, x, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
        MaskedLaneFourTokens(atLeastOne, two, x + 128, k, k2, k3, ref m0, ref m1, ref m2, ref m3);
        LaneFourTokens(c1, x + 64, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
        LaneFourTokens(c3, x + 192, k, k2, k3, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
    }

    /// <remarks>All eight ANDs come before the <c>sadalp</c>: the A53 would stall on each AND used right away.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MaskedLaneFourTokens(Vector128<byte> atLeastOne, Vector128<byte> two, sbyte* x, long k, long k2, long k3,
        ref Vector128<short> m0, ref Vector128<short> m1, ref Vector128<short> m2, ref Vector128<short> m3)
    {
        var x0 = AdvSimd.LoadVector128((byte*)x);
        var x1 = AdvSimd.LoadVector128((byte*)x + k);
        var x2 = AdvSimd.LoadVector128((byte*)x + k2);
        var x3 = AdvSimd.LoadVector128((byte*)x + k3);
        var x0AtLeastOne = AdvSimd.And(atLeastOne, x0).AsSByte();
        var x1AtLeastOne = AdvSimd.And(atLeastOne, x1).AsSByte();
        var x2AtLeastOne = AdvSimd.And(atLeastOne, x2).AsSByte();
        var x3AtLeastOne = AdvSimd.And(atLeastOne, x3).AsSByte();
        var x0Two = AdvSimd.And(two, x0).AsSByte();
        var x1Two = AdvSimd.And(two, x1).AsSByte();
        var x2Two = AdvSimd.And(two, x2).AsSByte();
        var x3Two = AdvSimd.And(two, x3).AsSByte();
        m0 = AdvSimd.AddPairwiseWideningAndAdd(m0, x0AtLeastOne);
        m1 = AdvSimd.AddPairwiseWideningAndAdd(m1, x1AtLeastOne);
        m2 = AdvSimd.AddPairwiseWideningAndAdd(m2, x2AtLeastOne);
        m3 = AdvSimd.AddPairwiseWideningAndAdd(m3, x3AtLeastOne);
        m0 = AdvSimd.AddPairwiseWideningAndAdd(m0, x0Two);
        m1 = AdvSimd.AddPairwiseWideningAndAdd(m1, x1Two);
        m2 = AdvSimd.AddPairwiseWideningAndAdd(m2, x2Two);
        m3 = AdvSimd.AddPairwiseWideningAndAdd(m3, x3Two);
    }

    /// <remarks>The four loads come first (the A53 stalls on a load used by the next instruction), and the lower
    /// half of the codes is taken once, after the last <c>smlal2</c>: taken per product, or while the whole vector
    /// was still to be read, it cost the JIT a register copy.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LaneFourTokens(Vector128<sbyte> codes, sbyte* x, long k, long k2, long k3,
        ref Vector128<short> l0, ref Vector128<short> h0, ref Vector128<short> l1, ref Vector128<short> h1,
        ref Vector128<short> l2, ref Vector128<short> h2, ref Vector128<short> l3, ref Vector128<short> h3)
    {
        var x0 = AdvSimd.LoadVector128(x);
        var x1 = AdvSimd.LoadVector128(x + k);
        var x2 = AdvSimd.LoadVector128(x + k2);
        var x3 = AdvSimd.LoadVector128(x + k3);
        h0 = AdvSimd.MultiplyWideningUpperAndAdd(h0, codes, x0);
        h1 = AdvSimd.MultiplyWideningUpperAndAdd(h1, codes, x1);
        h2 = AdvSimd.MultiplyWideningUpperAndAdd(h2, codes, x2);
        h3 = AdvSimd.MultiplyWideningUpperAndAdd(h3, codes, x3);
        var low = codes.GetLower();
        l0 = AdvSimd.MultiplyWideningLowerAndAdd(l0, low, x0.GetLower());
        l1 = AdvSimd.MultiplyWideningLowerAndAdd(l1, low, x1.GetLower());
        l2 = AdvSimd.MultiplyWideningLowerAndAdd(l2, low, x2.GetLower());
        l3 = AdvSimd.MultiplyWideningLowerAndAdd(l3, low, x3.GetLower());
    }

    /// <remarks>Overflow: 14 products per block into every lane of each token's two accumulators and 4 pair sums in
    /// [-256, 254] into its masked sum, so widening every <c>BlocksPerWidenFourTokens</c> = 4 blocks keeps to 56 products.</remarks>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
    {
        const int BlocksPerWidenFourTokens = 4;
        long k2 = 2L * k, k3 = 3L * k;
        var mask = Vector128.Create((byte)3);
        var lane2Mask = Vector128.Create((byte)0x30); // code ≥ 1
        var lane2HighMask = Vector128.Create((byte)0x20); // code = 2
        Vector128<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int start = 0; start < blocks; start += BlocksPerWidenFourTokens)
        {
            int end = Math.Min(blocks, start + BlocksPerWidenFourTokens);
            Vector128<short> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
            Vector128<short> m0 = default, m1 = default, m2 = default, m3 = default;
            byte* wb = row + start * TernaryPacking.BlockBytes;
            sbyte* xb = x + start * TernaryPacking.BlockWeights;
            for (int block = start; block < end; block++)
            {
                QuarterFourTokens(wb, xb, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                QuarterMaskedFourTokens(wb + 16, xb + 16, k, k2, k3, mask, lane2Mask, lane2HighMask,
                    ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3, ref m0, ref m1, ref m2, ref m3);
                QuarterFourTokens(wb + 32, xb + 32, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                QuarterMaskedFourTokens(wb + 48, xb + 48, k, k2, k3, mask, lane2Mask, lane2HighMask,
                    ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3, ref m0, ref m1, ref m2, ref m3);
                wb += TernaryPacking.BlockBytes;
                xb += TernaryPacking.BlockWeights;
            }
            acc0 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc0, l0), h0), m0);
            acc1 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc1, l1), h1), m1);
            acc2 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc2, l2), h2), m2);
            acc3 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc3, l3), h3), m3);
        }
        r0 = Vector128.Sum(acc0);
        r1 = Vector128.Sum(acc1);
        r2 = Vector128.Sum(acc2);
        r3 = Vector128.Sum(acc3);
    }
}
