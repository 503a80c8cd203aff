using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// AVX-512 VBMI kernel for the 1.6-bit <see cref="FiveTritPacking"/> layout: byte permutations look the codes of five
/// weights up from one byte, then 512-bit <c>vpmaddubsw</c> multiplies them with the activations as in the 2-bit
/// kernels. It reads 19-20 % fewer bytes than they do and needs more ALU work per weight, so it is faster where the
/// weights stream from DRAM on two or more threads and slower from cache (docs/kernels.md).
/// </summary>
/// <remarks>
/// Per 64 bytes (320 weights): one compare of the bytes with zero into a mask register (their top bits), two
/// <c>vpermi2b</c> (bytes 0-127 and 128-255 of a 256-entry table) blended on that mask give c0..c3 as 2-bit fields,
/// one <c>vpermi2b</c> on the low seven bits gives c4; an AND and three <see cref="Avx512TernaryKernel.Codes"/>
/// (one <c>gf2p8affineqb</c> each) separate the fields; five <c>vpmaddubsw</c> and five <c>vpaddw</c>. (Masking
/// fields 1 and 3 in place into a second accumulator, as the AVX2 kernel does, took a shift and four ANDs and a second
/// widening per row, which weighs most where a row is only three blocks, K = 1024.) The K mod 320 weights in the
/// 2-bit tail: 16 bytes broadcast to the four 128-bit lanes, lane l shifted right by 2·l. Overflow, GEMV: a block adds
/// five pair sums ∈ [-512, 508] to each lane; widening every <see cref="BlocksPerWiden"/> = 8 blocks keeps 40, and the
/// ≤ 5 tail groups add one each to the last group's (≤ 45 · 512 = 23040 &lt; 32768). Batched: each of the eight token
/// accumulators gets five pair sums per block and one per tail group, widened once per pass of
/// ≤ <see cref="BlocksPerPass"/> = 9 blocks and the tail: ≤ 50 sums.
/// </remarks>
internal sealed unsafe class FiveTritVbmiKernel : TernaryKernel
{
    const int BlocksPerWiden = 8;

    /// <summary>
    /// Blocks per pass of the batched product: eight tokens × (9 blocks × 5 + 5 tail groups) chunks of 64 activations
    /// are 25 KiB, within a 32 KiB L1; longer rows (2.7B's K = 6912) take several passes, each adding to the outputs.
    /// </summary>
    const int BlocksPerPass = 9;

    const int ChunksPerBlock = FiveTritPacking.BlockWeights / 64;

    static readonly byte[] FourCodeTable = FiveTritPacking.FourCodeTable();
    static readonly byte[] FifthCodeTable = FiveTritPacking.FifthCodeTable();

    public static bool IsSupported => Avx512Vbmi.IsSupported;

    public override string Name => "1.6bit-vbmi";

    public override string Description => "vpermi2b lookups of five codes per byte, 512-bit vpmaddubsw codes×int8";

    public override TensorType Layout => TensorType.TernaryFiveTrit;

    /// <summary>Part p (64 bytes) of a lookup table: c0..c3 for bytes 0-255 in four parts, c4 for 0-127 in two.</summary>
    static Vector512<byte> TablePart(byte[] table, int part) => Vector512.Create(table.AsSpan(64 * part, 64));

    public override void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
    {
        CheckMatVec(w, rowStart, x, y, Layout);
        long rowBytes = w.RowBytes;
        fixed (sbyte* px = x)
        fixed (int* py = y)
            MatVec(w.Data + rowStart * rowBytes, rowBytes, w.Columns, px, xSum, py, y.Length);
    }

    /// <summary>Four rows per step, their int32 lanes reduced together as in the 2-bit kernels.</summary>
    static void MatVec(byte* rows, long rowBytes, int k, sbyte* x, int xSum, int* y, int count)
    {
        // Six vectors passed one by one stay in registers; a struct of six would live on the stack, reloaded every block.
        Vector512<byte> four0 = TablePart(FourCodeTable, 0), four1 = TablePart(FourCodeTable, 1),
            four2 = TablePart(FourCodeTable, 2), four3 = TablePart(FourCodeTable, 3),
            fifth0 = TablePart(FifthCodeTable, 0), fifth1 = TablePart(FifthCodeTable, 1);
        var sum = Vector128.Create(xSum);
        int i = 0;
        for (; i + 4 <= count; i += 4)
        {
            byte* row = rows + i * rowBytes;
            var four = Avx512TernaryKernel.SumFour(
                Avx512TernaryKernel.Fold(RowSums(row, x, k, four0, four1, four2, four3, fifth0, fifth1)),
                Avx512TernaryKernel.Fold(RowSums(row + rowBytes, x, k, four0, four1, four2, four3, fifth0, fifth1)),
                Avx512TernaryKernel.Fold(RowSums(row + 2 * rowBytes, x, k, four0, four1, four2, four3, fifth0, fifth1)),
                Avx512TernaryKernel.Fold(RowSums(row + 3 * rowBytes, x, k, four0, four1, four2, four3, fifth0, fifth1)));
            (four - sum).Store(y + i);
        }
        for (; i < count; i++)
            y[i] = Vector512.Sum(RowSums(rows + i * rowBytes, x, k, four0, four1, four2, four3, fifth0, fifth1)) - xSum;
    }

