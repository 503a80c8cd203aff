using System.Text;
using Edge.Format.Tokenization;

namespace Edge.Runtime.Tokenization;

/// <summary>
/// SentencePiece's BPE encoding, reproduced exactly: normalize (dummy prefix, whitespace as "▁"), split into
/// characters, then repeatedly merge the adjacent pair whose merged piece has the highest score — on equal
/// scores the leftmost pair — and finally map pieces to ids, falling back to byte pieces (&lt;0xAB&gt;) or unk.
/// Microsoft.ML.Tokenizers breaks score ties differently (it splits runs of "▁" unlike SentencePiece), which
/// would feed the model ids it never saw for indented text; so Edge encodes with this and decodes with the library.
/// </summary>
internal sealed class SentencePieceBpeEncoder
{
    const char Space = '\u2581';

    readonly SentencePieceModelProto _model;
    readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    readonly int[] _byteIds = new int[256];
    readonly string[] _userDefined;
    readonly int _unkId;

    SentencePieceBpeEncoder(SentencePieceModelProto model)
    {
        _model = model;
        _byteIds.AsSpan().Fill(-1);
        var userDefined = new List<string>();
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            var piece = model.Pieces[id];
            switch (piece.Type)
            {
                case SentencePieceModelProto.PieceType.Normal:
                    _ids.TryAdd(piece.Text, id);
                    break;
                case SentencePieceModelProto.PieceType.UserDefined:
                    _ids.TryAdd(piece.Text, id);
                    userDefined.Add(piece.Text);
                    break;
                case SentencePieceModelProto.PieceType.Unknown:
                    _unkId = id;
                    break;
                case SentencePieceModelProto.PieceType.Byte when piece.Text.Length == 6 && piece.Text.StartsWith("<0x", StringComparison.Ordinal):
                    _byteIds[Convert.ToInt32(piece.Text.Substring(3, 2), 16)] = id;
                    break;
            }
        }
        _userDefined = [.. userDefined.OrderByDescending(s => s.Length)];
    }

    /// <summary>An encoder for the model, or null when the model is not one this class reproduces exactly
    /// (not BPE, or a normalizer with a character map such as nmt_nfkc).</summary>
    public static SentencePieceBpeEncoder? TryCreate(SentencePieceModelProto model) =>
        model.ModelType == 2 && !model.HasCharacterMap ? new SentencePieceBpeEncoder(model) : null;

    public int[] Encode(string text)
    {
        string normalized = Normalize(text);
        if (normalized.Length == 0)
            return [];

        // Initial symbols: user-defined pieces whole, otherwise one code point each.
        var symbols = new List<Symbol>();
        for (int i = 0; i < normalized.Length;)
        {
            int length = MatchUserDefined(normalized, i);
            if (length == 0)
                length = char.IsHighSurrogate(normalized[i]) && i + 1 < normalized.Length && char.IsLowSurrogate(normalized[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol(i, length, symbols.Count - 1, symbols.Count + 1, length > 1 && _userDefined.Length > 0 && IsUserDefined(normalized, i, length)));
            i += length;
        }
        var s = symbols.ToArray();
        s[^1].Next = -1;

        var agenda = new PriorityQueue<Candidate, Candidate>(CandidateOrder.Instance);
        for (int i = 0; i + 1 < s.Length; i++)
            TryAdd(normalized, s, i, i + 1, agenda);

        while (agenda.TryDequeue(out var c, out _))
        {
            ref var left = ref s[c.Left];
            ref var right = ref s[c.Right];
            // Skip pairs made stale by an earlier merge.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != c.Length || left.Next != c.Right)
                continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0)
                s[right.Next].Prev = c.Left;
            if (left.Prev >= 0)
                TryAdd(normalized, s, left.Prev, c.Left, agenda);
            if (left.Next >= 0)
                TryAdd(normalized, s, c.Left, left.Next, agenda);
        }

        var ids = new List<int>(s.Length);
        for (int i = 0; i >= 0 && i < s.Length; i = s[i].Next)
        {
            string piece = normalized.Substring(s[i].Start, s[i].Length);
            if (_ids.TryGetValue(piece, out int id))
                ids.Add(id);
            else if (_model.ByteFallback)
                foreach (byte b in Encoding.UTF8.GetBytes(piece))
                    ids.Add(_byteIds[b] >= 0 ? _byteIds[b] : _unkId);
            else
                ids.Add(_unkId);
        }
        return [.. ids];
    }

    void TryAdd(string text, Symbol[] s, int left, int right, PriorityQueue<Candidate, Candidate> agenda)
    {
        if (s[left].Frozen || s[right].Frozen)
            return;
        int length = s[left].Length + s[right].Length;
        string merged = text.Substring(s[left].Start, length);
        if (!_ids.TryGetValue(merged, out int id) || _model.Pieces[id].Type != SentencePieceModelProto.PieceType.Normal)
            return;
        var candidate = new Candidate(left, right, length, _model.Pieces[id].Score);
        agenda.Enqueue(candidate, candidate);
    }

    string Normalize(string text)
    {
        if (_model.RemoveExtraWhitespaces)
        {
            var sb = new StringBuilder(text.Length);
            bool pendingSpace = false;
            foreach (char ch in text.Trim(' '))
            {
                if (ch == ' ')
                {
                    pendingSpace = true;
                    continue;
                }
                if (pendingSpace)
                    sb.Append(' ');
                pendingSpace = false;
                sb.Append(ch);
            }
            text = sb.ToString();
        }
        if (text.Length == 0)
            return "";
        if (_model.AddDummyPrefix)
            text = " " + text;
        return _model.EscapeWhitespaces ? text.Replace(' ', Space) : text;
    }

    int MatchUserDefined(string text, int at)
    {
        foreach (string piece in _userDefined)
            if (string.CompareOrdinal(text, at, piece, 0, piece.Length) == 0)
                return piece.Length;
        return 0;
    }

    bool IsUserDefined(string text, int at, int length) =>
        _ids.TryGetValue(text.Substring(at, length), out int id) && _model.Pieces[id].Type == SentencePieceModelProto.PieceType.UserDefined;

    record struct Symbol(int Start, int Length, int Prev, int Next, bool Frozen);

    readonly record struct Candidate(int Left, int Right, int Length, float Score);

    /// <summary>Highest score first; on equal scores the leftmost pair (as SentencePiece's agenda orders them).</summary>
    sealed class CandidateOrder : IComparer<Candidate>
    {
        public static readonly CandidateOrder Instance = new();

        public int Compare(Candidate a, Candidate b)
        {
            int byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Left.CompareTo(b.Left);
        }
    }
}
