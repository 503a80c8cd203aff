using System.Globalization;
using System.Text.Json;

namespace Edge.Format.Container;

/// <summary>A source file the model was packed from.</summary>
public sealed record SourceFile(string Name, long Bytes, string Sha256);

/// <summary>How the embedded tokenizer is used.</summary>
public sealed record TokenizerInfo
{
    /// <summary>Only "sentencepiece" exists in format version 1.</summary>
    public string Kind { get; init; } = "sentencepiece";

    /// <summary>Name of the <see cref="TensorType.Bytes"/> tensor holding the tokenizer file.</summary>
    public string Tensor { get; init; } = "tokenizer.model";
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;
    public int UnkTokenId { get; init; }
    public bool AddBosToken { get; init; } = true;
}

/// <summary>The metadata block: architecture, hyperparameters, tokenizer and provenance, stored as UTF-8 JSON.</summary>
public sealed record ModelMetadata
{
    public string Architecture { get; init; } = HgrnBitConfig.ModelType;
    public string Name { get; init; } = "";
    public required HgrnBitConfig Config { get; init; }
    public TokenizerInfo Tokenizer { get; init; } = new();
    public string Packer { get; init; } = "";
    public IReadOnlyList<SourceFile> Sources { get; init; } = [];

    /// <summary>The checkpoint's HuggingFace chat template (Jinja source from tokenizer_config.json), if it had one.</summary>
    public string? ChatTemplate { get; init; }

    public byte[] ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("architecture", Architecture);
            w.WriteString("name", Name);
            w.WriteStartObject("config");
            w.WriteNumber("vocab_size", Config.VocabSize);
            w.WriteNumber("hidden_size", Config.HiddenSize);
            w.WriteNumber("num_hidden_layers", Config.NumHiddenLayers);
            w.WriteNumber("intermediate_size", Config.IntermediateSize);
            w.WriteNumber("num_heads", Config.NumHeads);
            w.WriteNumber("rms_norm_eps", Config.RmsNormEps);
            w.WriteBoolean("use_lower_bound", Config.UseLowerBound);
            w.WriteNumber("max_position_embeddings", Config.MaxPositionEmbeddings);
            w.WriteEndObject();
            w.WriteStartObject("tokenizer");
            w.WriteString("kind", Tokenizer.Kind);
            w.WriteString("tensor", Tokenizer.Tensor);
            w.WriteNumber("bos_token_id", Tokenizer.BosTokenId);
            w.WriteNumber("eos_token_id", Tokenizer.EosTokenId);
            w.WriteNumber("unk_token_id", Tokenizer.UnkTokenId);
            w.WriteBoolean("add_bos_token", Tokenizer.AddBosToken);
            if (ChatTemplate is not null)
                w.WriteString("chat_template", ChatTemplate);
            w.WriteEndObject();
            w.WriteStartObject("provenance");
            w.WriteString("packer", Packer);
            w.WriteStartArray("sources");
            foreach (var s in Sources)
            {
                w.WriteStartObject();
                w.WriteString("file", s.Name);
                w.WriteNumber("bytes", s.Bytes);
                w.WriteString("sha256", s.Sha256);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>Parses the metadata block; throws <see cref="InvalidDataException"/> on anything missing or mistyped.</summary>
    public static ModelMetadata FromJson(ReadOnlySpan<byte> json)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new InvalidDataException("The metadata block is not valid UTF-8.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The metadata block is not valid JSON: {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException("The metadata block is not a JSON object.");
            var config = Object(root, "config");
            var tokenizer = Object(root, "tokenizer");
            var provenance = Object(root, "provenance");
            var sources = new List<SourceFile>();
            if (provenance.TryGetProperty("sources", out var list) && list.ValueKind == JsonValueKind.Array)
                foreach (var s in list.EnumerateArray())
                    sources.Add(new SourceFile(String(s, "file"), Int64(s, "bytes"), String(s, "sha256")));
            return new ModelMetadata
            {
                Architecture = String(root, "architecture"),
                Name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "",
                Config = new HgrnBitConfig
                {
                    VocabSize = Int32(config, "vocab_size"),
                    HiddenSize = Int32(config, "hidden_size"),
                    NumHiddenLayers = Int32(config, "num_hidden_layers"),
                    IntermediateSize = Int32(config, "intermediate_size"),
                    NumHeads = Int32(config, "num_heads"),
                    RmsNormEps = (float)Double(config, "rms_norm_eps"),
                    UseLowerBound = Bool(config, "use_lower_bound"),
                    MaxPositionEmbeddings = Int32(config, "max_position_embeddings"),
                },
                Tokenizer = new TokenizerInfo
                {
                    Kind = String(tokenizer, "kind"),
                    Tensor = String(tokenizer, "tensor"),
                    BosTokenId = Int32(tokenizer, "bos_token_id"),
                    EosTokenId = Int32(tokenizer, "eos_token_id"),
                    UnkTokenId = Int32(tokenizer, "unk_token_id"),
                    AddBosToken = Bool(tokenizer, "add_bos_token"),
                },
                ChatTemplate = tokenizer.TryGetProperty("chat_template", out var template)
                    ? template.ValueKind == JsonValueKind.String ? template.GetString() : throw new InvalidDataException("Metadata \"chat_template\" is not a string.")
                    : null,
                Packer = String(provenance, "packer"),
                Sources = sources,
            };
        }
    }

    static JsonElement Property(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) ? v : throw new InvalidDataException($"The metadata lacks \"{name}\".");

    static JsonElement Object(JsonElement obj, string name)
    {
        var v = Property(obj, name);
        return v.ValueKind == JsonValueKind.Object ? v : throw new InvalidDataException($"Metadata \"{name}\" is not an object.");
    }

    static string String(JsonElement obj, string name)
    {
        var v = Property(obj, name);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InvalidDataException($"Metadata \"{name}\" is not a string.");
    }

    static bool Bool(JsonElement obj, string name)
    {
        var v = Property(obj, name);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"Metadata \"{name}\" is not true or false."),
        };
    }

    static double Double(JsonElement obj, string name)
    {
        var v = Property(obj, name);
        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new InvalidDataException($"Metadata \"{name}\" is not a number.");
    }

    static long Int64(JsonElement obj, string name)
    {
        var v = Property(obj, name);
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x)
            ? x
            : throw new InvalidDataException($"Metadata \"{name}\" is not an integer.");
    }

    static int Int32(JsonElement obj, string name)
    {
        long x = Int64(obj, name);
        return x is >= int.MinValue and <= int.MaxValue
            ? (int)x
            : throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Metadata \"{name}\" = {x} is out of range."));
    }
}
