using System.Text;

namespace Edge.Format.Tokenization;

/// <summary>
/// The parts of a SentencePiece <c>ModelProto</c> (sentencepiece_model.proto) that encoding needs: the pieces with
/// their scores and types, the model type, byte fallback, and the normalizer switches. A hand-written protobuf walk,
/// so no code generation or reflection is involved (NativeAOT).
/// </summary>
internal sealed class SentencePieceModelProto
{
    public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    public readonly record struct Piece(string Text, float Score, PieceType Type);

    public List<Piece> Pieces { get; } = [];

    /// <summary>TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; private set; } = 1;

    public bool ByteFallback { get; private set; }

    public string NormalizerName { get; private set; } = "";

    /// <summary>True when the normalizer carries a character map (e.g. nmt_nfkc), which this parser does not apply.</summary>
    public bool HasCharacterMap { get; private set; }

    public bool AddDummyPrefix { get; private set; } = true;

    public bool RemoveExtraWhitespaces { get; private set; } = true;

    public bool EscapeWhitespaces { get; private set; } = true;

    /// <summary>Parses a tokenizer.model; throws <see cref="InvalidDataException"/> if the bytes are not one.</summary>
    public static SentencePieceModelProto Parse(ReadOnlySpan<byte> bytes)
    {
        var model = new SentencePieceModelProto();
        var r = new Reader(bytes);
        while (!r.End)
        {
            var (field, wire) = r.Key();
            if (field == 1 && wire == 2)
                model.Pieces.Add(ParsePiece(r.Bytes()));
            else if (field == 2 && wire == 2)
                model.ParseTrainerSpec(r.Bytes());
            else if (field == 3 && wire == 2)
                model.ParseNormalizerSpec(r.Bytes());
            else
                r.Skip(wire);
        }
        if (model.Pieces.Count == 0)
            throw new InvalidDataException("The tokenizer model has no pieces.");
        return model;
    }

    static Piece ParsePiece(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        string text = "";
        float score = 0;
        var type = PieceType.Normal;
        while (!r.End)
        {
            var (field, wire) = r.Key();
            if (field == 1 && wire == 2)
                text = Encoding.UTF8.GetString(r.Bytes());
            else if (field == 2 && wire == 5)
                score = r.Fixed32();
            else if (field == 3 && wire == 0)
                type = (PieceType)r.Varint();
            else
                r.Skip(wire);
        }
        return new Piece(text, score, type);
    }

    void ParseTrainerSpec(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        while (!r.End)
        {
            var (field, wire) = r.Key();
            if (field == 3 && wire == 0)
                ModelType = (int)r.Varint();
            else if (field == 35 && wire == 0)
                ByteFallback = r.Varint() != 0;
            else
                r.Skip(wire);
        }
    }

    void ParseNormalizerSpec(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        while (!r.End)
        {
            var (field, wire) = r.Key();
            if (field == 1 && wire == 2)
                NormalizerName = Encoding.UTF8.GetString(r.Bytes());
            else if (field == 2 && wire == 2)
                HasCharacterMap = r.Bytes().Length > 0;
            else if (field == 3 && wire == 0)
                AddDummyPrefix = r.Varint() != 0;
            else if (field == 4 && wire == 0)
                RemoveExtraWhitespaces = r.Varint() != 0;
            else if (field == 5 && wire == 0)
                EscapeWhitespaces = r.Varint() != 0;
            else
                r.Skip(wire);
        }
    }

    ref struct Reader(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> _data = data;
        int _p;

        public readonly bool End => _p >= _data.Length;

        public (int Field, int Wire) Key()
        {
            ulong key = Varint();
            return ((int)(key >> 3), (int)(key & 7));
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_p >= _data.Length)
                    throw Broken();
                byte b = _data[_p++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                    return value;
            }
            throw Broken();
        }

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(_data.Length - _p))
                throw Broken();
            var slice = _data.Slice(_p, (int)length);
            _p += (int)length;
            return slice;
        }

        public float Fixed32()
        {
            if (_p + 4 > _data.Length)
                throw Broken();
            float v = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(_data[_p..]));
            _p += 4;
            return v;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(); break;
                case 5: Advance(4); break;
                default: throw Broken();
            }
        }

        void Advance(int n)
        {
            if (_p + n > _data.Length)
                throw Broken();
            _p += n;
        }

        readonly InvalidDataException Broken() => new($"The tokenizer model's protobuf structure is broken at byte {_p}.");
    }
}
