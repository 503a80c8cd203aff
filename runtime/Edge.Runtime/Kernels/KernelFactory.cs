namespace Edge.Runtime.Kernels;

/// <summary>
/// Chooses the ternary kernel for this CPU. The list is in order of preference; the scalar reference is last and
/// always available, so an unknown CPU runs slower instead of failing. <c>EDGE_KERNEL=&lt;name&gt;</c> forces one.
/// </summary>
public static class KernelFactory
{
    public const string OverrideVariable = "EDGE_KERNEL";

    /// <summary>Every kernel this CPU can run, fastest first.</summary>
    public static IReadOnlyList<TernaryKernel> Available { get; } = CreateAvailable();

    static List<TernaryKernel> CreateAvailable()
    {
        var kernels = new List<TernaryKernel>();
        kernels.Add(new ScalarTernaryKernel());
        return kernels;
    }

    /// <summary>The kernel named by <c>EDGE_KERNEL</c>, or else the fastest available.</summary>
    public static TernaryKernel Default => Select(Environment.GetEnvironmentVariable(OverrideVariable));

    /// <summary>Looks a kernel up by name; null or empty means the fastest available.</summary>
    public static TernaryKernel Select(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
            return Available[0];
        foreach (var k in Available)
            if (string.Equals(k.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return k;
        throw new ArgumentException(
            $"Kernel \"{name}\" is not available on this CPU ({OverrideVariable}). Available: {string.Join(", ", Available.Select(k => k.Name))}.");
    }
}
