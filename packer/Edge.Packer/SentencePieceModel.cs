using Edge.Format.Container;
using Edge.Runtime.Tokenization;

namespace Edge.Packer;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c>, checked at pack time by the loader <c>edge</c> itself uses
/// (<see cref="EdgeTokenizer"/>), so a file edge-pack writes never fails to load for its tokenizer; its pieces must
/// fit the model's vocabulary.
/// </summary>
internal sealed class SentencePieceModel
{
    SentencePieceModel(byte[] bytes, int pieceCount)
    {
        Bytes = bytes;
        PieceCount = pieceCount;
    }

    /// <summary>The file's bytes, stored unchanged in the model file.</summary>
    public byte[] Bytes { get; }

    public int PieceCount { get; }

    public static SentencePieceModel Load(string path)
    {
        if (!File.Exists(path))
            throw new PackerException($"{path} does not exist; edge-pack needs the checkpoint's SentencePiece tokenizer.model (tokenizer.json alone is not enough).");
        return Parse(File.ReadAllBytes(path), Path.GetFileName(path));
    }

    public static SentencePieceModel Parse(byte[] bytes, string what)
    {
        try
        {
            return new SentencePieceModel(bytes, new EdgeTokenizer(bytes, new TokenizerInfo()).VocabularySize);
        }
        catch (InvalidDataException e)
        {
            throw new PackerException($"{what} is not a SentencePiece model Edge can load ({(e.InnerException ?? e).Message.TrimEnd('.')}); use the checkpoint's own tokenizer.model.");
        }
    }

    /// <summary>Throws unless every token id the model file will name is a piece of this tokenizer and fits the vocabulary.</summary>
    public void CheckFits(int vocabSize, int bosId, int eosId, string what)
    {
        if (PieceCount > vocabSize)
            throw new PackerException($"{what} has {PieceCount} pieces but vocab_size is {vocabSize}; the tokenizer does not belong to this model.");
        foreach (var (name, id) in new[] { ("bos_token_id", bosId), ("eos_token_id", eosId) })
            if (id < 0 || id >= PieceCount)
                throw new PackerException($"{name} {id} is not a piece of {what} ({PieceCount} pieces).");
    }
}
