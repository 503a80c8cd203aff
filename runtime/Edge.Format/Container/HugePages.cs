namespace Edge.Format.Container;

/// <summary>
/// Transparent huge pages (Linux) for memory that holds a model's weights. Decode streams every weight once per token,
/// and through 4 KiB pages its speed depends on where they lie in physical memory: on the build machine a mapped file
/// whose pages had scattered decoded up to 25 % slower than a freshly written one, and a plain copy was no better.
/// Through 2 MiB pages it is always as fast as the best case (docs/PERFORMANCE.md §0d). The <c>--no-mmap</c> copy
/// asks for them, and so does the mapping, which gets them where the file system keeps the file in huge folios
/// (<see cref="ReadOnlyMapping"/>, §0f).
/// </summary>
public static unsafe class HugePages
{
    /// <summary>The huge page size of x86-64 and of arm64 with 4 KiB base pages (Pi 3 and 4; Pi 5 kernels use 16 KiB pages and 32 MiB huge pages).</summary>
    public const uint Size = 2 << 20;

    const string ModeSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>
    /// The kernel's transparent huge page mode: "always" or "madvise" (a <c>--no-mmap</c> copy gets huge pages),
    /// "never", or null where there are none (not Linux, or a kernel built without them).
    /// </summary>
    public static string? SystemMode
    {
        get
        {
            if (!OperatingSystem.IsLinux() || !File.Exists(ModeSetting))
                return null;
            string text = File.ReadAllText(ModeSetting); // "always [madvise] never": the bracketed one is in force
            int open = text.IndexOf('['), close = text.IndexOf(']');
            return open >= 0 && close > open ? text[(open + 1)..close] : null;
        }
    }

    /// <summary>
    /// Asks the kernel to back [start, start + length) with huge pages as it faults them in. Returns false where it
    /// will not (not Linux, huge pages switched off, a kernel without them); the memory then works as before.
    /// </summary>
    internal static bool TryAdvise(void* start, long length)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return Libc.Madvise(start, (nuint)length, Libc.MadviseHugePage) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
