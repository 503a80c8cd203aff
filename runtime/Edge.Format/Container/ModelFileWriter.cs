using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Edge.Format.Container;

/// <summary>
/// Writes a model file tensor by tensor into a temporary file beside the destination, and renames it into place
/// only in <see cref="Commit"/>; disposing an uncommitted writer deletes the temporary file, so a failed or
/// interrupted pack never leaves a half-written model behind. The temporary file has one name per destination
/// (<c>model.edge.partial</c>), held under an exclusive lock while it is written: a run killed outright (SIGKILL,
/// power loss) leaves it to be reused by the next run, and a second writer of the same destination is refused.
/// </summary>
internal sealed class ModelFileWriter : IDisposable
{
    /// <summary>Appended to the destination's name for the file being written.</summary>
    public const string PartialSuffix = ".partial";

    readonly string _path;
    readonly string _tempPath;
    readonly FileStream _file;
    readonly byte[] _metadata;
    readonly List<TensorInfo> _tensors = [];
    readonly HashSet<string> _names = [];
    TensorStream? _open;
    bool _committed, _failed;

    ModelFileWriter(string path, ModelMetadata metadata)
    {
        _path = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(_path);
        if (dir is not null && !Directory.Exists(dir))
            throw new DirectoryNotFoundException($"The output folder {dir} does not exist.");
        OutputPath.EnsureReplaceable(_path);
        _tempPath = _path + PartialSuffix;
        _metadata = metadata.ToJson();
        // Writes of whole huge pages leave the file in the page cache as huge folios where the file system keeps them
        // (ext4 from Linux 6.16, XFS), which a mapping then gets as huge pages (ReadOnlyMapping); 1 MiB writes did not.
        // At most 64 MiB: with 64 KiB base pages a huge page is 512 MiB, too much to buffer.
        int buffer = (int)Math.Min(2L * HugePages.Size, 64 << 20);
        try
        {
            // OpenOrCreate, then truncate: the lock (FileShare.None) is taken at open, so a file another live writer
            // holds is refused before a byte of it is touched.
            _file = new FileStream(_tempPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, buffer);
        }
        catch (IOException e) when (File.Exists(_tempPath) && !IsDiskFull(e))
        {
            throw new IOException($"{_tempPath} is in use: another edge-pack is writing {_path}; wait for it or choose another output.", e);
        }
        RemoveStaleLegacyPartials(_path);
        Io(() =>
        {
            _file.SetLength(0);
            _file.Write(new byte[ModelFileLayout.HeaderSize]);
            _file.Write(_metadata);
            Pad();
        });
    }

    public static ModelFileWriter Create(string path, ModelMetadata metadata) => new(path, metadata);

    public IReadOnlyList<TensorInfo> Tensors => _tensors;

    /// <summary>Starts a tensor whose data is then written, in order, to the returned stream before the next one starts.</summary>
    public Stream BeginTensor(string name, TensorType type, long[] shape, float scale = 0)
    {
        ThrowIfFailed();
        if (_open is not null)
            throw new InvalidOperationException($"Tensor {_open.Name} is still being written.");
        if (Encoding.UTF8.GetByteCount(name) is 0 or > ModelFileLayout.MaxNameBytes)
            throw new ArgumentException($"Tensor name \"{name}\" is empty or too long.", nameof(name));
        if (!_names.Add(name))
            throw new ArgumentException($"Tensor {name} is written twice.", nameof(name));
        long length = TensorTypes.ExpectedLength(type, shape)
            ?? throw new ArgumentException($"Shape [{string.Join(", ", shape)}] is not valid for a {type} tensor.", nameof(shape));
        _open = new TensorStream(this, name, type, (long[])shape.Clone(), scale, _file.Position, length);
        return _open;
    }

    /// <summary>Writes a whole tensor at once.</summary>
    public void AddTensor(string name, TensorType type, long[] shape, ReadOnlySpan<byte> data, float scale = 0)
    {
        using var s = BeginTensor(name, type, shape, scale);
        s.Write(data);
    }

    void Finish(TensorStream t)
    {
        _open = null;
        if (t.Written != t.Length)
        {
            _failed = true;
            throw new InvalidOperationException($"Tensor {t.Name} got {t.Written} bytes; its shape needs {t.Length}.");
        }
        _tensors.Add(new TensorInfo(t.Name, t.Type, t.Shape, t.Offset, t.Length, t.Scale, t.Crc.GetCurrentHashAsUInt32()));
        Io(Pad);
    }

