using Edge.Format.Container;
using System.Buffers.Binary;
using System.Text.Json;
using Edge.Format.Numerics;
using Edge.Format.Text;

namespace Edge.Packer.Safetensors;

/// <summary>Element types edge-pack reads from safetensors files.</summary>
internal enum SafetensorsDType
{
    BF16,
    F16,
    F32,
}

/// <summary>One tensor of a safetensors file: where its bytes lie in the mapped file.</summary>
internal sealed record SafetensorsTensor(string Name, SafetensorsDType DType, long[] Shape, long DataOffset, long ByteLength, SafetensorsFile File)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public string ShapeText => FormatShape(Shape);

    public static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Converts <paramref name="destination"/>.Length elements starting at element <paramref name="start"/> to fp32.</summary>
    public void ReadAsSingle(long start, Span<float> destination) => File.ReadAsSingle(this, start, destination);
}

/// <summary>
/// A memory-mapped safetensors file (8-byte little-endian header length, JSON header, raw data). Opening validates
/// the header and every tensor's dtype, shape and byte range against the file size; data is converted to fp32 on
/// demand, chunk by chunk, so memory use does not grow with the file.
/// </summary>
internal sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The safetensors format's own limit on the JSON header.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly ReadOnlyMapping _mapping;
    readonly byte* _base;
    bool _disposed;

    public string Path { get; }
    public string FileName => System.IO.Path.GetFileName(Path);
    public long Length { get; }
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    SafetensorsFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new PackerException($"{path} does not exist.");
        Length = info.Length;
        if (Length < 8)
            throw Corrupt($"it is only {Length} bytes long (truncated?)");
        _mapping = new ReadOnlyMapping(path);
        _base = _mapping.Pointer;
        try
        {
            Tensors = ParseHeader();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Maps and validates a safetensors file; problems are <see cref="PackerException"/>s naming the file.</summary>
    public static SafetensorsFile Open(string path) => new(path);

    Dictionary<string, SafetensorsTensor> ParseHeader()
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_base, 8));
        if (headerLength > MaxHeaderBytes)
            throw Corrupt($"its header claims {headerLength} bytes (at most {MaxHeaderBytes} are allowed); the file is corrupt or not a safetensors file");
        if (8 + (long)headerLength > Length)
            throw Corrupt($"its header claims {headerLength} bytes but the file is only {Length} bytes long (truncated?)");
        long dataStart = 8 + (long)headerLength;

        JsonDocument doc;
        try
        {
            doc = StrictJson.Parse(new ReadOnlySpan<byte>(_base + 8, (int)headerLength).ToArray(), "its header");
        }
        catch (InvalidDataException e)
        {
            throw Corrupt(e.Message.TrimEnd('.'));
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Corrupt("its header is not a JSON object");
            var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                    continue;
                if (entry.Name.Any(char.IsControl))
                    throw Corrupt("a tensor name in its header holds control characters (line breaks, escapes)");
                var tensor = ParseEntry(entry.Name, entry.Value, dataStart);
                if (!tensors.TryAdd(tensor.Name, tensor))
                    throw Corrupt($"tensor {tensor.Name} appears twice in its header");
            }
            CheckDataIsTiled(tensors.Values, Length - dataStart);
            return tensors;
        }
    }

    SafetensorsTensor ParseEntry(string name, JsonElement value, long dataStart)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
            throw Corrupt($"the header entry of tensor {name} lacks a dtype, shape or data_offsets pair");

        string dtypeText = dtypeElement.GetString()!;
        SafetensorsDType dtype = dtypeText switch
        {
            "BF16" => SafetensorsDType.BF16,
            "F16" => SafetensorsDType.F16,
            "F32" => SafetensorsDType.F32,
            _ => throw new PackerException($"{FileName}: tensor {name} has dtype {dtypeText}, which edge-pack does not read; expected BF16, F16 or F32 (save the checkpoint in bfloat16)."),
        };

        var shape = new long[shapeElement.GetArrayLength()];
        long count = 1;
        int d = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long n) || n < 0 || n > int.MaxValue)
                throw Corrupt($"tensor {name} has an invalid shape");
            if (n != 0 && count > (1L << 40) / n)
                throw Corrupt($"tensor {name} has an absurdly large shape");
            shape[d++] = n;
            count *= n;
        }

        long[] offsets = new long[2];
        int i = 0;
        foreach (var o in offsetsElement.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out long x) || x < 0)
                throw Corrupt($"tensor {name} has invalid data_offsets");
            offsets[i++] = x;
        }
        long byteLength = offsets[1] - offsets[0];
        long expected = count * ElementSize(dtype);
        if (byteLength != expected)
            throw Corrupt($"tensor {name} ({dtypeText} {SafetensorsTensor.FormatShape(shape)}) needs {expected} bytes but its data_offsets span {byteLength}");
        if (offsets[1] > Length - dataStart)
            throw Corrupt($"tensor {name} ends at byte {dataStart + offsets[1]} but the file is only {Length} bytes long (truncated? download it again)");
        return new SafetensorsTensor(name, dtype, shape, dataStart + offsets[0], byteLength, this);
    }

    /// <summary>
    /// As the safetensors format requires, the tensors tile the data region: sorted by offset, each starts where the
    /// one before ends, from byte 0 to the end of the file. Overlapping, shifted or unclaimed bytes mean the header
    /// does not describe this file.
    /// </summary>
    void CheckDataIsTiled(IEnumerable<SafetensorsTensor> tensors, long dataLength)
    {
        long end = 0;
        string previous = "the header";
        foreach (var t in tensors.OrderBy(t => t.DataOffset).ThenBy(t => t.ByteLength))
        {
            long start = t.DataOffset - (Length - dataLength);
            if (start != end)
                throw Corrupt(start < end
                    ? $"tensors {previous} and {t.Name} overlap (data_offsets)"
                    : $"the {start - end} data bytes before tensor {t.Name} belong to no tensor (data_offsets are shifted)");
            end = start + t.ByteLength;
            previous = t.Name;
        }
        if (end != dataLength)
            throw Corrupt($"the last {dataLength - end} bytes of the file belong to no tensor");
    }

    public static int ElementSize(SafetensorsDType dtype) => dtype == SafetensorsDType.F32 ? 4 : 2;

    internal void ReadAsSingle(SafetensorsTensor tensor, long start, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (start < 0 || start + destination.Length > tensor.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"Elements {start}..{start + destination.Length} lie outside tensor {tensor.Name}.");
        int size = ElementSize(tensor.DType);
        var bytes = new ReadOnlySpan<byte>(_base + tensor.DataOffset + start * size, destination.Length * size);
        switch (tensor.DType)
        {
            case SafetensorsDType.BF16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = FloatFormats.BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                break;
            case SafetensorsDType.F16:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = FloatFormats.HalfToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                break;
            default:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                break;
        }
    }

    PackerException Corrupt(string what) => new($"{FileName} is not a valid safetensors file: {what}.");

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _mapping.Dispose();
    }
}
