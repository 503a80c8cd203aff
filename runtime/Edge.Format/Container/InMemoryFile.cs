namespace Edge.Format.Container;

/// <summary>
/// A whole file read into page-aligned native memory at open: the alternative to <see cref="ReadOnlyMapping"/> for
/// <c>--no-mmap</c>. It costs resident memory equal to the file, and in exchange no later access waits for a page
/// to come in from storage (a mapping pages in on first touch, so on an SD card or a network disk the first tokens
/// pay for reading the model, and pages evicted under memory pressure are read again). On Linux the copy asks for
/// transparent huge pages, so decode speed no longer depends on where the page cache put the file (<see cref="HugePages"/>).
/// </summary>
internal sealed unsafe class InMemoryFile : IFileView
{
    const int ReadChunk = 1 << 30;
    bool _disposed;

    public InMemoryFile(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = RandomAccess.GetLength(handle);
        try
        {
            // Advised before the first write: the pages are faulted in as huge pages as the file is read.
            Pointer = HugePages.Allocate(Length, out bool advised);
            HugePagesAdvised = advised;
        }
        catch (OutOfMemoryException)
        {
            throw new InsufficientMemoryException($"Reading {path} into memory needs {Length >> 20} MiB that this process cannot get; leave out --no-mmap to map the file instead.");
        }
        try
        {
            for (long done = 0; done < Length;)
            {
                int read = RandomAccess.Read(handle, new Span<byte>(Pointer + done, (int)Math.Min(Length - done, ReadChunk)), done);
                if (read == 0)
                    throw new IOException($"{path} ended after {done} of {Length} bytes while it was being read; is another program writing it?");
                done += read;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The first byte of the file; valid until disposal.</summary>
    public byte* Pointer { get; }

    public long Length { get; }

    /// <summary>Whether the kernel accepted the request for transparent huge pages (Linux; see <see cref="HugePages"/>).</summary>
    public bool HugePagesAdvised { get; }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        HugePages.Free(Pointer);
    }
}
