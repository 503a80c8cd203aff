namespace Edge.Packer;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c>, checked just enough to catch a wrong or damaged file at pack time: it
/// must be a protobuf <c>ModelProto</c> whose pieces (field 1) fit the model's vocabulary. The runtime parses it fully.
/// </summary>
public sealed class SentencePieceModel
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
        int pieces = 0;
        int p = 0;
        try
        {
            while (p < bytes.Length)
            {
                ulong key = ReadVarint(bytes, ref p);
                int field = (int)(key >> 3), wireType = (int)(key & 7);
                switch (wireType)
                {
                    case 0:
                        ReadVarint(bytes, ref p);
                        break;
                    case 1:
                        p += 8;
                        break;
                    case 2:
                        ulong length = ReadVarint(bytes, ref p);
                        if (length > (ulong)(bytes.Length - p))
                            throw new FormatException();
                        p += (int)length;
                        if (field == 1)
                            pieces++;
                        break;
                    case 5:
                        p += 4;
                        break;
                    default:
                        throw new FormatException();
                }
                if (p > bytes.Length)
                    throw new FormatException();
            }
        }
        catch (FormatException)
        {
            throw new PackerException($"{what} is not a SentencePiece model (its protobuf structure is broken at byte {p}).");
        }
        if (pieces == 0)
            throw new PackerException($"{what} is not a SentencePiece model (it has no pieces).");
        return new SentencePieceModel(bytes, pieces);
    }

    static ulong ReadVarint(byte[] bytes, ref int p)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (p >= bytes.Length)
                throw new FormatException();
            byte b = bytes[p++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
                return value;
        }
        throw new FormatException();
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