    /// <summary>Codes c0..c3 of 64 bytes as 2-bit fields: two table halves blended on the bytes' top bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> FourCodes(Vector512<byte> packed, Vector512<byte> four0, Vector512<byte> four1, Vector512<byte> four2, Vector512<byte> four3) =>
        Vector512.ConditionalSelect(Vector512.LessThan(packed.AsSByte(), Vector512<sbyte>.Zero).AsByte(),
            Avx512Vbmi.PermuteVar64x8x2(four2, packed, four3), Avx512Vbmi.PermuteVar64x8x2(four0, packed, four1));

    /// <summary>The codes of 64 tail weights from 16 bytes (byte j: weights j + 16·l in bits 2l, 2l+1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<byte> TailCodes(byte* group)
    {
        var laneShifts = Vector512.Create((ushort)0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
        var bytes = Avx512F.BroadcastVector128ToVector512((uint*)group).AsUInt16();
        return Avx512BW.ShiftRightLogicalVariable(bytes, laneShifts).AsByte() & Vector512.Create((byte)3);
    }

    /// <summary>One row's Σ codes·x as sixteen int32 lanes, before the horizontal sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<int> RowSums(byte* row, sbyte* x, int k, Vector512<byte> four0, Vector512<byte> four1,
        Vector512<byte> four2, Vector512<byte> four3, Vector512<byte> fifth0, Vector512<byte> fifth1)
    {
        var codeMask = Vector512.Create((byte)3);
        int blocks = FiveTritPacking.Blocks(k);
        Vector512<int> acc = default;
        Vector512<short> sums = default;
        for (int start = 0; start < blocks; start += BlocksPerWiden)
        {
            if (start > 0)
            {
                acc += Avx512TernaryKernel.Widen(sums);
                sums = default;
            }
            int end = Math.Min(blocks, start + BlocksPerWiden);
            for (int b = start; b < end; b++)
            {
                var packed = Vector512.Load(row + b * FiveTritPacking.BlockBytes);
                var fourCodes = FourCodes(packed, four0, four1, four2, four3);
                sbyte* xb = x + b * FiveTritPacking.BlockWeights;
                sums += Avx512TernaryKernel.Madd(fourCodes & codeMask, xb);
                sums += Avx512TernaryKernel.Madd(Avx512TernaryKernel.Codes(fourCodes, 2), xb + 64);
                sums += Avx512TernaryKernel.Madd(Avx512TernaryKernel.Codes(fourCodes, 4), xb + 128);
                sums += Avx512TernaryKernel.Madd(Avx512TernaryKernel.Codes(fourCodes, 6), xb + 192);
                sums += Avx512TernaryKernel.Madd(Avx512Vbmi.PermuteVar64x8x2(fifth0, packed, fifth1), xb + 256);
            }
        }
        byte* tail = row + blocks * FiveTritPacking.BlockBytes;
        sbyte* xTail = x + blocks * FiveTritPacking.BlockWeights;
        for (int g = 0; g < FiveTritPacking.TailGroups(k); g++)
            sums += Avx512TernaryKernel.Madd(TailCodes(tail + g * FiveTritPacking.TailGroupBytes), xTail + g * FiveTritPacking.TailGroupWeights);
        return acc + Avx512TernaryKernel.Widen(sums);
    }

