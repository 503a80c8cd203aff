namespace Edge.Runtime.Kernels;

/// <summary>
/// An optional accelerator for some ternary matrices (e.g. an FPGA on SPI). <see cref="TernaryExecutor"/> asks it
/// first; it returns the exact integer sums the CPU kernel would, or false to let the CPU compute them.
/// </summary>
internal interface ITernaryOffload
{
    /// <summary>
    /// y[b·Rows + i] = Σ_k t[i, k] · x[b·PaddedColumns + k] for b in [0, n), as <see cref="TernaryExecutor.MatMul(in TernaryMatrix, ReadOnlySpan{sbyte}, ReadOnlySpan{int}, int, Span{int})"/>.
    /// Returns false (leaving y to the CPU) when this matrix is not offloaded or the device failed.
    /// </summary>
    bool TryMatMul(in TernaryMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y);
}
