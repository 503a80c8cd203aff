namespace Edge.Runtime.Kernels;

/// <summary>
/// Runs a kernel over whole matrices. This is where work is split across threads; the model only ever calls
/// <see cref="MatMul"/>.
/// </summary>
public sealed class TernaryExecutor : IDisposable
{
    public TernaryExecutor(TernaryKernel kernel, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Kernel = kernel;
        Threads = threads;
    }

    public TernaryKernel Kernel { get; }

    public int Threads { get; }

    /// <summary>An accelerator consulted before the kernel; null runs everything on the CPU.</summary>
    public ITernaryOffload? Offload { get; set; }

    /// <summary>y[b, 0..Rows) = W · x[b] for a batch of n activation vectors (see <see cref="TernaryKernel.MatMul"/>).</summary>
    public void MatMul(in TernaryMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y)
    {
        if (Offload is { } offload && offload.TryMatMul(w, x, xSums, n, y))
            return;
        if (n == 1)
            Kernel.MatVec(w, 0, x[..w.PaddedColumns], xSums[0], y[..w.Rows]);
        else
            Kernel.MatMul(w, 0, w.Rows, x, xSums, n, y, w.Rows);
    }

    public void Dispose()
    {
    }
}
