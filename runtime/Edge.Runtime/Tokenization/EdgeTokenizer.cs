using System.Text;
using Edge.Format.Container;
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

    public EdgeTokenizer(ReadOnlySpan<byte> modelBytes, TokenizerInfo info)
    {
        if (info.Kind != "sentencepiece")
            throw new InvalidDataException($"Tokenizer kind \"{info.Kind}\" is not supported; this build reads SentencePiece models.");
        try
        {
            using var stream = new MemoryStream(modelBytes.ToArray(), writable: false);
            _sp = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            _bpe = SentencePieceBpeEncoder.TryCreate(SentencePieceModelProto.Parse(modelBytes));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"The embedded tokenizer cannot be loaded ({e.Message}); re-pack the model with a valid tokenizer.model.", e);
        }
        Info = info;
    }

    public TokenizerInfo Info { get; }

    public int BosId => Info.BosTokenId;

    public int EosId => Info.EosTokenId;

    public int VocabularySize => _sp.Vocabulary.Count;

    /// <summary>Token ids of a text, with BOS first when <paramref name="addBos"/>.</summary>
    public int[] Encode(string text, bool addBos = true)
    {
        IReadOnlyList<int> ids = _bpe is not null ? _bpe.Encode(text) : _sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        if (!addBos || !Info.AddBosToken)
            return [.. ids];
        var result = new int[ids.Count + 1];
        result[0] = BosId;
        for (int i = 0; i < ids.Count; i++)
            result[i + 1] = ids[i];
        return result;
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
