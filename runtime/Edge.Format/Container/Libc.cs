using System.Runtime.InteropServices;

namespace Edge.Format.Container;

/// <summary>The Linux memory calls the model file's views use, in one place; the numbers are the same on x86-64 and arm64.</summary>
internal static unsafe partial class Libc
{
    public const int ProtNone = 0, ProtRead = 1;
    public const int MapShared = 1, MapPrivate = 2, MapFixed = 0x10, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MadviseHugePage = 14;
    public static readonly void* MapFailed = (void*)-1;

    [LibraryImport("libc", EntryPoint = "mmap")]
    public static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    public static partial int Munmap(void* address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise")]
    public static partial int Madvise(void* start, nuint length, int advice);
}