    /// <summary>Writes the tensor table and header, flushes to disk and renames the file into place.</summary>
    public void Commit()
    {
        ThrowIfFailed();
        if (_open is not null)
            throw new InvalidOperationException($"Tensor {_open.Name} was not finished.");
        byte[] table = EncodeTable(_tensors);
        long tableOffset = _file.Position;
        Io(() => _file.Write(table));

        var crc = new Crc32();
        crc.Append(_metadata);
        crc.Append(table);
        var header = new byte[ModelFileLayout.HeaderSize];
        ModelFileLayout.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), ModelFileLayout.FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), ModelFileLayout.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), ModelFileLayout.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), (ulong)_metadata.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(32), (ulong)tableOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(40), (ulong)table.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(48), (uint)_tensors.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(52), crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(60), Crc32.HashToUInt32(header.AsSpan(0, 60)));
        Io(() =>
        {
            _file.Position = 0;
            _file.Write(header);
            _file.Flush(flushToDisk: true);
        });
        _file.Dispose();
        OutputPath.EnsureReplaceable(_path); // again: the name may have been taken while the pack ran
        File.Move(_tempPath, _path, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed)
            return;
        try
        {
            _file.Dispose();
        }
        catch (IOException)
        {
            // Disposing flushes what is buffered, which fails again on a full disk; the file goes anyway.
        }
        try
        {
            File.Delete(_tempPath);
        }
        catch (IOException)
        {
            // Best effort: the temporary name never shadows a real model.
        }
    }

    /// <summary>Runs a write; a full disk becomes one line that says where and what to do, and poisons the writer.</summary>
    void Io(Action write)
    {
        try
        {
            write();
        }
        catch (IOException e)
        {
            _failed = true;
            throw Explain(e);
        }
    }

    IOException Explain(IOException e) => IsDiskFull(e)
        ? new IOException($"No space left on the disk of {Path.GetDirectoryName(_path)} after {_file.Length >> 20} MiB of {Path.GetFileName(_path)}; free some space or write the model elsewhere.", e)
        : e;

    /// <summary>ENOSPC (28 on Linux) or ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.</summary>
    static bool IsDiskFull(IOException e) => e.HResult is 28 or unchecked((int)0x80070070) or unchecked((int)0x80070027);

    /// <summary>
    /// Deletes the <c>.partial-PID</c> files that earlier versions wrote beside this destination and whose process is
    /// gone, so that files a killed run left do not pile up.
    /// </summary>
    static void RemoveStaleLegacyPartials(string path)
    {
        string dir = Path.GetDirectoryName(path) ?? ".";
        string prefix = Path.GetFileName(path) + PartialSuffix + "-";
        foreach (string file in Directory.EnumerateFiles(dir, prefix + "*"))
        {
            if (!int.TryParse(Path.GetFileName(file)[prefix.Length..], out int pid) || IsRunning(pid))
                continue;
            try
            {
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another user's file, or one just removed: not ours to insist on.
            }
        }
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    void ThrowIfFailed()
    {
        if (_failed)
            throw new InvalidOperationException("An earlier tensor was written incompletely; this model file cannot be finished.");
    }

    void Pad()
    {
        long pad = ModelFileLayout.AlignUp(_file.Position) - _file.Position;
        if (pad > 0)
            _file.Write(new byte[pad]);
    }

    /// <summary>The table encoding; <see cref="ModelFile"/> decodes it.</summary>
    static byte[] EncodeTable(List<TensorInfo> tensors)
    {
        using var ms = new MemoryStream();
        Span<byte> buf = stackalloc byte[8];
        foreach (var t in tensors)
        {
            byte[] name = Encoding.UTF8.GetBytes(t.Name);
            BinaryPrimitives.WriteUInt16LittleEndian(buf, (ushort)name.Length);
            ms.Write(buf[..2]);
            ms.Write(name);
            ms.WriteByte((byte)t.Type);
            ms.WriteByte((byte)t.Shape.Length);
            foreach (long d in t.Shape)
            {
                BinaryPrimitives.WriteInt64LittleEndian(buf, d);
                ms.Write(buf);
            }
            BinaryPrimitives.WriteInt64LittleEndian(buf, t.Offset);
            ms.Write(buf);
            BinaryPrimitives.WriteInt64LittleEndian(buf, t.Length);
            ms.Write(buf);
            BinaryPrimitives.WriteSingleLittleEndian(buf, t.Scale);
            ms.Write(buf[..4]);
            BinaryPrimitives.WriteUInt32LittleEndian(buf, t.Crc32);
            ms.Write(buf[..4]);
        }
        return ms.ToArray();
    }

    sealed class TensorStream(ModelFileWriter owner, string name, TensorType type, long[] shape, float scale, long offset, long length) : Stream
    {
        public string Name => name;
        public TensorType Type => type;
        public long[] Shape => shape;
        public float Scale => scale;
        public long Offset => offset;
        public override long Length => length;
        public long Written { get; private set; }
        public Crc32 Crc { get; } = new();
        bool _done;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_done)
                throw new ObjectDisposedException(name);
            if (Written + buffer.Length > length)
            {
                owner._failed = true;
                throw new InvalidOperationException($"Tensor {name} is {length} bytes; more were written.");
            }
            try
            {
                owner._file.Write(buffer);
            }
            catch (IOException e)
            {
                owner._failed = true;
                throw owner.Explain(e);
            }
            Crc.Append(buffer);
            Written += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_done)
            {
                _done = true;
                owner.Finish(this);
            }
            base.Dispose(disposing);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
