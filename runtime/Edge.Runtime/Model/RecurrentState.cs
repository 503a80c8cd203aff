using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Edge.Runtime.Model;

/// <summary>
/// Everything a sequence carries from one token to the next: one hidden vector per layer. Its size is fixed
/// (L·H floats), whatever the context length; there is no KV cache. A state is tied to the model that made it
/// (<see cref="ModelFingerprint"/>): copying, saving and restoring refuse a state of another model.
/// </summary>
public sealed class RecurrentState
{
    /// <summary>"EDGESTA" then 0x1A, like the model file's magic.</summary>
    static ReadOnlySpan<byte> Magic => "EDGESTA\u001A"u8;

    const uint FormatVersion = 1;

    /// <summary>Magic, version, layers, hidden, reserved, position, SHA-256 fingerprint.</summary>
    const int HeaderSize = 64;

    /// <param name="modelFingerprint">The model file's fingerprint (lower-case hex SHA-256), or "" for a state of no file.</param>
    public RecurrentState(int layers, int hidden, string modelFingerprint = "")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        if (modelFingerprint.Length is not (0 or 64))
            throw new ArgumentException("A model fingerprint is 64 hex digits (SHA-256) or empty.", nameof(modelFingerprint));
        Hidden = new float[layers][];
        for (int l = 0; l < layers; l++)
            Hidden[l] = new float[hidden];
        ModelFingerprint = modelFingerprint;
    }

    /// <summary>h per layer, (L, H), kept in fp32 between calls.</summary>
    public float[][] Hidden { get; }

    /// <summary>Tokens consumed so far.</summary>
    public int Position { get; internal set; }

    /// <summary>The fingerprint of the model file this state belongs to (see <c>ModelFile.Fingerprint</c>).</summary>
    public string ModelFingerprint { get; }

    public int Layers => Hidden.Length;

    public int HiddenSize => Hidden[0].Length;

    public long Bytes => (long)Layers * HiddenSize * sizeof(float);

    /// <summary>Length of what <see cref="Save()"/> writes: a 64-byte header, the floats and a CRC-32.</summary>
    public long SavedBytes => HeaderSize + Bytes + sizeof(uint);

    public void Reset()
    {
        foreach (var h in Hidden)
            Array.Clear(h);
        Position = 0;
    }

    /// <summary>An independent copy (to fork a sequence).</summary>
    public RecurrentState Clone()
    {
        var copy = new RecurrentState(Layers, HiddenSize, ModelFingerprint);
        copy.CopyFrom(this);
        return copy;
    }

    /// <summary>Copies another state of the same model into this one (to fork or restore a sequence).</summary>
    public void CopyFrom(RecurrentState other)
    {
        CheckSameModel(other.ModelFingerprint, other.Layers, other.HiddenSize);
        for (int l = 0; l < Hidden.Length; l++)
            other.Hidden[l].CopyTo(Hidden[l], 0);
        Position = other.Position;
    }

    /// <summary>The state as bytes: a header naming the model's fingerprint and the shape, the floats, a CRC-32.</summary>
    public byte[] Save()
    {
        var bytes = new byte[SavedBytes];
        var header = bytes.AsSpan(0, HeaderSize);
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)Layers);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)HiddenSize);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], Position);
        if (ModelFingerprint.Length > 0)
            Convert.FromHexString(ModelFingerprint).CopyTo(header[32..]);
        int offset = HeaderSize;
        foreach (var h in Hidden)
        {
            MemoryMarshal.AsBytes(h.AsSpan()).CopyTo(bytes.AsSpan(offset));
            if (!BitConverter.IsLittleEndian)
                ReverseFloats(bytes.AsSpan(offset, h.Length * sizeof(float)));
            offset += h.Length * sizeof(float);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), Crc32.HashToUInt32(bytes.AsSpan(0, offset)));
        return bytes;
    }

    /// <summary>Writes <see cref="Save()"/>'s bytes to a stream.</summary>
    public void Save(Stream stream) => stream.Write(Save());

    /// <summary>
    /// Replaces this state with one saved by <see cref="Save()"/>. Throws <see cref="InvalidDataException"/>, and
    /// leaves this state unchanged, when the bytes are not a state, are damaged, or belong to another model.
    /// </summary>
    public void Restore(ReadOnlySpan<byte> saved)
    {
        if (saved.Length < HeaderSize || !saved[..8].SequenceEqual(Magic))
            throw new InvalidDataException("This is not a saved Edge state (wrong magic bytes).");
        var header = saved[..HeaderSize];
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != FormatVersion)
            throw new InvalidDataException($"Saved state format version {version} is not supported (this build reads version {FormatVersion}).");
        long layers = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        long hidden = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        string fingerprint = header[32..64].ContainsAnyExcept((byte)0) ? Convert.ToHexStringLower(header[32..64]) : "";
        CheckSameModel(fingerprint, layers, hidden);
        if (saved.Length != SavedBytes)
            throw new InvalidDataException($"The saved state is {saved.Length} bytes; its header needs {SavedBytes} (the file is truncated or has extra bytes).");
        int end = (int)SavedBytes - sizeof(uint);
        if (BinaryPrimitives.ReadUInt32LittleEndian(saved[end..]) != Crc32.HashToUInt32(saved[..end]))
            throw new InvalidDataException("The saved state's checksum does not match (the file is corrupt).");
        long position = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        if (position is < 0 or > int.MaxValue)
            throw new InvalidDataException($"The saved state's position {position} is out of range.");
        int offset = HeaderSize;
        foreach (var h in Hidden)
        {
            var source = saved.Slice(offset, h.Length * sizeof(float));
            source.CopyTo(MemoryMarshal.AsBytes(h.AsSpan()));
            if (!BitConverter.IsLittleEndian)
                ReverseFloats(MemoryMarshal.AsBytes(h.AsSpan()));
            offset += source.Length;
        }
        Position = (int)position;
    }

    /// <summary>Reads exactly one saved state from a stream (which may hold more after it) into this state.</summary>
    public void Restore(Stream stream)
    {
        var bytes = new byte[SavedBytes];
        int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        Restore(bytes.AsSpan(0, read));
    }

    void CheckSameModel(string fingerprint, long layers, long hidden)
    {
        if (fingerprint != ModelFingerprint)
            throw new InvalidDataException(
                $"The state belongs to another model (fingerprint {Short(fingerprint)}, this model's is {Short(ModelFingerprint)}); " +
                "a state only restores into the model file that made it.");
        if (layers != Layers || hidden != HiddenSize)
            throw new InvalidDataException($"The state has shape {layers}×{hidden}; this model's is {Layers}×{HiddenSize}.");
    }

    static string Short(string fingerprint) => fingerprint.Length == 0 ? "none" : fingerprint[..12];

    static void ReverseFloats(Span<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i += sizeof(float))
            bytes.Slice(i, sizeof(float)).Reverse();
    }
}
