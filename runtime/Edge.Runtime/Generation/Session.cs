using System.Buffers.Binary;
using Edge.Runtime.Model;

namespace Edge.Runtime.Generation;

/// <summary>
/// One sequence of a model: its recurrent state and the tokens that state stands for. A generation on a session
/// continues it: a prompt that starts with <see cref="Tokens"/> is prefilled only from where they end, and the
/// reply's tokens join them. A session is used by one generation at a time; every member throws
/// <see cref="InvalidOperationException"/> while a generation runs on it.
/// </summary>
public sealed class Session
{
    /// <summary>"EDGESES" then 0x1A.</summary>
    static ReadOnlySpan<byte> Magic => "EDGESES\u001A"u8;

    const uint FormatVersion = 1;

    readonly List<int> _tokens = [];
    int _busy;

    public Session(EdgeModel model)
    {
        Model = model;
        State = model.Model.CreateState();
    }

    public EdgeModel Model { get; }

    /// <summary>
    /// The recurrent state. It has read the first <c>State.Position</c> of <see cref="Tokens"/>; the rest (usually
    /// none or one: a generation that ends by length or at a stop string leaves its final token unread) are read
    /// by the next generation together with its prompt.
    /// </summary>
    internal RecurrentState State { get; }

    /// <summary>Every token of the sequence so far: prompts and replies (EOS excluded).</summary>
    public IReadOnlyList<int> Tokens
    {
        get
        {
            ThrowIfBusy();
            return _tokens.ToArray();
        }
    }

    /// <summary>Size of the recurrent state in bytes; it does not grow with the sequence.</summary>
    public long StateBytes => State.Bytes;

    /// <summary>Forgets the sequence: no tokens, a zero state.</summary>
    public void Reset()
    {
        ThrowIfBusy();
        _tokens.Clear();
        State.Reset();
    }

    /// <summary>An independent copy that continues from the same point (for example a shared system prompt).</summary>
    public Session Fork()
    {
        ThrowIfBusy();
        var fork = new Session(Model);
        fork.State.CopyFrom(State);
        fork._tokens.AddRange(_tokens);
        return fork;
    }

    /// <summary>
    /// Writes the session: a header, the tokens and the saved <see cref="RecurrentState"/> (which names the model's
    /// fingerprint), so <see cref="Restore(Stream)"/> refuses it for another model.
    /// </summary>
    public void Save(Stream stream)
    {
        ThrowIfBusy();
        var header = new byte[16 + 4 * _tokens.Count];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), _tokens.Count);
        for (int i = 0; i < _tokens.Count; i++)
            BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16 + 4 * i), _tokens[i]);
        stream.Write(header);
        State.Save(stream);
    }

    public byte[] Save()
    {
        using var stream = new MemoryStream();
        Save(stream);
        return stream.ToArray();
    }

    /// <summary>
    /// Writes the session to a file atomically (a temporary file in the same folder, then renamed), so a crash
    /// never leaves a half-written file under <paramref name="path"/>.
    /// </summary>
    public void SaveToFile(string path)
    {
        string full = Path.GetFullPath(path);
        string temporary = full + $".{Environment.ProcessId}.tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                Save(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Replaces this session with a saved one. Throws <see cref="InvalidDataException"/>, leaving the session as
    /// it was, when the data is not a session, is damaged, or belongs to another model.
    /// </summary>
    public void Restore(Stream stream)
    {
        ThrowIfBusy();
        Span<byte> header = stackalloc byte[16];
        if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length || !header[..8].SequenceEqual(Magic))
            throw new InvalidDataException("This is not a saved Edge session (wrong magic bytes).");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != FormatVersion)
            throw new InvalidDataException($"Saved session format version {version} is not supported (this build reads version {FormatVersion}).");
        int count = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        if (count is < 0 or > 1 << 26)
            throw new InvalidDataException($"The saved session claims {count} tokens; the file is corrupt.");
        var ids = new byte[4 * count];
        if (stream.ReadAtLeast(ids, ids.Length, throwOnEndOfStream: false) < ids.Length)
            throw new InvalidDataException("The saved session is truncated.");
        var tokens = new int[count];
        for (int i = 0; i < count; i++)
        {
            tokens[i] = BinaryPrimitives.ReadInt32LittleEndian(ids.AsSpan(4 * i));
            if ((uint)tokens[i] >= (uint)Model.Config.VocabSize)
                throw new InvalidDataException($"The saved session holds token {tokens[i]}, outside this model's vocabulary.");
        }
        var state = Model.Model.CreateState();
        state.Restore(stream);
        if (state.Position > count)
            throw new InvalidDataException($"The saved session's state has read {state.Position} tokens but it lists {count}; the file is corrupt.");
        State.CopyFrom(state);
        _tokens.Clear();
        _tokens.AddRange(tokens);
    }

    public void Restore(ReadOnlySpan<byte> saved)
    {
        using var stream = new MemoryStream(saved.ToArray(), writable: false);
        Restore(stream);
    }

    /// <summary>Restores a file written by <see cref="SaveToFile"/>; errors name the file.</summary>
    public void RestoreFromFile(string path)
    {
        using var file = File.OpenRead(path);
        try
        {
            Restore(file);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Marks the session busy for one generation; the lease's Dispose frees it.</summary>
    internal Lease Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("A generation is already running on this session; a session runs one generation at a time (Fork it for another).");
        return new Lease(this);
    }

    internal List<int> MutableTokens => _tokens;

    void ThrowIfBusy()
    {
        if (Volatile.Read(ref _busy) != 0)
            throw new InvalidOperationException("A generation is running on this session; wait for it to end before using the session.");
    }

    internal readonly struct Lease(Session session) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref session._busy, 0);
    }
}
