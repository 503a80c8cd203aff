using System.IO.MemoryMappedFiles;

namespace Edge.Format.Container;

/// <summary>
/// A whole file mapped read-only with its base address pinned, shared by the readers of model files and
/// checkpoints: they view their data in place instead of copying it.
/// </summary>
public sealed unsafe class ReadOnlyMapping : IFileView
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    bool _disposed;

    public ReadOnlyMapping(string path)
    {
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

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
