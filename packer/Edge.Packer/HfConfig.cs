using System.Text.Json;
using Edge.Format.Text;
using Edge.Format.Container;

namespace Edge.Packer;

/// <summary>
/// What edge-pack takes from a checkpoint's config.json. Absent optional fields get the defaults of the official
/// <c>HGRNBitConfig</c>; settings the official inference code runs but Edge does not are rejected by name.
/// </summary>
internal sealed record HfConfig
{
    public required HgrnBitConfig Model { get; init; }
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;

    /// <summary>The checkpoint's dtype (<c>torch_dtype</c> in transformers 4.x, <c>dtype</c> in 5.x), if stated.</summary>
    public string? DType { get; init; }

    /// <summary>The <c>_name_or_path</c> the checkpoint was saved from, if stated.</summary>
    public string? NameOrPath { get; init; }

    public static HfConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new PackerException($"{path} does not exist; a HuggingFace checkpoint folder holds config.json, tokenizer.model and model.safetensors.");
        JsonDocument doc;
        try
        {
            doc = StrictJson.Parse(File.ReadAllBytes(path), "config.json");
        }
        catch (InvalidDataException e)
        {
            throw new PackerException($"{e.Message.TrimEnd('.')}; fix it or download it again.");
        }
        using (doc)
            return Parse(doc.RootElement);
    }

    static HfConfig Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new PackerException("config.json is not a JSON object.");
        CheckArchitecture(root);

        string attnMode = OptionalString(root, "attn_mode") ?? "fused_recurrent";
        if (attnMode != "fused_recurrent")
            Unsupported($"attn_mode \"{attnMode}\" (only fused_recurrent exists in the official model)");
        if (OptionalBool(root, "use_short_conv") ?? false)
            Unsupported("use_short_conv true (no released checkpoint uses the short convolution)");
        double expandRatio = OptionalNumber(root, "expand_ratio") ?? 1;
        if (expandRatio != 1)
            Unsupported($"expand_ratio {expandRatio} (Edge runs expand_ratio 1)");
        if (OptionalBool(root, "tie_word_embeddings") ?? false)
            Unsupported("tie_word_embeddings true (Edge needs a separate ternary lm_head.weight)");

        int hidden = RequiredInt(root, "hidden_size");
        int hiddenRatio = OptionalInt(root, "hidden_ratio") ?? 4;
        var model = new HgrnBitConfig
        {
            VocabSize = RequiredInt(root, "vocab_size"),
            HiddenSize = hidden,
            NumHiddenLayers = RequiredInt(root, "num_hidden_layers"),
            IntermediateSize = OptionalInt(root, "intermediate_size") ?? HgrnBitConfig.DefaultIntermediateSize(hidden, hiddenRatio),
            NumHeads = OptionalInt(root, "num_heads") ?? 1,
            RmsNormEps = (float)(OptionalNumber(root, "rms_norm_eps") ?? 1e-6),
            UseLowerBound = OptionalBool(root, "use_lower_bound") ?? true,
            MaxPositionEmbeddings = OptionalInt(root, "max_position_embeddings") ?? 2048,
        };
        try
        {
            model.Validate();
        }
        catch (InvalidDataException e)
        {
            throw new PackerException($"config.json: {e.Message}");
        }
        return new HfConfig
        {
            Model = model,
            BosTokenId = OptionalInt(root, "bos_token_id") ?? 1,
            EosTokenId = OptionalTokenId(root, "eos_token_id") ?? 2,
            DType = OptionalString(root, "torch_dtype") ?? OptionalString(root, "dtype"),
            NameOrPath = OptionalString(root, "_name_or_path"),
        };
    }

    static void CheckArchitecture(JsonElement root)
    {
        var architectures = new List<string>();
        if (root.TryGetProperty("architectures", out var list) && list.ValueKind == JsonValueKind.Array)
            architectures.AddRange(list.EnumerateArray().Where(a => a.ValueKind == JsonValueKind.String).Select(a => a.GetString()!));
        string? modelType = OptionalString(root, "model_type");
        if (architectures.Contains(HgrnBitConfig.ArchitectureName) || modelType == HgrnBitConfig.ModelType)
            return;
        string found = $"model_type {(modelType is null ? "(none)" : $"\"{modelType}\"")}, architectures [{string.Join(", ", architectures)}]";
        throw new PackerException($"config.json describes {found}; edge-pack converts only MatMul-free LM checkpoints (model_type \"{HgrnBitConfig.ModelType}\", architecture {HgrnBitConfig.ArchitectureName}).");
    }

    static void Unsupported(string what) =>
        throw new PackerException($"config.json sets {what}; Edge cannot run this model.");

    static bool IsAbsent(JsonElement root, string name, out JsonElement value) =>
        !root.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null;

    static int RequiredInt(JsonElement root, string name) =>
        OptionalInt(root, name) ?? throw new PackerException($"config.json lacks \"{name}\".");

    static int? OptionalInt(JsonElement root, string name)
    {
        if (IsAbsent(root, name, out var v))
            return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int x)
            ? x
            : throw new PackerException($"config.json: \"{name}\" is {v.GetRawText()}, not an integer.");
    }

    /// <summary>Newer configs may list several end tokens; the first is the one generation stops at.</summary>
    static int? OptionalTokenId(JsonElement root, string name)
    {
        if (!IsAbsent(root, name, out var v) && v.ValueKind == JsonValueKind.Array)
        {
            var first = v.EnumerateArray().FirstOrDefault();
            return first.ValueKind == JsonValueKind.Number && first.TryGetInt32(out int x)
                ? x
                : throw new PackerException($"config.json: \"{name}\" is {v.GetRawText()}, not a token id.");
        }
        return OptionalInt(root, name);
    }

    static double? OptionalNumber(JsonElement root, string name)
    {
        if (IsAbsent(root, name, out var v))
            return null;
        return v.ValueKind == JsonValueKind.Number
            ? v.GetDouble()
            : throw new PackerException($"config.json: \"{name}\" is {v.GetRawText()}, not a number.");
    }

    static bool? OptionalBool(JsonElement root, string name)
    {
        if (IsAbsent(root, name, out var v))
            return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new PackerException($"config.json: \"{name}\" is {v.GetRawText()}, not true or false."),
        };
    }

    static string? OptionalString(JsonElement root, string name)
    {
        if (IsAbsent(root, name, out var v))
            return null;
        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw new PackerException($"config.json: \"{name}\" is {v.GetRawText()}, not a string.");
    }
}
