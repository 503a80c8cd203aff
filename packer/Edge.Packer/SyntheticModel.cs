using System.Diagnostics;
using System.Security.Cryptography;
using Edge.Format.Container;

namespace Edge.Packer;

/// <summary>The dimensions of a synthetic model.</summary>
internal sealed record SyntheticShape(string Label, int Hidden, int Layers, int Vocab, int Intermediate)
{
    /// <summary>The released MMfreeLM sizes; I follows the official rule for hidden_ratio 4.</summary>
    public static IReadOnlyDictionary<string, SyntheticShape> Presets { get; } = new Dictionary<string, SyntheticShape>
    {
        ["370m"] = Official("370m", 1024, 24),
        ["1.3b"] = Official("1.3b", 2048, 24),
        ["2.7b"] = Official("2.7b", 2560, 32),
    };

    static SyntheticShape Official(string label, int hidden, int layers) =>
        new(label, hidden, layers, 32000, HgrnBitConfig.DefaultIntermediateSize(hidden, 4));

    public HgrnBitConfig ToConfig() => new()
    {
        VocabSize = Vocab,
        HiddenSize = Hidden,
        NumHiddenLayers = Layers,
        IntermediateSize = Intermediate,
    };
}

/// <summary>
/// Writes a model of the official shapes with random weights, for benchmarks and tests that need a real-sized
/// file but no download. Values are deterministic for a seed (each tensor draws from its own stream) and loosely
/// realistic: about 35% zero ternary codes with scale ≈ 1/√K, norm weights near 1, small embeddings and
/// spread-out lower bounds. The tokenizer is a small placeholder (see Resources/make-placeholder-tokenizer.sh);
/// the vocabulary beyond its pieces is padding. Tensors are generated row by row, never held whole.
/// </summary>
internal sealed class SyntheticModel(TextWriter progress)
{
    public const string TokenizerResource = "placeholder-tokenizer.model";

    /// <summary>
    /// Codes are drawn from one random byte each: below 90 is 0 (35%, close to trained BitLinear weights, whose
    /// non-zero share is 60–70%), below 173 is -1, the rest +1.
    /// </summary>
    const int ZeroBelow = 90, MinusOneBelow = 173;

    public static SentencePieceModel PlaceholderTokenizer()
    {
        using var stream = typeof(SyntheticModel).Assembly.GetManifestResourceStream(TokenizerResource)
            ?? throw new InvalidOperationException($"Resource {TokenizerResource} is missing from the build.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return SentencePieceModel.Parse(copy.ToArray(), TokenizerResource);
    }

    /// <summary>The layout of the ternary weights: 2-bit (the default) or 1.6-bit (<c>--packing 1.6bit</c>).</summary>
    public TensorType Packing { get; init; } = TensorType.Ternary2;

    public PackSummary Write(SyntheticShape shape, ulong seed, string outputPath, string? name, bool force, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        OutputCheck.Ensure(outputPath, force);
        var config = shape.ToConfig();
        try
        {
            config.Validate();
        }
        catch (InvalidDataException e)
        {
            throw new PackerException(e.Message);
        }
        var tokenizer = PlaceholderTokenizer();
        var tokenizerInfo = new TokenizerInfo { BosTokenId = 1, EosTokenId = 2, UnkTokenId = 0 };
        tokenizer.CheckFits(config.VocabSize, tokenizerInfo.BosTokenId, tokenizerInfo.EosTokenId, "the placeholder tokenizer");

        var metadata = new ModelMetadata
        {
            Name = name ?? $"synthetic-{shape.Label} seed {seed} (random weights; placeholder {tokenizer.PieceCount}-piece tokenizer)",
            Config = config,
            Tokenizer = tokenizerInfo,
            Packer = CheckpointPacker.PackerVersion,
            Sources = [new SourceFile(TokenizerResource, tokenizer.Bytes.Length, Convert.ToHexStringLower(SHA256.HashData(tokenizer.Bytes)))],
        };
        var plan = ModelLayout.Tensors(config, Packing);
        progress.WriteLine($"edge-pack synth: {shape.Label}: hidden {config.HiddenSize}, layers {config.NumHiddenLayers}, intermediate {config.IntermediateSize}, vocab {config.VocabSize}, seed {seed}; {plan.Count + 1} tensors to write");

        using var writer = ModelFileWriter.Create(outputPath, metadata);
        var report = new PackProgress(progress, plan.Count + 1);
        writer.AddTensor(ModelLayout.TokenizerTensor, TensorType.Bytes, [tokenizer.Bytes.Length], tokenizer.Bytes);
        report.Tensor(ModelLayout.TokenizerTensor, TensorType.Bytes, [tokenizer.Bytes.Length]);
        for (int n = 0; n < plan.Count; n++)
        {
            var tensor = plan[n];
            var random = new SplitMix64(seed, (ulong)n);
            if (TensorTypes.IsTernary(tensor.Type))
            {
                long columns = tensor.Shape[1];
                float scale = (float)((0.75 + 0.5 * random.NextDouble()) / Math.Sqrt(columns));
                TensorEncoder.WriteTernary(writer, tensor, scale, (_, codes) =>
                {
                    ulong bits = 0;
                    for (int k = 0; k < codes.Length; k++, bits >>= 8)
                    {
                        if (k % 8 == 0)
                            bits = random.NextUInt64();
                        int b = (int)(bits & 0xFF);
                        codes[k] = b < ZeroBelow ? (sbyte)0 : b < MinusOneBelow ? (sbyte)-1 : (sbyte)1;
                    }
                }, cancel);
                report.Tensor(tensor.Name, tensor.Type, tensor.Shape, scale);
            }
            else
            {
                // Embeddings as initialized (std 0.02); lower bounds spread so that layers differ; norms near 1.
                (double mean, double std) = tensor.Name switch
                {
                    "model.embeddings.weight" => (0.0, 0.02),
                    "model.lower_bounds" => (0.0, 1.0),
                    _ => (1.0, 0.1),
                };
                TensorEncoder.WriteFloat(writer, tensor, (_, values) =>
                {
                    for (int k = 0; k < values.Length; k++)
                        values[k] = (float)(mean + std * random.NextGaussian());
                }, cancel);
                report.Tensor(tensor.Name, tensor.Type, tensor.Shape);
            }
        }
        writer.Commit();
        return new PackSummary(outputPath, writer.Tensors.Count, new FileInfo(outputPath).Length, clock.Elapsed);
    }

    /// <summary>A small, version-independent generator (SplitMix64), so a seed gives the same model on every .NET.</summary>
    sealed class SplitMix64(ulong seed, ulong stream)
    {
        ulong _state = seed ^ (0x9E3779B97F4A7C15UL * (stream + 1));

        public ulong NextUInt64()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
        public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

        /// <summary>Standard normal (Box–Muller; the second value is dropped for simplicity).</summary>
        public double NextGaussian()
        {
            double u1 = 1.0 - NextDouble();
            double u2 = NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
    }
}
