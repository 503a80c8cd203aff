namespace Edge.Benchmarks;

/// <summary>One ternary matrix-vector product of MMfreeLM: y (N) = W (N×K) · x (K).</summary>
sealed record GemvShape(string Model, string Role, int K, int N)
{
    public long Weights => (long)K * N;

    public override string ToString() => $"{Model} {Role} {K}x{N}";

    /// <summary>The projection shapes of MMfreeLM-370M (H 1024, I 2816) and -2.7B (H 2560, I 6912).</summary>
    public static IReadOnlyList<GemvShape> All { get; } =
    [
        new("370M", "attn i/f/g/o", 1024, 1024),
        new("370M", "mlp gate+up", 1024, 5632),
        new("370M", "mlp down", 2816, 1024),
        new("2.7B", "attn i/f/g/o", 2560, 2560),
        new("2.7B", "mlp gate+up", 2560, 13824),
    ];

    /// <summary>Matrices in the cycle of a "cold" run: enough that their bytes exceed the 32 MiB L3 three times over.</summary>
    public int ColdCopies(long bytesPerMatrix) => (int)Math.Max(2, (ColdWorkingSetBytes + bytesPerMatrix - 1) / bytesPerMatrix);

    public const long ColdWorkingSetBytes = 96L << 20;
}

/// <summary>Cold: each call reads a matrix not touched since its bytes were evicted (DRAM); hot: one matrix again and again (cache).</summary>
enum CacheMode
{
    Cold,
    Hot,
}
