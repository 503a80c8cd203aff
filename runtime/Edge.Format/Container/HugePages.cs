using System.Runtime.InteropServices;

namespace Edge.Format.Container;

/// <summary>
/// Transparent huge pages (Linux) for memory that holds a model's weights. Decode streams every weight once per token,
/// and through 4 KiB pages its speed depends on where they lie in physical memory: on the build machine a mapped file
/// whose pages had scattered decoded up to 25 % slower than a freshly written one, and a plain copy was no better.
/// Through 2 MiB pages it is always as fast as the best case (docs/PERFORMANCE.md §0d). File mappings cannot have
/// them, so only the <c>--no-mmap</c> copy asks for them.
/// </summary>
static unsafe partial class HugePages
{
    /// <summary>The huge page size of x86-64 and of arm64 with 4 KiB base pages (Raspberry Pi OS).</summary>
    public const uint Size = 2 << 20;

    const int MadviseHugePage = 14; // MADV_HUGEPAGE, the same number on every Linux architecture

    /// <summary>
    /// Asks the kernel to back [start, start + length) with huge pages as it faults them in. Returns false where it
    /// will not (not Linux, huge pages switched off, a kernel without them); the memory then works as before.
    /// </summary>
    public static bool TryAdvise(void* start, long length)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return Madvise(start, (nuint)length, MadviseHugePage) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* start, nuint length, int advice);
}
