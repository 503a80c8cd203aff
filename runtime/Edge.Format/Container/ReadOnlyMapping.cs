using System.IO.MemoryMappedFiles;
using static Edge.Format.Container.Libc;

namespace Edge.Format.Container;

/// <summary>
/// A whole file mapped read-only with its base address pinned, shared by the readers of model files and
/// checkpoints: they view their data in place instead of copying it. On Linux the mapping starts on a huge-page
/// boundary and asks for transparent huge pages before it is first touched: where the file system keeps the file
/// in huge folios (ext4 from Linux 6.16, XFS; read in after that advice, or written in large pieces as edge-pack
/// does), the kernel then maps it with huge pages (2 MiB on x86-64), and decode no longer depends on where its 4 KiB pages lie
/// (<see cref="HugePages"/>). Elsewhere, and if that mapping fails, it is an ordinary mapping.
/// </summary>
internal sealed unsafe class ReadOnlyMapping : IFileView
{
    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly long _length; // the file's, which Dispose unmaps where there is no MemoryMappedFile view
    bool _disposed;

    public ReadOnlyMapping(string path)
    {
        if (OperatingSystem.IsLinux() && TryMapAligned(path, out byte* pointer, out _length))
        {
            Pointer = pointer;
            HugePagesAdvised = HugePages.TryAdvise(pointer, _length);
            return;
        }
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            Pointer = p + _view.PointerOffset;
        }
        catch
        {
            _view?.Dispose();
            _map.Dispose();
            throw;
        }
    }

    /// <summary>The first byte of the file; valid until disposal.</summary>
    public byte* Pointer { get; }

    /// <summary>Whether the kernel accepted the request for transparent huge pages (Linux; see <see cref="HugePages"/>).</summary>
    public bool HugePagesAdvised { get; }

    /// <summary>
    /// Maps the file at a huge-page boundary: reserves its length plus one huge page of address space, maps the file
    /// over the first boundary inside, and gives back the rest. False (nothing left mapped) where any step fails, or
    /// for an empty file, which cannot be mapped.
    /// </summary>
    static bool TryMapAligned(string path, out byte* pointer, out long length)
    {
        pointer = null;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        length = RandomAccess.GetLength(handle);
        if (length == 0)
            return false;
        try
        {
            nuint page = (nuint)Environment.SystemPageSize, huge = HugePages.Size;
            nuint reserved = (nuint)length + huge;
            byte* region = (byte*)Mmap(null, reserved, ProtNone, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
            if (region == MapFailed)
                return false;
            byte* aligned = (byte*)(((nuint)region + huge - 1) & ~(huge - 1));
            if (Mmap(aligned, (nuint)length, ProtRead, MapShared | MapFixed, (int)handle.DangerousGetHandle(), 0) == MapFailed)
            {
                Munmap(region, reserved);
                return false;
            }
            byte* end = aligned + (((nuint)length + page - 1) & ~(page - 1));
            if (aligned > region)
                Munmap(region, (nuint)(aligned - region));
            if (end < region + reserved)
                Munmap(end, (nuint)(region + reserved - end));
            pointer = aligned;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_view is null)
        {
            Munmap(Pointer, (nuint)_length);
            return;
        }
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map!.Dispose();
    }
}
