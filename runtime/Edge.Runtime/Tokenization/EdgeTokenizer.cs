using System.Text;
using Edge.Format.Container;
using Edge.Format.Text;
using Edge.Format.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Edge.Runtime.Tokenization;

/// <summary>
/// The model's SentencePiece tokenizer, loaded from the bytes embedded in the model file. Encoding prepends BOS
/// (id 1 in Llama-style vocabularies) as the official pipeline does; EOS ends generation.
/// </summary>
public sealed class EdgeTokenizer
{
    readonly SentencePieceTokenizer _sp;
    readonly SentencePieceBpeEncoder? _bpe;
    readonly string[] _pieces;

    /// <summary>Control and user-defined pieces by text (longest first), which special-token parsing turns into their ids.</summary>
    readonly (string Text, int Id)[] _special;

    /// <summary>Loads a SentencePiece <c>tokenizer.model</c> (the bytes a model file stores) with the model file's token ids.</summary>
    public EdgeTokenizer(ReadOnlySpan<byte> modelBytes, TokenizerInfo info)
    {
        if (info.Kind != "sentencepiece")
            throw new InvalidDataException($"Tokenizer kind \"{info.Kind}\" is not supported; this build reads SentencePiece models.");
        try
        {
            using var stream = new MemoryStream(modelBytes.ToArray(), writable: false);
            _sp = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            var proto = SentencePieceModelProto.Parse(modelBytes);
            _bpe = SentencePieceBpeEncoder.TryCreate(proto);
            _pieces = [.. proto.Pieces.Select(p => p.Text)];
            _special = [.. proto.Pieces
                .Select((p, id) => (p.Text, Id: id, p.Type))
                .Where(p => p.Type is SentencePieceModelProto.PieceType.Control or SentencePieceModelProto.PieceType.UserDefined && p.Text.Length > 0)
                .Select(p => (p.Text, p.Id))
                .OrderByDescending(p => p.Text.Length)];
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"The embedded tokenizer cannot be loaded ({OneLine.Of(e.Message, 200)}); re-pack the model with a valid tokenizer.model.", e);
        }
        Info = info;
    }

    /// <summary>The tokenizer's entry in the model file: special token ids and flags.</summary>
    public TokenizerInfo Info { get; }

    /// <summary>The beginning-of-sequence token id.</summary>
    public int BosId => Info.BosTokenId;

    /// <summary>The end-of-sequence token id: sampling it ends a generation.</summary>
    public int EosId => Info.EosTokenId;

    /// <summary>The number of pieces in the tokenizer (at most the model's vocabulary size).</summary>
    public int VocabularySize => _sp.Vocabulary.Count;

    /// <summary>Token ids of a text, with BOS first when <paramref name="addBos"/>.</summary>
    /// <param name="parseSpecialTokens">
    /// Turn the text of control pieces (such as &lt;s&gt;, &lt;/s&gt;) and user-defined pieces (such as &lt;|im_start|&gt;)
    /// into their ids, as chat templates need; otherwise such text is encoded as ordinary characters.
    /// </param>
    public int[] Encode(string text, bool addBos = true, bool parseSpecialTokens = false)
    {
        var ids = new List<int>();
        if (addBos && Info.AddBosToken)
            ids.Add(BosId);
        if (parseSpecialTokens)
            EncodeWithSpecialTokens(text, ids);
        else
            ids.AddRange(EncodePlain(text));
        return [.. ids];
    }

    /// <summary>
    /// Ids of text that continues what a sequence has already read: no BOS, and no SentencePiece dummy-prefix space
    /// unless the text itself starts with a space, so "\nUser:" after a reply reads as it would inside one text.
    /// </summary>
    public int[] EncodeContinuation(string text, bool parseSpecialTokens = false)
    {
        if (text.Length == 0)
            return [];
        if (text[0] == ' ' || _bpe is null)
            return Encode(text, addBos: false, parseSpecialTokens);
        // The dummy prefix adds "▁" before the first word; a leading sentinel word absorbs it and is dropped.
        int[] sentinel = [.. EncodePlain("a")];
        int[] ids = Encode("a" + text, addBos: false, parseSpecialTokens);
        return ids.AsSpan().StartsWith(sentinel) ? ids[sentinel.Length..] : Encode(text, addBos: false, parseSpecialTokens);
    }

    /// <summary>The piece text of a token (for example "&lt;s&gt;" for BOS), or "" for an id outside the vocabulary.</summary>
    public string TokenText(int id) => (uint)id < (uint)_pieces.Length ? _pieces[id] : "";

    IReadOnlyList<int> EncodePlain(string text) =>
        _bpe is not null ? _bpe.Encode(text) : _sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);

    void EncodeWithSpecialTokens(string text, List<int> ids)
    {
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            int match = Array.FindIndex(_special, s => text.AsSpan(i).StartsWith(s.Text, StringComparison.Ordinal));
            if (match < 0)
            {
                i++;
                continue;
            }
            if (i > start)
                ids.AddRange(EncodePlain(text[start..i]));
            ids.Add(_special[match].Id);
            i += _special[match].Text.Length;
            start = i;
        }
        if (start < text.Length)
            ids.AddRange(EncodePlain(text[start..]));
    }

    /// <summary>Text of a token sequence; BOS/EOS and other control tokens produce no text.</summary>
    public string Decode(IEnumerable<int> ids) => _sp.Decode(ids, considerSpecialTokens: false) ?? "";

    /// <summary>
    /// Turns a stream of generated token ids into text pieces. Each piece is decoded after an anchor token (the
    /// previous token), so a word's leading space survives, and a piece whose bytes do not yet form complete UTF-8
    /// (byte-fallback tokens) is held back until they do. Work per token is constant.
    /// </summary>
    public sealed class StreamingDecoder(EdgeTokenizer tokenizer, int? anchor = null)
    {
        /// <summary>Byte-fallback tokens of one character never exceed four.</summary>
        const int MaxHeldTokens = 4;

        readonly List<int> _pending = [];
        int? _anchor = anchor;

        /// <summary>Adds a token and returns the new complete text, possibly empty.</summary>
        public string Push(int id)
        {
            _pending.Add(id);
            string text = DecodePending(out string prefix);
            if (text.EndsWith('\uFFFD') && _pending.Count < MaxHeldTokens)
                return "";
            return Release(text, prefix);
        }

        /// <summary>Whatever is still held back (for example an incomplete UTF-8 sequence at the end).</summary>
        public string Flush()
        {
            if (_pending.Count == 0)
                return "";
            string text = DecodePending(out string prefix);
            return Release(text, prefix);
        }

        string DecodePending(out string prefix)
        {
            if (_anchor is not int a)
            {
                prefix = "";
                return tokenizer.Decode(_pending);
            }
            prefix = tokenizer.Decode([a]);
            return tokenizer.Decode(_pending.Prepend(a));
        }

        string Release(string text, string prefix)
        {
            _anchor = _pending[^1];
            _pending.Clear();
            return text.StartsWith(prefix, StringComparison.Ordinal) ? text[prefix.Length..] : text;
        }
    }
}
