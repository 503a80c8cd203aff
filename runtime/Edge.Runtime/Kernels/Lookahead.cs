namespace Edge.Runtime.Kernels;

/// <summary>
/// What the caller runs after a job, for the executor's idle workers to read ahead while the caller prepares it: the
/// next job's matrices, and the read-only vectors (norm weights and the like) that the caller's element-wise work
/// reads before that job. The weight stream evicts both from every cache once per token, so in decode each would
/// otherwise come from DRAM while the workers wait. Immutable; a model builds one per gap of its forward pass.
/// </summary>
internal sealed class Lookahead
{
    public Lookahead(ReadOnlySpan<TernaryMatrix> matrices, params ReadOnlySpan<float[]> vectors)
    {
        if (matrices.Length > TernaryExecutor.MaxProducts)
            throw new ArgumentException($"A job holds at most {TernaryExecutor.MaxProducts} products; got {matrices.Length}.", nameof(matrices));
        _matrices = matrices.ToArray();
        _vectors = vectors.ToArray();
        foreach (var vector in _vectors)
            ArgumentNullException.ThrowIfNull(vector, nameof(vectors));
    }

    readonly TernaryMatrix[] _matrices;
    readonly float[][] _vectors;

    /// <summary>The next job's matrices, in the order its products are given.</summary>
    public ReadOnlySpan<TernaryMatrix> Matrices => _matrices;

    /// <summary>Vectors the caller reads between this job and the next.</summary>
    public ReadOnlySpan<float[]> Vectors => _vectors;
}
