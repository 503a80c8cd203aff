using System.Text.Json;
using Edge.Format.Container;
using Edge.Packer;

namespace Edge.Tests.Helpers;

/// <summary>What <see cref="TinyCheckpoint.Create"/> builds.</summary>
public sealed record TinyCheckpointOptions
{
    public int Hidden { get; init; } = 64;
    public int Layers { get; init; } = 2;

    /// <summary>MLP width; null writes <c>"intermediate_size": null</c> so the official rule applies (H=64 → 256).</summary>
    public int? Intermediate { get; init; }

    /// <summary>Vocabulary; null takes the fixture tokenizer's piece count rounded up to a multiple of 64 (600 → 640).</summary>
    public int? Vocab { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>Split the weights over model-00001-of-00002 and model-00002-of-00002 with an index json.</summary>
    public bool Sharded { get; init; }

    public bool UseLowerBound { get; init; } = true;

    /// <summary>Safetensors dtype of every tensor: "BF16" (as released), "F16" or "F32".</summary>
    public string WeightDType { get; init; } = "BF16";

    /// <summary>config.json key of the dtype: "torch_dtype" (transformers 4.x) or "dtype" (5.x).</summary>
    public string DTypeKey { get; init; } = "torch_dtype";
}

/// <summary>
/// A tiny random HGRN-Bit HuggingFace checkpoint folder with the official tensor names and config.json fields,
/// and the fixture SentencePiece tokenizer. Deterministic for a seed. <see cref="Weights"/> holds every tensor's
/// values exactly as stored (already rounded to the stored dtype), so a reference computed from them sees the same
/// numbers as edge-pack.
/// </summary>
public sealed class TinyCheckpoint
{
    public const int BosTokenId = 1;
    public const int EosTokenId = 2;
    public const string Name = "tiny-hgrn-bit";

    TinyCheckpoint(string directory, HgrnBitConfig config, TinyCheckpointOptions options, List<string> names, Dictionary<string, float[]> weights, Dictionary<string, long[]> shapes)
    {
        Directory = directory;
        Config = config;
        Options = options;
        TensorNames = names;
        Weights = weights;
        Shapes = shapes;
    }

    /// <summary>The fixture tokenizer (600 pieces; see Fixtures/tokenizer/README.md).</summary>
    public static string FixtureTokenizerPath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizer", "tokenizer.model");

    public string Directory { get; }
    public HgrnBitConfig Config { get; }
    public TinyCheckpointOptions Options { get; }

    /// <summary>All tensor names in the official checkpoints' order (embeddings, lower bounds, layers, final norm, lm_head).</summary>
    public IReadOnlyList<string> TensorNames { get; }

    /// <summary>Name → values (row-major, as stored: exactly representable in <see cref="TinyCheckpointOptions.WeightDType"/>).</summary>
    public IReadOnlyDictionary<string, float[]> Weights { get; }

    /// <summary>Name → PyTorch shape ([out, in] for matrices).</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    public string ConfigPath => Path.Combine(Directory, "config.json");
    public string TokenizerPath => Path.Combine(Directory, "tokenizer.model");

    /// <summary>The safetensors entries of the checkpoint, for tests that rewrite its files with a change.</summary>
    public IEnumerable<SafetensorsEntry> Entries(string? dtype = null) =>
        TensorNames.Select(n => SafetensorsWriter.Tensor(n, Shapes[n], Weights[n], dtype ?? Options.WeightDType));

