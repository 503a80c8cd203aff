namespace Edge.Runtime.Generation;

/// <summary>
/// Cuts streamed text at the first stop string, across piece (token) boundaries, without ever releasing part of a
/// stop: text that could still grow into a stop is held back until the next piece decides it. Comparison is
/// ordinal. Not thread-safe; one matcher per generation.
/// </summary>
public sealed class StopSequenceMatcher
{
    readonly string[] _stops;
    readonly int _longest;
    string _held = "";

    /// <param name="stops">Strings that end the text (none: text passes through). Empty strings are refused.</param>
    public StopSequenceMatcher(IReadOnlyList<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        for (int i = 0; i < stops.Count; i++)
            if (string.IsNullOrEmpty(stops[i]))
                throw new ArgumentException($"Stop sequence {i + 1} is empty; a stop sequence needs at least one character.", nameof(stops));
        _stops = [.. stops];
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>True once a stop string has been seen; later pieces are ignored.</summary>
    public bool IsStopped => MatchedStop is not null;

    /// <summary>The stop string that matched, or null.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>
    /// Adds a piece and returns the text that is safe to show now. After a match it returns only the text before
    /// the stop, and <see cref="IsStopped"/> becomes true.
    /// </summary>
    public string Push(string text)
    {
        if (IsStopped)
            return "";
        if (_stops.Length == 0)
            return text;
        string pending = _held + text;
        int first = -1;
        foreach (string stop in _stops)
        {
            int at = pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first || (at == first && stop.Length > MatchedStop!.Length)))
            {
                first = at;
                MatchedStop = stop;
            }
        }
        if (first >= 0)
        {
            _held = "";
            return pending[..first];
        }
        int keep = HeldSuffixLength(pending);
        _held = pending[^keep..];
        return pending[..^keep];
    }

    /// <summary>The text still held back at the end of generation (empty after a match).</summary>
    public string Flush()
    {
        string rest = _held;
        _held = "";
        return rest;
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that some stop string starts with.</summary>
    int HeldSuffixLength(string text)
    {
        for (int n = Math.Min(text.Length, _longest - 1); n > 0; n--)
        {
            var suffix = text.AsSpan(text.Length - n);
            foreach (string stop in _stops)
                if (stop.Length > n && stop.AsSpan().StartsWith(suffix, StringComparison.Ordinal))
                    return n;
        }
        return 0;
    }
}
