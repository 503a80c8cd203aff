using System.Globalization;
using System.Runtime.InteropServices;

namespace Edge.Format.Container;

/// <summary>
/// Transparent huge pages (Linux) for memory that holds a model's weights. Decode streams every weight once per token,
/// and through 4 KiB pages its speed depends on where they lie in physical memory: a mapped file whose pages have
/// scattered decodes markedly slower than a freshly written one, and a plain copy in 4 KiB pages is no better.
/// Through 2 MiB pages it runs at the best case every time (docs/PERFORMANCE.md, "Memory"). The <c>--no-mmap</c> copy
/// asks for them, and so does the mapping, which gets them where the file system keeps the file in huge folios
/// (<see cref="ReadOnlyMapping"/>).
/// </summary>
internal static unsafe class HugePages
{
    /// <summary>
    /// The size of a transparent huge page (one page-middle-directory entry) on this machine: 2 MiB on x86-64 and on
    /// arm64 with 4 KiB base pages (Pi 3 and 4), 32 MiB with the 16 KiB pages of Pi 5 kernels, 512 MiB with 64 KiB
    /// pages. Read from the kernel; 2 MiB where it does not say (not Linux, no huge pages).
    /// </summary>
    public static uint Size { get; } = ParseSize(ReadSetting(PmdSizeSetting));

    const uint DefaultSize = 2 << 20;
    const string ModeSetting = "/sys/kernel/mm/transparent_hugepage/enabled";
    const string PmdSizeSetting = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";

    /// <summary>The kernel's huge page size in bytes, as hpage_pmd_size holds it, if it is a power of two from 2 MiB to 1 GiB; else 2 MiB.</summary>
    internal static uint ParseSize(string? text) =>
        uint.TryParse(text?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out uint size) && uint.IsPow2(size) && size is >= DefaultSize and <= 1u << 30
            ? size
            : DefaultSize;

    static string? ReadSetting(string path)
    {
        try
        {
            return OperatingSystem.IsLinux() && File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The kernel's transparent huge page mode: "always" or "madvise" (a <c>--no-mmap</c> copy gets huge pages),
    /// "never", or null where there are none (not Linux, or a kernel built without them).
    /// </summary>
    public static string? SystemMode
    {
        get
        {
            string? text = ReadSetting(ModeSetting); // "always [madvise] never": the bracketed one is in force
            if (text is null)
                return null;
            int open = text.IndexOf('['), close = text.IndexOf(']');
            return open >= 0 && close > open ? text[(open + 1)..close] : null;
        }
    }

    /// <summary>
    /// Native memory for bytes that are streamed again and again (a model's weights, a bandwidth buffer): aligned to
    /// a huge page when it spans at least one, and advised to be backed by huge pages as it is first touched, so that
    /// how fast it streams does not depend on where 4 KiB pages happen to lie. Free it with <see cref="Free"/>.
    /// </summary>
    /// <param name="length">Bytes to allocate.</param>
    /// <param name="advised">Whether the kernel accepted the advice (see <see cref="TryAdvise"/>).</param>
    /// <exception cref="OutOfMemoryException">The process cannot get <paramref name="length"/> bytes.</exception>
    public static byte* Allocate(long length, out bool advised)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        bool huge = length >= Size;
        byte* pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), huge ? Size : 4096u);
        advised = huge && TryAdvise(pointer, length);
        return pointer;
    }

    /// <summary>Frees memory from <see cref="Allocate"/>.</summary>
    public static void Free(byte* pointer) => NativeMemory.AlignedFree(pointer);

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
