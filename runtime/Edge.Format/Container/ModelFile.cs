using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace Edge.Format.Container;

/// <summary>
/// A model file, memory-mapped read-only (or, on request, read into memory once). Opening validates the header,
/// metadata and tensor table (bounds, alignment, sizes, types, overlaps); tensor data is only viewed, never copied
/// again. Any inconsistency is an <see cref="InvalidDataException"/> whose message says what is wrong.
/// </summary>
public sealed unsafe class ModelFile : IDisposable
{
    readonly IFileView _view;
    readonly byte* _base;
    readonly Dictionary<string, TensorInfo> _byName;
    bool _disposed;

    public string Path { get; }
    public long FileLength { get; }
    public uint FormatVersion { get; }
    public ModelMetadata Metadata { get; }
    public IReadOnlyList<TensorInfo> Tensors { get; }

    ModelFile(string path, bool inMemory)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException($"Model file {path} does not exist.", path);
        FileLength = info.Length;
        if (FileLength < ModelFileLayout.HeaderSize)
            throw Invalid($"it is {FileLength} bytes, shorter than the {ModelFileLayout.HeaderSize}-byte header");
        _view = inMemory ? new InMemoryFile(path) : new ReadOnlyMapping(path);
        IsMapped = !inMemory;
        _base = _view.Pointer;
        try
        {
            (FormatVersion, Metadata, Tensors) = Parse(new ReadOnlySpan<byte>(_base, (int)Math.Min(FileLength, int.MaxValue)), FileLength);
            _byName = Tensors.ToDictionary(t => t.Name);
            Fingerprint = ComputeFingerprint(new ReadOnlySpan<byte>(_base, (int)Math.Min(FileLength, int.MaxValue)));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Maps and validates a model file.</summary>
    /// <param name="inMemory">Read the whole file into process memory instead of mapping it (<c>--no-mmap</c>).</param>
    public static ModelFile Open(string path, bool inMemory = false) => new(path, inMemory);

    /// <summary>
    /// SHA-256 (lower-case hex) of the metadata and tensor table, which holds every tensor's CRC-32: it names this
    /// model's exact weights without reading them, so saved states and prompt caches can refuse another model.
    /// </summary>
    public string Fingerprint { get; } = "";

    /// <summary>Whether the bytes are the page cache's, mapped (else a private copy read at open).</summary>
    public bool IsMapped { get; }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public TensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw Invalid($"tensor {name} is missing");

    /// <summary>A view of a tensor's bytes inside the mapping; valid until the file is disposed.</summary>
    public ReadOnlySpan<byte> GetBytes(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ReadOnlySpan<byte>(_base + tensor.Offset, checked((int)tensor.Length));
    }

    /// <summary>The address of a tensor's data, for kernels that take raw pointers.</summary>
    public byte* GetPointer(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + tensor.Offset;
    }

    /// <summary>A typed view; the caller states the expected type and shape.</summary>
    public ReadOnlySpan<T> GetSpan<T>(string name, TensorType type, params long[] shape) where T : unmanaged
    {
        var t = Expect(name, type, shape);
        return new ReadOnlySpan<T>(_base + t.Offset, checked((int)(t.Length / sizeof(T))));
    }

    /// <summary>Looks a tensor up and checks its type and shape against what the model needs.</summary>
    public TensorInfo Expect(string name, TensorType type, params long[] shape)
    {
        var t = GetInfo(name);
        if (t.Type != type)
            throw Invalid($"tensor {name} has type {t.Type}; {type} was expected");
        if (!t.Shape.AsSpan().SequenceEqual(shape))
            throw Invalid($"tensor {name} has shape {t.ShapeText}; [{string.Join(", ", shape)}] was expected");
        return t;
    }

    /// <summary>Recomputes every tensor's CRC-32; returns the names of tensors whose data is corrupt.</summary>
    public IReadOnlyList<string> VerifyChecksums()
    {
        var bad = new List<string>();
        foreach (var t in Tensors)
        {
            var crc = new Crc32();
            for (long done = 0; done < t.Length;)
            {
                int n = (int)Math.Min(t.Length - done, 1 << 30);
                crc.Append(new ReadOnlySpan<byte>(_base + t.Offset + done, n));
                done += n;
            }
            if (crc.GetCurrentHashAsUInt32() != t.Crc32)
                bad.Add(t.Name);
        }
        return bad;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view.Dispose();
    }

    /// <summary>The <see cref="Fingerprint"/> of a file whose header <see cref="Parse"/> has validated.</summary>
    static string ComputeFingerprint(ReadOnlySpan<byte> head)
    {
        var h = head[..ModelFileLayout.HeaderSize];
        int metaLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(h[24..]);
        int tableOffset = (int)BinaryPrimitives.ReadUInt64LittleEndian(h[32..]);
        int tableLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(h[40..]);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(head.Slice(ModelFileLayout.HeaderSize, metaLength));
        sha.AppendData(head.Slice(tableOffset, tableLength));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    static InvalidDataException Invalid(string what) =>
        new($"Not a valid Edge model file: {what}. Re-create it with edge-pack.");

    /// <summary>Parses and validates header, metadata and table from the start of a file.</summary>
    /// <param name="head">The file's bytes (at least its first 2 GiB).</param>
    public static (uint Version, ModelMetadata Metadata, IReadOnlyList<TensorInfo> Tensors) Parse(ReadOnlySpan<byte> head, long fileLength)
    {
        if (!head[..8].SequenceEqual(ModelFileLayout.Magic))
            throw Invalid("the magic bytes are wrong (is this a safetensors or GGUF file? convert it with edge-pack)");
        var h = head[..ModelFileLayout.HeaderSize];
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[60..]) != Crc32.HashToUInt32(h[..60]))
            throw Invalid("the header checksum does not match (the file is corrupt)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version != ModelFileLayout.FormatVersion)
            throw new InvalidDataException($"Model file format version {version} is not supported by this build of Edge (it reads version {ModelFileLayout.FormatVersion}); use a matching Edge release or re-pack the model.");
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[12..]) != ModelFileLayout.HeaderSize)
            throw Invalid("the header size is wrong");
        ulong metaOffset = BinaryPrimitives.ReadUInt64LittleEndian(h[16..]);
        ulong metaLength = BinaryPrimitives.ReadUInt64LittleEndian(h[24..]);
        ulong tableOffset = BinaryPrimitives.ReadUInt64LittleEndian(h[32..]);
        ulong tableLength = BinaryPrimitives.ReadUInt64LittleEndian(h[40..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(h[48..]);
        uint blocksCrc = BinaryPrimitives.ReadUInt32LittleEndian(h[52..]);

        if (metaOffset != ModelFileLayout.HeaderSize || metaLength > ModelFileLayout.MaxMetadataBytes)
            throw Invalid("the metadata block is out of place or too large");
        if (tableLength > ModelFileLayout.MaxTableBytes || count > ModelFileLayout.MaxTensorCount)
            throw Invalid("the tensor table is too large");
        if (tableOffset < metaOffset + metaLength || tableOffset + tableLength != (ulong)fileLength)
            throw Invalid($"the tensor table does not end the file (file is {fileLength} bytes; the header says {tableOffset + tableLength}); the file may be truncated");
        if (tableOffset + tableLength > (ulong)head.Length)
            throw Invalid("the tensor table lies beyond the first 2 GiB, which this reader does not support");

        var meta = head.Slice((int)metaOffset, (int)metaLength);
        var table = head.Slice((int)tableOffset, (int)tableLength);
        var crc = new Crc32();
        crc.Append(meta);
        crc.Append(table);
        if (crc.GetCurrentHashAsUInt32() != blocksCrc)
            throw Invalid("the metadata or tensor table checksum does not match (the file is corrupt)");

        var metadata = ModelMetadata.FromJson(meta);
        var tensors = DecodeTable(table, (int)count, (long)(metaOffset + metaLength), (long)tableOffset);
        return (version, metadata, tensors);
    }

    static List<TensorInfo> DecodeTable(ReadOnlySpan<byte> table, int count, long dataStart, long dataEnd)
    {
        var tensors = new List<TensorInfo>(count);
        var names = new HashSet<string>();
        int p = 0;
        for (int i = 0; i < count; i++)
        {
            Need(table, p, 2, i);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(table[p..]);
            p += 2;
            if (nameLength is 0 or > ModelFileLayout.MaxNameBytes)
                throw Invalid($"tensor table entry {i} has a name of {nameLength} bytes");
            Need(table, p, nameLength + 2, i);
            string name;
            try
            {
                name = new UTF8Encoding(false, true).GetString(table.Slice(p, nameLength));
            }
            catch (DecoderFallbackException)
            {
                throw Invalid($"tensor table entry {i} has a name that is not UTF-8");
            }
            p += nameLength;
            var type = (TensorType)table[p++];
            int rank = table[p++];
            if (!TensorTypes.IsKnown(type))
                throw Invalid($"tensor {name} has unknown type {(int)type} (a newer Edge may read it)");
            if (rank is 0 or > ModelFileLayout.MaxDimensions)
                throw Invalid($"tensor {name} has {rank} dimensions");
            Need(table, p, rank * 8 + 24, i);
            var shape = new long[rank];
            for (int d = 0; d < rank; d++, p += 8)
                shape[d] = BinaryPrimitives.ReadInt64LittleEndian(table[p..]);
            long offset = BinaryPrimitives.ReadInt64LittleEndian(table[p..]);
            long length = BinaryPrimitives.ReadInt64LittleEndian(table[(p + 8)..]);
            float scale = BinaryPrimitives.ReadSingleLittleEndian(table[(p + 16)..]);
            uint crc = BinaryPrimitives.ReadUInt32LittleEndian(table[(p + 20)..]);
            p += 24;

            long? expected = TensorTypes.ExpectedLength(type, shape);
            if (expected is null)
                throw Invalid($"tensor {name} has shape [{string.Join(", ", shape)}], which a {type} tensor cannot have");
            if (length != expected)
                throw Invalid($"tensor {name} is {length} bytes; its type and shape need {expected}");
            if (offset % ModelFileLayout.Alignment != 0)
                throw Invalid($"tensor {name} starts at {offset}, which is not {ModelFileLayout.Alignment}-byte aligned");
            if (offset < dataStart || offset > dataEnd || length > dataEnd - offset)
                throw Invalid($"tensor {name} (bytes {offset}..{offset + length}) lies outside the data region {dataStart}..{dataEnd}");
            if (TensorTypes.IsTernary(type) && !(float.IsFinite(scale) && scale > 0))
                throw Invalid($"ternary tensor {name} has scale {scale}");
            if (!names.Add(name))
                throw Invalid($"tensor {name} appears twice");
            tensors.Add(new TensorInfo(name, type, shape, offset, length, scale, crc));
        }
        if (p != table.Length)
            throw Invalid($"the tensor table has {table.Length - p} bytes after its last entry");

        var sorted = tensors.OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i - 1].Offset + sorted[i - 1].Length > sorted[i].Offset)
                throw Invalid($"tensors {sorted[i - 1].Name} and {sorted[i].Name} overlap");
        return tensors;
    }

    static void Need(ReadOnlySpan<byte> table, int p, int n, int entry)
    {
        if (p + n > table.Length)
            throw Invalid($"the tensor table ends inside entry {entry}");
    }
}
