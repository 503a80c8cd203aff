using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// NEON without the dot-product extension (Cortex-A53/A72, Raspberry Pi 3/4): byte shift and AND give 16 codes,
/// <c>smlal</c>/<c>smlal2</c> multiply codes by activations and accumulate into int16, and <c>sadalp</c> widens
/// pairs into int32 every four blocks. Σx is subtracted once per row.
/// </summary>
/// <remarks>
/// Overflow: a product (t+1)·x lies in [-256, 254]; each block adds 16 of them into every lane of each of the two
/// int16 accumulators, so <see cref="BlocksPerWiden"/> = 4 blocks give at most 64: [-16384, 16256].
/// </remarks>
public sealed unsafe class NeonTernaryKernel : TernaryKernel
{
    const int BlocksPerWiden = 4;

    public static bool IsSupported => AdvSimd.IsSupported;

    public override string Name => "neon";

    public override string Description => "smlal codes×int8 into int16, sadalp-widened every 1024 weights";

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
    static void MultiplyAccumulate(Vector128<sbyte> codes, sbyte* x, ref Vector128<short> low, ref Vector128<short> high)
    {
        var xv = AdvSimd.LoadVector128(x);
        low = AdvSimd.MultiplyWideningLowerAndAdd(low, codes.GetLower(), xv.GetLower());
        high = AdvSimd.MultiplyWideningUpperAndAdd(high, codes, xv);
    }

    static int Dot(byte* row, sbyte* x, int blocks)
    {
        var acc = Vector128<int>.Zero;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector128<short> low = default, high = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    var packed = AdvSimd.LoadVector128(wb + 16 * quarter);
                    sbyte* xq = xb + 16 * quarter;
                    MultiplyAccumulate(Codes(packed, 0), xq, ref low, ref high);
                    MultiplyAccumulate(Codes(packed, 2), xq + 64, ref low, ref high);
                    MultiplyAccumulate(Codes(packed, 4), xq + 128, ref low, ref high);
                    MultiplyAccumulate(Codes(packed, 6), xq + 192, ref low, ref high);
                }
            }
            acc = AdvSimd.AddPairwiseWideningAndAdd(AdvSimd.AddPairwiseWideningAndAdd(acc, low), high);
        }
        return Vector128.Sum(acc);
    }

    /// <summary>One weight row against four activation vectors: each 16 codes are unpacked once and used four times.</summary>
    static void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3)
    {
        Vector128<int> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            int end = Math.Min(blocks, start + BlocksPerWiden);
            Vector128<short> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
            for (int block = start; block < end; block++)
            {
                byte* wb = row + block * TernaryPacking.BlockBytes;
                sbyte* xb = x + block * TernaryPacking.BlockWeights;
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    var packed = AdvSimd.LoadVector128(wb + 16 * quarter);
                    for (int lane = 0; lane < 4; lane++)
                    {
                        var codes = lane switch
                        {
                            0 => Codes(packed, 0),
                            1 => Codes(packed, 2),
                            2 => Codes(packed, 4),
                            _ => Codes(packed, 6),
                        };
                        sbyte* xq = xb + 16 * quarter + 64 * lane;
                        MultiplyAccumulate(codes, xq, ref l0, ref h0);
                        MultiplyAccumulate(codes, xq + k, ref l1, ref h1);
                        MultiplyAccumulate(codes, xq + 2 * k, ref l2, ref h2);
                        MultiplyAccumulate(codes, xq + 3 * k, ref l3, ref h3);
                    }
                }
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
