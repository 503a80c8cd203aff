namespace Edge.Runtime.Kernels;

/// <summary>
/// One product of a <see cref="TernaryExecutor"/> job: y (n, Rows) = W · x (n, PaddedColumns), with Σx per vector.
/// The pointers refer to pinned buffers of at least those sizes that the caller keeps alive during the call; the
/// model builds these once, so a decode step passes several products to the pool without pinning or allocating.
/// </summary>
internal readonly unsafe struct TernaryProduct
{
    public TernaryProduct(in TernaryMatrix matrix, sbyte* x, int* xSums, int* y)
    {
        Matrix = matrix;
        X = x;
        XSums = xSums;
        Y = y;
    }

    public TernaryMatrix Matrix { get; }

    /// <summary>n activation vectors, PaddedColumns apart.</summary>
    public sbyte* X { get; }

    /// <summary>n sums Σx.</summary>
    public int* XSums { get; }

    /// <summary>n output rows of Rows int32 each.</summary>
    public int* Y { get; }
}
