using System.Runtime.InteropServices;

namespace Edge.Format.Container;

/// <summary>
/// Checks an output path before a file is written beside it and renamed over it. The rename replaces whatever the
/// name held, so a device node, pipe or socket given as the output (<c>-o /dev/full --force</c> as root) would be
/// swapped for a regular file; only a missing name or a regular file (or a link to one) may be replaced.
/// </summary>
internal static partial class OutputPath
{
    public static void EnsureReplaceable(string path)
    {
        if (Directory.Exists(path))
            throw new IOException($"Output {path} is a folder; give a file name, e.g. {Path.Combine(path, "model.edge")}.");
        if (File.Exists(path) && !IsRegularFile(path))
            throw new IOException($"Output {path} is not a regular file (a device, pipe or socket) and writing would replace it; give the name of a file.");
    }

    const int FileTypeMask = 0xF000, RegularFile = 0x8000;

    static unsafe bool IsRegularFile(string path)
    {
        if (OperatingSystem.IsWindows())
            return true;
        // The runtime's own stat wrapper (statically linked into NativeAOT binaries): its result layout is the same on
        // every architecture, unlike libc's struct stat. Mode is its second field; 256 bytes cover the whole record.
        byte* status = stackalloc byte[256];
        if (Stat(path, status) != 0)
            return true; // vanished or unreadable since File.Exists: the write itself reports what is wrong
        int mode = *(int*)(status + sizeof(int));
        return (mode & FileTypeMask) == RegularFile;
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* status);
}
