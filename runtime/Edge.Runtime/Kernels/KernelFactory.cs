namespace Edge.Runtime.Kernels;

/// <summary>
/// Chooses the ternary kernel for this CPU. The list is in order of preference; the scalar reference is last and
/// always available, so an unknown CPU runs slower instead of failing. <c>EDGE_KERNEL=&lt;name&gt;</c> forces one
/// (scalar, vector128, avx2, avx2-avx512, avx512, neon, neon-dot). Each kernel's <c>IsSupported</c> asks the JIT (or the NativeAOT
/// instruction-set baseline) what this process may execute, so a kernel is listed only where it can run.
/// </summary>
internal static class KernelFactory
{
    public const string OverrideVariable = "EDGE_KERNEL";

    /// <summary>Every kernel this CPU can run, fastest first.</summary>
    public static IReadOnlyList<TernaryKernel> Available { get; } = CreateAvailable();

    static List<TernaryKernel> CreateAvailable()
    {
        var kernels = new List<TernaryKernel>();
        // Where 512-bit units are full width (AVX-VNNI stands for it), AVX2's GEMV with AVX-512's batched products,
        // which run about twice as fast as AVX2's there (docs/PERFORMANCE.md, "AVX-512 batched products").
        if (Avx2Avx512TernaryKernel.IsSupported)
            kernels.Add(new Avx2Avx512TernaryKernel());
        // x86 first choice otherwise: in the model the weights stream from DRAM, and there the 256-bit loop is at least
        // as fast as the 512-bit one, which Zen 4 runs as two halves; measured token by token in one process
        // (docs/PERFORMANCE.md, "Tried and not kept"). x86-64-v3 NativeAOT builds get it too.
        if (Avx2TernaryKernel.IsSupported)
            kernels.Add(new Avx2TernaryKernel());
        // x86 with AVX-512BW: half the instructions per weight, faster only with cache-resident weights
        // (docs/PERFORMANCE.md, "GEMV vs ggml"); EDGE_KERNEL=avx512 picks it.
        if (Avx512TernaryKernel.IsSupported)
            kernels.Add(new Avx512TernaryKernel());
        // ARMv8.2+ (Cortex-A55/A76, Pi 5): sdot multiplies and adds 4 bytes per int32 lane, no int16 stage.
        if (NeonDotTernaryKernel.IsSupported)
            kernels.Add(new NeonDotTernaryKernel());
        // ARMv8.0 (Cortex-A53/A72, Pi 3/4) and 32-bit ARM: widening multiply-accumulate into int16.
        if (NeonTernaryKernel.IsSupported)
            kernels.Add(new NeonTernaryKernel());
        // Any other CPU with 128-bit SIMD (and x86-64-v2 NativeAOT builds): portable, about a sixth of AVX2 here.
        if (Vector128TernaryKernel.IsSupported)
            kernels.Add(new Vector128TernaryKernel());
        // Always last: runs everywhere and defines the exact result.
        kernels.Add(new ScalarTernaryKernel());
        return kernels;
    }

    /// <summary>
    /// The kernel that reads 1.6-bit (<see cref="Format.Container.TensorType.TernaryFiveTrit"/>) matrices next to
    /// <paramref name="kernel"/>, or null: then a model's 1.6-bit matrices are repacked to 2-bit at load. Only with
    /// AVX-512 VBMI, and only next to the x86 SIMD kernels: <c>EDGE_KERNEL=scalar</c> or <c>vector128</c> asks for
    /// the reference or portable path, which the repacked matrices take.
    /// </summary>
    public static TernaryKernel? FiveTritFor(TernaryKernel kernel) =>
        FiveTritVbmiKernel.IsSupported && kernel is Avx2TernaryKernel or Avx2Avx512TernaryKernel or Avx512TernaryKernel ? FiveTrit : null;

    static readonly FiveTritVbmiKernel? FiveTrit = FiveTritVbmiKernel.IsSupported ? new FiveTritVbmiKernel() : null;

    /// <summary>The kernel named by <c>EDGE_KERNEL</c>, or else the fastest available.</summary>
    public static TernaryKernel Default
    {
        get
        {
            string? forced = Environment.GetEnvironmentVariable(OverrideVariable);
            try
            {
                return Select(forced);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{OverrideVariable}={forced}: {e.Message} Change or unset {OverrideVariable}.");
            }
        }
    }

    /// <summary>Looks a kernel up by name; null or empty means the fastest available.</summary>
    public static TernaryKernel Select(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
            return Available[0];
        foreach (var k in Available)
            if (string.Equals(k.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
                return k;
        throw new ArgumentException(
            $"Kernel \"{name}\" is not available on this CPU. Available: {string.Join(", ", Available.Select(k => k.Name))}.");
    }
}