    /// <summary>Writes the checkpoint into <paramref name="directory"/> (created if needed) and returns its contents.</summary>
    public static TinyCheckpoint Create(string directory, TinyCheckpointOptions? options = null)
    {
        options ??= new TinyCheckpointOptions();
        System.IO.Directory.CreateDirectory(directory);
        int pieces = SentencePieceModel.Load(FixtureTokenizerPath).PieceCount;
        var config = new HgrnBitConfig
        {
            VocabSize = options.Vocab ?? (pieces + 63) / 64 * 64,
            HiddenSize = options.Hidden,
            NumHiddenLayers = options.Layers,
            IntermediateSize = options.Intermediate ?? HgrnBitConfig.DefaultIntermediateSize(options.Hidden, 4),
            UseLowerBound = options.UseLowerBound,
        };

        var random = new Random(options.Seed);
        var names = new List<string>();
        var weights = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, long[]>();
        foreach (var tensor in ModelLayout.Tensors(config))
        {
            long count = tensor.Shape.Aggregate(1L, (a, d) => a * d);
            // Latent BitLinear weights as initialized (std 0.02); norms near 1; embeddings and lower bounds spread out.
            (double mean, double std) = tensor.Type == TensorType.Ternary2 ? (0, 0.02)
                : tensor.Name == "model.embeddings.weight" ? (0, 0.5)
                : tensor.Name == "model.lower_bounds" ? (0, 1)
                : (1, 0.1);
            var values = new float[count];
            for (long i = 0; i < count; i++)
                values[i] = (float)(mean + std * Gaussian(random));
            names.Add(tensor.Name);
            weights[tensor.Name] = SafetensorsWriter.RoundTrip(values, options.WeightDType);
            shapes[tensor.Name] = tensor.Shape;
        }

        var checkpoint = new TinyCheckpoint(directory, config, options, names, weights, shapes);
        checkpoint.WriteConfig(options.Intermediate is null ? null : config.IntermediateSize);
        File.Copy(FixtureTokenizerPath, checkpoint.TokenizerPath, overwrite: true);
        checkpoint.WriteWeights();
        return checkpoint;
    }

    static double Gaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    void WriteWeights()
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (!Options.Sharded)
        {
            SafetensorsWriter.Write(Path.Combine(Directory, "model.safetensors"), Entries(), metadata);
            return;
        }
        var entries = Entries().ToList();
        int half = entries.Count / 2;
        string[] shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        SafetensorsWriter.Write(Path.Combine(Directory, shards[0]), entries.Take(half), metadata);
        SafetensorsWriter.Write(Path.Combine(Directory, shards[1]), entries.Skip(half), metadata);

        using var stream = File.Create(Path.Combine(Directory, "model.safetensors.index.json"));
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartObject("metadata");
        w.WriteNumber("total_size", entries.Sum(e => (long)e.Data.Length));
        w.WriteEndObject();
        w.WriteStartObject("weight_map");
        foreach (var (entry, i) in entries.Select((e, i) => (e, i)).OrderBy(x => x.e.Name, StringComparer.Ordinal))
            w.WriteString(entry.Name, shards[i < half ? 0 : 1]);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>config.json with the field set of the released checkpoints.</summary>
    void WriteConfig(int? intermediate)
    {
        using var stream = File.Create(ConfigPath);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("_name_or_path", Name);
        w.WriteStartArray("architectures");
        w.WriteStringValue(HgrnBitConfig.ArchitectureName);
        w.WriteEndArray();
        w.WriteString("attn_mode", "fused_recurrent");
        w.WriteNumber("bos_token_id", BosTokenId);
        w.WriteNumber("conv_size", 4);
        w.WriteNumber("eos_token_id", EosTokenId);
        w.WriteNumber("expand_ratio", 1);
        w.WriteBoolean("fuse_cross_entropy", true);
        w.WriteString("hidden_act", "swish");
        w.WriteNumber("hidden_ratio", 4);
        w.WriteNumber("hidden_size", Config.HiddenSize);
        w.WriteNumber("initializer_range", 0.02);
        if (intermediate is int i)
            w.WriteNumber("intermediate_size", i);
        else
            w.WriteNull("intermediate_size");
        w.WriteNumber("max_position_embeddings", 2048);
        w.WriteString("model_type", HgrnBitConfig.ModelType);
        w.WriteNumber("num_heads", 1);
        w.WriteNumber("num_hidden_layers", Config.NumHiddenLayers);
        w.WriteNumber("rms_norm_eps", 1e-6);
        w.WriteBoolean("share_conv_kernel", true);
        w.WriteBoolean("tie_word_embeddings", false);
        w.WriteString(Options.DTypeKey, Options.WeightDType switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" });
        w.WriteString("transformers_version", "4.40.2");
        w.WriteBoolean("use_cache", true);
        w.WriteBoolean("use_lower_bound", Config.UseLowerBound);
        w.WriteBoolean("use_short_conv", false);
        w.WriteNumber("vocab_size", Config.VocabSize);
        w.WriteEndObject();
    }

    /// <summary>Rewrites config.json with one field replaced (a JSON literal) or, with null, removed.</summary>
    public void EditConfig(string field, string? jsonValue)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(ConfigPath))!.AsObject();
        if (jsonValue is null)
            node.Remove(field);
        else
            node[field] = System.Text.Json.Nodes.JsonNode.Parse(jsonValue);
        File.WriteAllText(ConfigPath, node.ToJsonString());
    }
}
