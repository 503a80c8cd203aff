using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Runtime.Kernels;

/// <summary>
/// The seam every ternary matrix kernel implements: exact int32 sums of int8 activations times ternary weights.
/// Implementations differ only in speed; each must return exactly what <see cref="ScalarTernaryKernel"/> returns.
/// Scaling back to floats is done by the caller with the shared <c>BitLinearRule</c>.
/// </summary>
internal abstract unsafe class TernaryKernel
{
    /// <summary>Short name used by <c>EDGE_KERNEL</c>, <c>edge inspect --cpu</c> and benchmarks.</summary>
    public abstract string Name { get; }

    /// <summary>What the kernel does per weight, for humans.</summary>
    public abstract string Description { get; }

    /// <summary>The packed layout the kernel reads: <see cref="TensorType.Ternary2"/> unless it says otherwise.</summary>
    public virtual TensorType Layout => TensorType.Ternary2;

    /// <summary>
    /// y[i] = Σ_k t[rowStart + i, k] · x[k] for i in [0, y.Length).
    /// </summary>
    /// <param name="x">Activations, length <see cref="TernaryMatrix.PaddedColumns"/>, zero beyond Columns.</param>
    /// <param name="xSum">Σ x[k], precomputed once per vector for kernels that multiply the codes t+1.</param>
    public abstract void MatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y);

    /// <summary>
    /// The same for a batch of n activation vectors stored one after another (stride PaddedColumns):
    /// y[b·yStride + i] = Σ_k t[rowStart + i, k] · x[b·PaddedColumns + k], for i in [0, rowCount).
    /// Kernels that read each weight row once per batch override this; prefill depends on it.
    /// </summary>
    public virtual void MatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
    {
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride, Layout);
        int k = w.PaddedColumns;
        for (int b = 0; b < n; b++)
            MatVec(w, rowStart, x.Slice(b * k, k), xSums[b], y.Slice(b * yStride, rowCount));
    }

    /// <summary>A kernel's dot product of one packed row with one activation vector (Σ codes·x, before −Σx).</summary>
    /// <remarks>
    /// Kernels supply their inner loops as structs implementing these interfaces, so the shared drivers below are
    /// compiled once per kernel with the row loop called directly (no virtual call per row).
    /// </remarks>
    protected interface IRowDot
    {
        static abstract int Dot(byte* row, sbyte* x, int blocks);
    }

    /// <summary>
    /// The dot products of four consecutive rows, read one after the other (one stream, as <see cref="IRowDot"/>),
    /// with the four horizontal reductions done together.
    /// </summary>
    protected interface IRowDotFourRows : IRowDot
    {
        static abstract Vector128<int> DotFourRows(byte* row, long rowBytes, sbyte* x, int blocks);
    }

    /// <summary>The same for four activation vectors k apart, each unpacked code vector used four times.</summary>
    protected interface IRowDotFourTokens : IRowDot
    {
        static abstract void DotFourTokens(byte* row, sbyte* x, int k, int blocks, out int r0, out int r1, out int r2, out int r3);
    }

    /// <summary>MatVec one row at a time: two or more rows per activation load are no faster from cache and much
    /// slower from DRAM, where streams a row apart defeat the hardware prefetcher (docs/kernels.md).</summary>
    protected static void MatVecByRows<TRows>(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
        where TRows : struct, IRowDot =>
        MatVecByFourRows<OneRowAtATime<TRows>>(w, rowStart, x, xSum, y);

    /// <summary>Four rows for a kernel whose dot products are reduced one by one.</summary>
    readonly struct OneRowAtATime<TRows> : IRowDotFourRows where TRows : struct, IRowDot
    {
        public static int Dot(byte* row, sbyte* x, int blocks) => TRows.Dot(row, x, blocks);

        public static Vector128<int> DotFourRows(byte* row, long rowBytes, sbyte* x, int blocks) =>
            Vector128.Create(TRows.Dot(row, x, blocks), TRows.Dot(row + rowBytes, x, blocks),
                TRows.Dot(row + 2 * rowBytes, x, blocks), TRows.Dot(row + 3 * rowBytes, x, blocks));
    }

    /// <summary>
    /// MatVec four rows per step in the same memory order: a K = 1024 row is only four blocks, so reducing four
    /// accumulators at once instead of one by one saves a fifth of the instructions (docs/kernels.md).
    /// </summary>
    protected static void MatVecByFourRows<TRows>(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, int xSum, Span<int> y)
        where TRows : struct, IRowDotFourRows
    {
        CheckMatVec(w, rowStart, x, y);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        byte* row = w.Data + rowStart * rowBytes;
        var sum = Vector128.Create(xSum);
        fixed (sbyte* px = x)
        fixed (int* py = y)
        {
            int i = 0;
            for (; i + 4 <= y.Length; i += 4)
                (TRows.DotFourRows(row + i * rowBytes, rowBytes, px, blocks) - sum).Store(py + i);
            for (; i < y.Length; i++)
                py[i] = TRows.Dot(row + i * rowBytes, px, blocks) - xSum;
        }
    }

    /// <summary>
    /// MatMul for kernels with a one-row × four-token loop: a tile of 16 rows meets four activation vectors at a time,
    /// so the tile's weights and the four vectors stay in L1 while every weight is unpacked once per four tokens;
    /// left-over tokens run one at a time.
    /// </summary>
    protected static void MatMulFourTokenGroups<TRows>(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
        where TRows : struct, IRowDotFourTokens
    {
        const int tokensPerGroup = 4, rowsPerTile = 16;
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        int k = w.PaddedColumns;
        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            for (int tile = 0; tile < rowCount; tile += rowsPerTile)
            {
                int tileEnd = Math.Min(rowCount, tile + rowsPerTile);
                int b = 0;
                for (; b + tokensPerGroup <= n; b += tokensPerGroup)
                {
                    for (int i = tile; i < tileEnd; i++)
                    {
                        TRows.DotFourTokens(w.Data + (rowStart + i) * rowBytes, px + (long)b * k, k, blocks, out int r0, out int r1, out int r2, out int r3);
                        py[(long)b * yStride + i] = r0 - pSums[b];
                        py[(long)(b + 1) * yStride + i] = r1 - pSums[b + 1];
                        py[(long)(b + 2) * yStride + i] = r2 - pSums[b + 2];
                        py[(long)(b + 3) * yStride + i] = r3 - pSums[b + 3];
                    }
                }
                for (; b < n; b++)
                    for (int i = tile; i < tileEnd; i++)
                        py[(long)b * yStride + i] = TRows.Dot(w.Data + (rowStart + i) * rowBytes, px + (long)b * k, blocks) - pSums[b];
            }
        }
    }

    /// <summary>
    /// The batched loops of the x86 kernels (AVX2, AVX-512) and NEON-dot, which share <see cref="MatMulByTokenGroups{TRows}"/>:
    /// eight tokens against one row from an interleaved copy of their activations, and four tokens against one or two
    /// rows in place for rows too long for that copy.
    /// </summary>
    protected interface IRowTokenGroups : IRowDot
    {
        /// <summary>
        /// Copies <paramref name="tokens"/> activation vectors (stride k, <paramref name="blocks"/> blocks each) into the
        /// interleaved slice <see cref="RowEightTokens"/> reads; the missing vectors of a short group are zeros.
        /// </summary>
        static abstract void PackEight(sbyte* x, int k, int tokens, int blocks, sbyte* packed);

        /// <summary>One row against the eight packed vectors: y[t·yStride] = Σ codes·x_t − sums[t] for t below tokens.</summary>
        static abstract void RowEightTokens(byte* row, sbyte* packed, int blocks, int* sums, int tokens, int* y, long yStride);

        /// <summary>One row against four vectors k apart: y[t·yStride] = Σ codes·x_t − sums[t].</summary>
        static abstract void DotFourTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride);

        /// <summary>Two adjacent rows against four vectors: rows i and i+1 go to y[t·yStride] and y[t·yStride + 1].</summary>
        static abstract void DotTwoRowsFourTokens(byte* row, long rowBytes, sbyte* x, int k, int blocks, int* sums, int* y, long yStride);

        /// <summary>One row against two vectors k apart, y[0] and y[yStride]: the 2-3 tokens the groups leave.</summary>
        static abstract void DotTwoTokens(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride);
    }

    /// <summary>
    /// <see cref="IRowTokenGroups.DotTwoTokens"/> for kernels without a two-token loop: two single-token products,
    /// the row still read from memory once for both.
    /// </summary>
    protected static void DotEachOfTwoTokens<TRows>(byte* row, sbyte* x, int k, int blocks, int* sums, int* y, long yStride)
        where TRows : struct, IRowDot
    {
        y[0] = TRows.Dot(row, x, blocks) - sums[0];
        y[yStride] = TRows.Dot(row, x + k, blocks) - sums[1];
    }

    /// <summary>Tokens per interleaved group of <see cref="IRowTokenGroups.RowEightTokens"/>.</summary>
    protected const int TokensPerGroup = 8;

    /// <summary>Fewer tokens than this left over run as single-token products: a padded group would waste more.</summary>
    protected const int MinPaddedGroup = 4;

    /// <summary>
    /// The shortest last group the eight-token path pads. A tail of 4-6 tokens runs as one four-token group on the
    /// activations in place (as fast per multiply-add at these row lengths) and 0-2 single-token products: fewer
    /// multiply-adds than a group padded to eight (docs/kernels.md).
    /// </summary>
    const int MinPaddedEightGroup = 7;

    /// <summary>
    /// Longest row for the eight-token path: 8 tokens × 3072 packed activations are 24 KiB, which with the streaming
    /// weights still fits a 32 KiB L1. Longer rows (K = 6912 of MMfreeLM-2.7B) use two rows × four tokens.
    /// </summary>
    protected const int MaxEightTokenBlocks = 12;

    const int TokensPerSmallGroup = 4;
    const int RowsPerTile = 64;

    /// <summary>
    /// MatMul for the x86 kernels and NEON-dot: groups of eight tokens when a row is short enough for their interleaved copy to stay
    /// in L1, else 64-row tiles against four tokens at a time; left-over tokens run one at a time.
    /// </summary>
    protected static void MatMulByTokenGroups<TRows>(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
        where TRows : struct, IRowTokenGroups
    {
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride);
        int blocks = w.RowBytes / TernaryPacking.BlockBytes;
        long rowBytes = w.RowBytes;
        int k = w.PaddedColumns;
        byte* rows = w.Data + rowStart * rowBytes;
        fixed (sbyte* px = x)
        fixed (int* pSums = xSums)
        fixed (int* py = y)
        {
            int b = blocks <= MaxEightTokenBlocks
                ? EightTokenGroups<TRows>(rows, rowBytes, rowCount, blocks, k, px, pSums, n, py, yStride)
                : FourTokenGroups<TRows>(rows, rowBytes, rowCount, blocks, k, px, pSums, n, py, yStride);
            // The 1-3 tokens left over meet each row in turn, so a row is read from memory once for all of them
            // (a server's decode step of two or three sequences), not once per token; two of them share its unpacking.
            for (int i = 0; i < rowCount; i++)
            {
                byte* row = rows + i * rowBytes;
                int t = b;
                if (n - t >= 2)
                {
                    TRows.DotTwoTokens(row, px + (long)t * k, k, blocks, pSums + t, py + (long)t * yStride + i, yStride);
                    t += 2;
                }
                for (; t < n; t++)
                    py[(long)t * yStride + i] = TRows.Dot(row, px + (long)t * k, blocks) - pSums[t];
            }
        }
    }

    /// <summary>
    /// Eight tokens at a time: their activations are copied into one slice of ≤ 24 KiB that stays in L1 while every
    /// row of the range streams through it, so each unpacked code vector feeds eight multiply-adds from consecutive
    /// addresses, and the weights (a byte per 32 multiply-adds) come from L2 or beyond. A last group of 7 tokens is
    /// padded with zeros, one of 4-6 runs its first four as a four-token group; fewer are left to the caller.
    /// </summary>
    /// <returns>The first token not done.</returns>
    static int EightTokenGroups<TRows>(byte* rows, long rowBytes, int rowCount, int blocks, int k, sbyte* x, int* sums, int n, int* y, int yStride)
        where TRows : struct, IRowTokenGroups
    {
        const int packedBytes = TokensPerGroup * MaxEightTokenBlocks * TernaryPacking.BlockWeights;
        sbyte* packedSpace = stackalloc sbyte[packedBytes + 64];
        sbyte* packed = (sbyte*)(((nint)packedSpace + 63) & ~(nint)63);
        int* groupSums = stackalloc int[TokensPerGroup];
        int b = 0;
        for (; n - b >= MinPaddedEightGroup; b += TokensPerGroup)
        {
            int tokens = Math.Min(TokensPerGroup, n - b);
            for (int t = 0; t < TokensPerGroup; t++)
                groupSums[t] = t < tokens ? sums[b + t] : 0;
            TRows.PackEight(x + (long)b * k, k, tokens, blocks, packed);
            int* yb = y + (long)b * yStride;
            for (int i = 0; i < rowCount; i++)
                TRows.RowEightTokens(rows + i * rowBytes, packed, blocks, groupSums, tokens, yb + i, yStride);
        }
        b = Math.Min(b, n);
        if (n - b >= TokensPerSmallGroup)
            b += FourTokenGroups<TRows>(rows, rowBytes, rowCount, blocks, k, x + (long)b * k, sums + b, TokensPerSmallGroup, y + (long)b * yStride, yStride);
        return b;
    }

    /// <summary>
    /// Four tokens at a time for rows too long for the eight-token slice: a 64-row tile meets four activation vectors
    /// (in place, stride k), the vectors in L1 and the tile's weights in L2, two rows per activation load.
    /// </summary>
    /// <returns>The first token not done.</returns>
    static int FourTokenGroups<TRows>(byte* rows, long rowBytes, int rowCount, int blocks, int k, sbyte* x, int* sums, int n, int* y, int yStride)
        where TRows : struct, IRowTokenGroups
    {
        int groups = n / TokensPerSmallGroup;
        for (int tile = 0; tile < rowCount; tile += RowsPerTile)
        {
            int tileEnd = Math.Min(rowCount, tile + RowsPerTile);
            for (int g = 0; g < groups; g++)
            {
                int b = g * TokensPerSmallGroup;
                sbyte* xb = x + (long)b * k;
                int* yb = y + (long)b * yStride;
                int i = tile;
                for (; i + 2 <= tileEnd; i += 2)
                    TRows.DotTwoRowsFourTokens(rows + i * rowBytes, rowBytes, xb, k, blocks, sums + b, yb + i, yStride);
                if (i < tileEnd)
                    TRows.DotFourTokens(rows + i * rowBytes, xb, k, blocks, sums + b, yb + i, yStride);
            }
        }
        return groups * TokensPerSmallGroup;
    }

    /// <summary>
    /// Copies <paramref name="chunks"/> chunks of <paramref name="chunkBytes"/> bytes (one vector register) of
    /// <paramref name="tokens"/> activation vectors (stride k) so that chunk c of token t lands at (8·c + t)·chunkBytes:
    /// the interleaved slice the eight-token loops read from consecutive addresses. The missing tokens of a short group
    /// are zeros. Inlined with a constant <paramref name="chunkBytes"/>, each copy is one vector load and store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void InterleaveEight(sbyte* x, int k, int tokens, int chunks, int chunkBytes, sbyte* packed)
    {
        for (int t = 0; t < TokensPerGroup; t++)
        {
            sbyte* source = x + (long)t * k;
            sbyte* target = packed + chunkBytes * t;
            if (t < tokens)
                for (int c = 0; c < chunks; c++)
                    Unsafe.CopyBlockUnaligned(target + c * chunkBytes * TokensPerGroup, source + c * chunkBytes, (uint)chunkBytes);
            else
                for (int c = 0; c < chunks; c++)
                    Unsafe.InitBlockUnaligned(target + c * chunkBytes * TokensPerGroup, 0, (uint)chunkBytes);
        }
    }

    /// <summary>y[t·yStride] = values[t] for a group's tokens; a full group with constant lane indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void StoreEight(Vector256<int> values, int tokens, int* y, long yStride) =>
        StoreEight(values.GetLower(), values.GetUpper(), tokens, y, yStride);

    /// <summary>The same for the eight values as two halves (tokens 0-3 in <paramref name="low"/>), as NEON holds them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static void StoreEight(Vector128<int> low, Vector128<int> high, int tokens, int* y, long yStride)
    {
        if (tokens == TokensPerGroup)
        {
            y[0] = low.ToScalar();
            y[yStride] = low.GetElement(1);
            y[2 * yStride] = low.GetElement(2);
            y[3 * yStride] = low.GetElement(3);
            y[4 * yStride] = high.ToScalar();
            y[5 * yStride] = high.GetElement(1);
            y[6 * yStride] = high.GetElement(2);
            y[7 * yStride] = high.GetElement(3);
        }
        else
        {
            for (int t = 0; t < tokens; t++)
                y[t * yStride] = t < 4 ? low.GetElement(t) : high.GetElement(t - 4);
        }
    }

    /// <summary>
    /// The SIMD kernels read through raw pointers, so every entry point checks its spans against the matrix first:
    /// a wrong length is a bug in the caller and must fail loudly, not read past a buffer.
    /// </summary>
    protected static void CheckMatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, Span<int> y, TensorType layout = TensorType.Ternary2)
    {
        CheckLayout(w, layout);
        if (rowStart < 0 || rowStart + y.Length > w.Rows)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"Rows {rowStart}..{rowStart + y.Length} are outside the matrix of {w.Rows} rows.");
        if (x.Length < w.PaddedColumns)
            throw new ArgumentException($"The activation vector has {x.Length} values; the matrix needs {w.PaddedColumns} (padded with zeros).", nameof(x));
    }

    /// <inheritdoc cref="CheckMatVec"/>
    protected static void CheckMatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride, TensorType layout = TensorType.Ternary2)
    {
        CheckLayout(w, layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        if (rowStart < 0 || rowStart + rowCount > w.Rows)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"Rows {rowStart}..{rowStart + rowCount} are outside the matrix of {w.Rows} rows.");
        if (x.Length < (long)n * w.PaddedColumns)
            throw new ArgumentException($"{n} activation vectors need {(long)n * w.PaddedColumns} values; got {x.Length}.", nameof(x));
        if (xSums.Length < n)
            throw new ArgumentException($"{n} activation vectors need {n} sums; got {xSums.Length}.", nameof(xSums));
        if (yStride < rowCount || y.Length < (long)(n - 1) * yStride + rowCount)
            throw new ArgumentException($"The output of {n}×{rowCount} with stride {yStride} does not fit in {y.Length} values.", nameof(y));
    }

    static void CheckLayout(in TernaryMatrix w, TensorType layout)
    {
        if (w.Layout != layout)
            throw new ArgumentException($"The matrix is packed as {w.Layout}; this kernel reads {layout}.", nameof(w));
    }
}