    /// <summary>
    /// Eight tokens at a time, as the 2-bit AVX-512 kernel does: their activations are copied into one packed slice
    /// that stays in L1 while the rows stream through it, so the five code vectors of a block are looked up once and
    /// each feeds eight multiply-adds. A last group of 4-7 tokens is padded with zeros; fewer run as GEMVs.
    /// </summary>
    public override void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
    {
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride, Layout);
        long rowBytes = w.RowBytes;
        int k = w.PaddedColumns, columns = w.Columns;
        int blocks = FiveTritPacking.Blocks(columns), tailGroups = FiveTritPacking.TailGroups(columns);
        byte* rows = w.Data + rowStart * rowBytes;
        const int maxChunks = BlocksPerPass * ChunksPerBlock + 5;
        sbyte* packedSpace = stackalloc sbyte[TokensPerGroup * maxChunks * 64 + 64];
        sbyte* packed = (sbyte*)(((nint)packedSpace + 63) & ~(nint)63);
        int* groupSums = stackalloc int[TokensPerGroup];
        Vector512<byte> four0 = TablePart(FourCodeTable, 0), four1 = TablePart(FourCodeTable, 1),
            four2 = TablePart(FourCodeTable, 2), four3 = TablePart(FourCodeTable, 3),
            fifth0 = TablePart(FifthCodeTable, 0), fifth1 = TablePart(FifthCodeTable, 1);
        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            int b = 0;
            for (; n - b >= MinPaddedGroup; b += TokensPerGroup)
            {
                int tokens = Math.Min(TokensPerGroup, n - b);
                for (int t = 0; t < TokensPerGroup; t++)
                    groupSums[t] = t < tokens ? pSums[b + t] : 0;
                int* yb = py + (long)b * yStride;
                for (int first = 0; first == 0 || first < blocks; first += BlocksPerPass)
                {
                    int passBlocks = Math.Min(BlocksPerPass, blocks - first);
                    bool last = first + passBlocks >= blocks;
                    int passTail = last ? tailGroups : 0;
                    InterleaveEight(px + (long)b * k + first * FiveTritPacking.BlockWeights, k, tokens, passBlocks * ChunksPerBlock + passTail, 64, packed);
                    for (int i = 0; i < rowCount; i++)
                    {
                        byte* row = rows + i * rowBytes + first * FiveTritPacking.BlockBytes;
                        var total = RowEightTokens(row, packed, passBlocks, passTail, four0, four1, four2, four3, fifth0, fifth1);
                        if (first == 0)
                            StoreEight(total - Avx.LoadVector256(groupSums), tokens, yb + i, yStride);
                        else
                            AddEight(total, tokens, yb + i, yStride);
                    }
                }
            }
            for (; b < n; b++)
                MatVec(rows, rowBytes, columns, px + (long)b * k, pSums[b], py + (long)b * yStride, rowCount);
        }
    }

    static void AddEight(Vector256<int> total, int tokens, int* y, long yStride)
    {
        for (int t = 0; t < tokens; t++)
            y[t * yStride] += total.GetElement(t);
    }

    /// <summary>One row's pass against the eight packed activation vectors; chunk c of the pass is at c·512.</summary>
    /// <remarks>Inlined: the six table vectors would otherwise be passed through memory on every row.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> RowEightTokens(byte* row, sbyte* packed, int blocks, int tailGroups, Vector512<byte> four0,
        Vector512<byte> four1, Vector512<byte> four2, Vector512<byte> four3, Vector512<byte> fifth0, Vector512<byte> fifth1)
    {
        const int chunkStride = 64 * TokensPerGroup;
        var codeMask = Vector512.Create((byte)3);
        Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int b = 0; b < blocks; b++)
        {
            var bytes = Vector512.Load(row + b * FiveTritPacking.BlockBytes);
            var fourCodes = FourCodes(bytes, four0, four1, four2, four3);
            sbyte* xb = packed + b * ChunksPerBlock * chunkStride;
            Avx512TernaryKernel.AccumulateEight(fourCodes & codeMask, xb, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            Avx512TernaryKernel.AccumulateEight(Avx512TernaryKernel.Codes(fourCodes, 2), xb + chunkStride, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            Avx512TernaryKernel.AccumulateEight(Avx512TernaryKernel.Codes(fourCodes, 4), xb + 2 * chunkStride, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            Avx512TernaryKernel.AccumulateEight(Avx512TernaryKernel.Codes(fourCodes, 6), xb + 3 * chunkStride, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            Avx512TernaryKernel.AccumulateEight(Avx512Vbmi.PermuteVar64x8x2(fifth0, bytes, fifth1), xb + 4 * chunkStride, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
        }
        byte* tail = row + blocks * FiveTritPacking.BlockBytes;
        sbyte* xTail = packed + blocks * ChunksPerBlock * chunkStride;
        for (int g = 0; g < tailGroups; g++)
            Avx512TernaryKernel.AccumulateEight(TailCodes(tail + g * FiveTritPacking.TailGroupBytes), xTail + g * chunkStride, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
        return Avx512TernaryKernel.SumEight(s0, s1, s2, s3, s4, s5, s6, s7);
    }
}
