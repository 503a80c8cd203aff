namespace Edge.Benchmarks;

/// <summary>One implementation of the ternary GEMV with its matrices in memory, ready to be timed.</summary>
abstract class GemvEngine : IDisposable
{
    int _next;

    protected GemvEngine(GemvShape shape, CacheMode mode)
    {
        Shape = shape;
        Mode = mode;
    }

    public GemvShape Shape { get; }

    public CacheMode Mode { get; }

    /// <summary>"edge avx2", "ggml tq2_0", ...</summary>
    public abstract string Name { get; }

    /// <summary>Bytes one call reads for the weights.</summary>
    public abstract long MatrixBytes { get; }

    /// <summary>Distinct matrices cycled through (1 when hot).</summary>
    public abstract int Copies { get; }

    /// <summary>Selects how many threads the following calls use.</summary>
    public abstract void SetThreads(int threads);

    /// <summary>One GEMV, on the next matrix of the cycle.</summary>
    public void Run()
    {
        Multiply(_next);
        if (++_next == Copies)
            _next = 0;
    }

    protected abstract void Multiply(int copy);

    /// <summary>The first outputs of copy 0, to check that engines agree.</summary>
    public abstract float[] Result(int count);

    public abstract void Dispose();
}
