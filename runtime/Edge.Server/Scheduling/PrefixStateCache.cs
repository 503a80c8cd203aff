using Edge.Runtime.Model;

namespace Edge.Server.Scheduling;

/// <summary>
/// Recurrent states after token prefixes (a chat's history, a shared system prompt), so a request that starts
/// with a cached prefix prefills only what follows it. A state is L·H floats whatever the prefix length, so an
/// entry costs kilobytes where a transformer's KV cache costs megabytes. Least recently used entries go first
/// once the entries' bytes pass the bound. Used by the scheduler's thread only.
/// </summary>
internal sealed class PrefixStateCache(long maxBytes)
{
    // Mutable so that an evicted entry's arrays hold the next prefix: under steady load every store evicts, and
    // fresh arrays that live in the cache for minutes would die only in gen-2 collections, growing the heap between them.
    sealed class Entry(int[] tokenBuffer, RecurrentState state)
    {
        public int[] TokenBuffer = tokenBuffer;
        public int TokenCount;
        public RecurrentState State { get; } = state;

        public ReadOnlySpan<int> Tokens => TokenBuffer.AsSpan(0, TokenCount);

        public long Bytes => State.Bytes + (long)TokenBuffer.Length * sizeof(int);
    }

    readonly LinkedList<Entry> _entries = new(); // most recently used first
    long _bytes;

    public long MaxBytes { get; } = maxBytes >= 0 ? maxBytes : throw new ArgumentOutOfRangeException(nameof(maxBytes));

    public long Bytes => Volatile.Read(ref _bytes);

    public int Count => _entries.Count;

    /// <summary>
    /// Restores into <paramref name="into"/> the longest cached prefix of <paramref name="prompt"/> that leaves at
    /// least one token to run (its logits are needed); returns its length, 0 when none matches.
    /// </summary>
    public int Restore(ReadOnlySpan<int> prompt, RecurrentState into)
    {
        LinkedListNode<Entry>? best = null;
        for (var node = _entries.First; node != null; node = node.Next)
        {
            var tokens = node.Value.Tokens;
            if (tokens.Length < prompt.Length && tokens.Length > (best?.Value.TokenCount ?? 0) && prompt.StartsWith(tokens))
                best = node;
        }
        if (best is null)
            return 0;
        into.CopyFrom(best.Value.State);
        _entries.Remove(best);
        _entries.AddFirst(best);
        return best.Value.TokenCount;
    }

    /// <summary>Keeps a copy of <paramref name="state"/>, the state after exactly <paramref name="tokens"/>.</summary>
    public void Store(ReadOnlySpan<int> tokens, RecurrentState state)
    {
        if (tokens.IsEmpty || state.Position != tokens.Length)
            throw new ArgumentException($"The state has consumed {state.Position} tokens, not the {tokens.Length} given.", nameof(state));
        for (var node = _entries.First; node != null; node = node.Next)
            if (tokens.SequenceEqual(node.Value.Tokens))
            {
                _entries.Remove(node);
                _entries.AddFirst(node);
                return;
            }
        if (state.Bytes + (long)tokens.Length * sizeof(int) > MaxBytes)
            return;
        long bytes = _bytes;
        LinkedListNode<Entry>? reusable = null;
        while (_entries.Last is { } oldest && bytes + oldest.Value.State.Bytes + (long)tokens.Length * sizeof(int) > MaxBytes)
        {
            bytes -= oldest.Value.Bytes;
            _entries.RemoveLast();
            reusable = oldest;
        }
        Entry entry;
        if (reusable is not null)
        {
            entry = reusable.Value;
            entry.State.CopyFrom(state);
            if (entry.TokenBuffer.Length < tokens.Length)
                entry.TokenBuffer = new int[tokens.Length];
        }
        else
        {
            entry = new Entry(new int[tokens.Length], state.Clone());
            reusable = new LinkedListNode<Entry>(entry);
        }
        tokens.CopyTo(entry.TokenBuffer);
        entry.TokenCount = tokens.Length;
        // A reused token buffer may be longer than needed, and the entry itself no larger than the bound.
        while (bytes + entry.Bytes > MaxBytes && _entries.Last is { } oldest)
        {
            bytes -= oldest.Value.Bytes;
            _entries.RemoveLast();
        }
        if (bytes + entry.Bytes > MaxBytes)
            entry.TokenBuffer = tokens.ToArray();
        _entries.AddFirst(reusable);
        Volatile.Write(ref _bytes, bytes + entry.Bytes);
    }
}
