namespace Edge.Runtime.Kernels;

/// <summary>
/// The seam every ternary matrix kernel implements: exact int32 sums of int8 activations times ternary weights.
/// Implementations differ only in speed; each must return exactly what <see cref="ScalarTernaryKernel"/> returns.
/// Scaling back to floats is done by the caller with the shared <c>BitLinearRule</c>.
/// </summary>
public abstract class TernaryKernel
{
    /// <summary>Short name used by <c>EDGE_KERNEL</c>, <c>edge inspect --cpu</c> and benchmarks.</summary>
    public abstract string Name { get; }

    /// <summary>What the kernel does per weight, for humans.</summary>
    public abstract string Description { get; }

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
        CheckMatMul(w, rowStart, rowCount, x, xSums, n, y, yStride);
        int k = w.PaddedColumns;
        for (int b = 0; b < n; b++)
            MatVec(w, rowStart, x.Slice(b * k, k), xSums[b], y.Slice(b * yStride, rowCount));
    }

    /// <summary>
    /// The SIMD kernels read through raw pointers, so every entry point checks its spans against the matrix first:
    /// a wrong length is a bug in the caller and must fail loudly, not read past a buffer.
    /// </summary>
    protected static void CheckMatVec(in TernaryMatrix w, int rowStart, ReadOnlySpan<sbyte> x, Span<int> y)
    {
        if (rowStart < 0 || rowStart + y.Length > w.Rows)
            throw new ArgumentOutOfRangeException(nameof(rowStart), $"Rows {rowStart}..{rowStart + y.Length} are outside the matrix of {w.Rows} rows.");
        if (x.Length < w.PaddedColumns)
            throw new ArgumentException($"The activation vector has {x.Length} values; the matrix needs {w.PaddedColumns} (padded with zeros).", nameof(x));
    }

    /// <inheritdoc cref="CheckMatVec"/>
    protected static void CheckMatMul(in TernaryMatrix w, int rowStart, int rowCount, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y, int yStride)
    {
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
}
