using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// NEON without the dot-product extension (Cortex-A53/A72, Raspberry Pi 3/4): byte shift and AND give 16 codes,
/// <c>smlal</c>/<c>smlal2</c> multiply codes by activations and accumulate into int16, and <c>sadalp</c> widens
/// pairs into int32 every eight blocks. Σx is subtracted once per row.
/// </summary>
/// <remarks>
/// The multiplies are the floor here: on the A72 <c>smlal</c> issues only on its one multiply pipe (8 products a
/// cycle), so the loop is written to add nothing beside them that the JIT would not need: a block's four 16-byte
/// quarters are unrolled by hand, even and odd lanes feed separate accumulators (four independent chains for the
/// in-order A53), and each <c>smlal2</c> comes before its <c>smlal</c> so that reading the lower halves is the codes'
/// last use (the other order made the JIT copy both registers first). docs/PERFORMANCE.md "ARM (static analysis)".
/// Overflow: a product (t+1)·x lies in [-256, 254]; each block adds 8 of them into every int16 lane of each of the
/// four accumulators, so <see cref="BlocksPerWiden"/> = 8 blocks give at most 64: [-16384, 16256].
/// </remarks>
internal sealed unsafe class NeonTernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;

    public static bool IsSupported => AdvSimd.IsSupported;

    public override string Name => "neon";

    public override string Description => "smlal codes×int8 into int16, sadalp-widened every 2048 weights";

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

    /// <summary>The four code vectors of 16 packed bytes: 64 weights, 16 consecutive ones per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Codes(Vector128<byte> packed, Vector128<byte> mask, out Vector128<sbyte> c0, out Vector128<sbyte> c1, out Vector128<sbyte> c2, out Vector128<sbyte> c3)
    {
        c0 = AdvSimd.And(packed, mask).AsSByte();
        c1 = AdvSimd.And(AdvSimd.ShiftRightLogical(packed, 2), mask).AsSByte();
        c2 = AdvSimd.And(AdvSimd.ShiftRightLogical(packed, 4), mask).AsSByte();
        c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte(); // the top two bits need no mask
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MultiplyAccumulate(Vector128<sbyte> codes, sbyte* x, ref Vector128<short> low, ref Vector128<short> high) =>
        MultiplyAccumulate(codes, AdvSimd.LoadVector128(x), ref low, ref high);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MultiplyAccumulate(Vector128<sbyte> codes, Vector128<sbyte> xv, ref Vector128<short> low, ref Vector128<short> high)
    {
        high = AdvSimd.MultiplyWideningUpperAndAdd(high, codes, xv);
        low = AdvSimd.MultiplyWideningLowerAndAdd(low, codes.GetLower(), xv.GetLower());
    }

    /// <summary>16 packed bytes against their 64 activations (lane l at x + 64·l).</summary>
    /// <remarks>
    /// The JIT emits instructions in source order, and the A53 issues them in that order, stalling on any operand
    /// not ready yet; so all five loads come first, the lane that needs one shift (3) before those that need two,
    /// and no product waits on the instruction just before it.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Quarter(byte* w, sbyte* x, Vector128<byte> mask, ref Vector128<short> evenLow, ref Vector128<short> evenHigh, ref Vector128<short> oddLow, ref Vector128<short> oddHigh)
    {
        var packed = AdvSimd.LoadVector128(w);
        var x0 = AdvSimd.LoadVector128(x);
        var x1 = AdvSimd.LoadVector128(x + 64);
        var x2 = AdvSimd.LoadVector128(x + 128);
        var x3 = AdvSimd.LoadVector128(x + 192);
        var c0 = AdvSimd.And(packed, mask).AsSByte();
        var s1 = AdvSimd.ShiftRightLogical(packed, 2);
        var s2 = AdvSimd.ShiftRightLogical(packed, 4);
        var c3 = AdvSimd.ShiftRightLogical(packed, 6).AsSByte(); // the top two bits need no mask
        var c1 = AdvSimd.And(s1, mask).AsSByte();
        var c2 = AdvSimd.And(s2, mask).AsSByte();
        MultiplyAccumulate(c0, x0, ref evenLow, ref evenHigh);
        MultiplyAccumulate(c3, x3, ref oddLow, ref oddHigh);
        MultiplyAccumulate(c1, x1, ref evenLow, ref evenHigh);
        MultiplyAccumulate(c2, x2, ref oddLow, ref oddHigh);
    }

    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var mask = Vector128.Create((byte)3);
        var acc = Vector128<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector128<short> evenLow = default, evenHigh = default, oddLow = default, oddHigh = default;
            byte* wb = row + start * TernaryPacking.BlockBytes;
            sbyte* xb = x + start * TernaryPacking.BlockWeights;
            for (int block = start; block < end; block++)
            {
                Quarter(wb, xb, mask, ref evenLow, ref evenHigh, ref oddLow, ref oddHigh);
                Quarter(wb + 16, xb + 16, mask, ref evenLow, ref evenHigh, ref oddLow, ref oddHigh);
                Quarter(wb + 32, xb + 32, mask, ref evenLow, ref evenHigh, ref oddLow, ref oddHigh);
                Quarter(wb + 48, xb + 48, mask, ref evenLow, ref evenHigh, ref oddLow, ref oddHigh);
                wb += TernaryPacking.BlockBytes;
                xb += TernaryPacking.BlockWeights;
            }
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, evenLow), evenHigh);
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, oddLow), oddHigh);
        }
        return Vector128.Sum(acc);
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

    /// <remarks>The four loads come first (the A53 stalls on a load used by the next instruction), and the lower
    /// halves of the codes are taken once: taken per product, each cost the JIT a register copy.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LaneFourTokens(Vector128<sbyte> codes, sbyte* x, long k, long k2, long k3,
        ref Vector128<short> l0, ref Vector128<short> h0, ref Vector128<short> l1, ref Vector128<short> h1,
        ref Vector128<short> l2, ref Vector128<short> h2, ref Vector128<short> l3, ref Vector128<short> h3)
    {
        var x0 = AdvSimd.LoadVector128(x);
        var x1 = AdvSimd.LoadVector128(x + k);
        var x2 = AdvSimd.LoadVector128(x + k2);
        var x3 = AdvSimd.LoadVector128(x + k3);
        var low = codes.GetLower();
        h0 = AdvSimd.MultiplyWideningUpperAndAdd(h0, codes, x0);
        h1 = AdvSimd.MultiplyWideningUpperAndAdd(h1, codes, x1);
        h2 = AdvSimd.MultiplyWideningUpperAndAdd(h2, codes, x2);
        h3 = AdvSimd.MultiplyWideningUpperAndAdd(h3, codes, x3);
        l0 = AdvSimd.MultiplyWideningLowerAndAdd(l0, low, x0.GetLower());
        l1 = AdvSimd.MultiplyWideningLowerAndAdd(l1, low, x1.GetLower());
        l2 = AdvSimd.MultiplyWideningLowerAndAdd(l2, low, x2.GetLower());
        l3 = AdvSimd.MultiplyWideningLowerAndAdd(l3, low, x3.GetLower());
    }

    /// <remarks>Overflow: 16 products per block into every lane of each token's two accumulators, so widening every
    /// <c>BlocksPerWidenFourTokens</c> = 4 blocks keeps to 64 products.</remarks>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
    {
        const int BlocksPerWidenFourTokens = 4;
        long k2 = 2L * k, k3 = 3L * k;
        var mask = Vector128.Create((byte)3);
        Vector128<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int start = 0; start < blocks; start += BlocksPerWidenFourTokens)
        {
            int end = Math.Min(blocks, start + BlocksPerWidenFourTokens);
            Vector128<short> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
            byte* wb = row + start * TernaryPacking.BlockBytes;
            sbyte* xb = x + start * TernaryPacking.BlockWeights;
            for (int block = start; block < end; block++)
            {
                QuarterFourTokens(wb, xb, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                QuarterFourTokens(wb + 16, xb + 16, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                QuarterFourTokens(wb + 32, xb + 32, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                QuarterFourTokens(wb + 48, xb + 48, k, k2, k3, mask, ref l0, ref h0, ref l1, ref h1, ref l2, ref h2, ref l3, ref h3);
                wb += TernaryPacking.BlockBytes;
                xb += TernaryPacking.BlockWeights;
            }
            acc0 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc0, l0), h0);
            acc1 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc1, l1), h1);
            acc2 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc2, l2), h2);
            acc3 = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc3, l3), h3);
        }
        r0 = Vector128.Sum(acc0);
        r1 = Vector128.Sum(acc1);
        r2 = Vector128.Sum(acc2);
        r3 = Vector128.Sum(acc3);
    }
}
