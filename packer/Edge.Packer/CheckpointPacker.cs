using System.Diagnostics;
using System.Security.Cryptography;
using Edge.Format.Container;
using Edge.Format.Numerics;
using Edge.Packer.Safetensors;

namespace Edge.Packer;

/// <summary>What a finished pack wrote.</summary>
public sealed record PackSummary(string OutputPath, int TensorCount, long Bytes, TimeSpan Elapsed);

/// <summary>
/// Converts a HuggingFace HGRN-Bit checkpoint folder into an Edge model file: the tokenizer is embedded, the
/// embedding table becomes fp16, norms and lower bounds fp32, and every BitLinear weight is ternarized once with
/// the absmean scale of its bf16 latent weights (<see cref="TernaryQuantizer"/>). Every input is validated before
/// the first byte is written, and the output appears only when complete.
/// </summary>
public sealed class CheckpointPacker(TextWriter progress)
{
    public const string PackerVersion = "edge-pack 0.1.0";
    public const string ConfigFileName = "config.json";

    /// <summary>Elements per read while computing a scale: large enough to amortize calls, small enough to stay in cache.</summary>
    const int ScaleChunkElements = 1 << 16;

    /// <summary>The layout of the ternary weights: 2-bit (the default) or 1.6-bit (<c>--packing 1.6bit</c>).</summary>
    public TensorType Packing { get; init; } = TensorType.Ternary2;

    public PackSummary Pack(string checkpointDirectory, string outputPath, string? name, bool force, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        if (!Directory.Exists(checkpointDirectory))
            throw new PackerException($"Checkpoint folder {checkpointDirectory} does not exist.");
        OutputCheck.Ensure(outputPath, force);

        var config = HfConfig.Load(Path.Combine(checkpointDirectory, ConfigFileName));
        string tokenizerPath = Path.Combine(checkpointDirectory, ModelLayout.TokenizerTensor);
        var tokenizer = SentencePieceModel.Load(tokenizerPath);
        tokenizer.CheckFits(config.Model.VocabSize, config.BosTokenId, config.EosTokenId, ModelLayout.TokenizerTensor);
        string? chatTemplate = TokenizerConfig.ChatTemplate(checkpointDirectory);

        using var checkpoint = CheckpointReader.Open(checkpointDirectory);
        var plan = ModelLayout.Tensors(config.Model, Packing);
        var sources = plan.Select(t => checkpoint.Get(t.Name, t.Shape)).ToList();
        var c = config.Model;
        progress.WriteLine($"edge-pack: {checkpointDirectory}: hidden {c.HiddenSize}, layers {c.NumHiddenLayers}, intermediate {c.IntermediateSize}, vocab {c.VocabSize}, dtype {config.DType ?? "unstated"}; {plan.Count + 1} tensors to write");

        var metadata = new ModelMetadata
        {
            Name = name ?? config.NameOrPath ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpointDirectory))),
            Config = c,
            Tokenizer = new TokenizerInfo { BosTokenId = config.BosTokenId, EosTokenId = config.EosTokenId, UnkTokenId = 0 },
            ChatTemplate = chatTemplate,
            Packer = PackerVersion,
            Sources = HashSources([Path.Combine(checkpointDirectory, ConfigFileName), tokenizerPath, .. checkpoint.SourcePaths], cancel),
        };

        using var writer = ModelFileWriter.Create(outputPath, metadata);
        var report = new PackProgress(progress, plan.Count + 1);
        writer.AddTensor(ModelLayout.TokenizerTensor, TensorType.Bytes, [tokenizer.Bytes.Length], tokenizer.Bytes);
        report.Tensor(ModelLayout.TokenizerTensor, TensorType.Bytes, [tokenizer.Bytes.Length]);
        for (int n = 0; n < plan.Count; n++)
        {
            float? scale = null;
            if (TensorTypes.IsTernary(plan[n].Type))
                scale = WriteTernary(writer, plan[n], sources[n], cancel);
            else
                WriteFloat(writer, plan[n], sources[n], cancel);
            report.Tensor(plan[n].Name, plan[n].Type, plan[n].Shape, scale);
        }
        writer.Commit();

        long bytes = new FileInfo(outputPath).Length;
        return new PackSummary(outputPath, writer.Tensors.Count, bytes, clock.Elapsed);
    }

    /// <summary>Two passes over the mapped latent weights: the absmean scale, then ternarize and pack row by row.</summary>
    static float WriteTernary(ModelFileWriter writer, PlannedTensor target, SafetensorsTensor source, CancellationToken cancel)
    {
        float scale = LatentScale(source, cancel);
        if (!float.IsFinite(scale))
            throw NotFinite(source);
        var latent = new float[target.Shape[1]];
        TensorEncoder.WriteTernary(writer, target, scale, (row, codes) =>
        {
            source.ReadAsSingle(row * latent.Length, latent);
            TernaryQuantizer.Ternarize(latent, scale, codes);
        }, cancel);
        return scale;
    }

    static void WriteFloat(ModelFileWriter writer, PlannedTensor target, SafetensorsTensor source, CancellationToken cancel)
    {
        float limit = target.Type == TensorType.F16 ? (float)Half.MaxValue : float.MaxValue;
        TensorEncoder.WriteFloat(writer, target, (row, values) =>
        {
            source.ReadAsSingle(row * values.Length, values);
            foreach (float v in values)
                if (!(Math.Abs(v) <= limit))
                    throw NotFinite(source);
        }, cancel);
    }

    static PackerException NotFinite(SafetensorsTensor source) =>
        new($"Tensor {source.Name} in {source.File.FileName} holds NaN, infinite or (for fp16 storage) out-of-range values; the checkpoint is damaged.");

    /// <summary>First pass over a BitLinear weight: the absmean of its latent values, accumulated chunk by chunk.</summary>
    static float LatentScale(SafetensorsTensor source, CancellationToken cancel)
    {
        var accumulator = new TernaryQuantizer.AbsMeanAccumulator();
        var chunk = new float[ScaleChunkElements];
        long count = source.ElementCount;
        for (long done = 0; done < count; done += chunk.Length)
        {
            cancel.ThrowIfCancellationRequested();
            var part = chunk.AsSpan(0, (int)Math.Min(chunk.Length, count - done));
            source.ReadAsSingle(done, part);
            accumulator.Add(part);
        }
        return accumulator.Scale;
    }

    List<SourceFile> HashSources(IEnumerable<string> paths, CancellationToken cancel)
    {
        var sources = new List<SourceFile>();
        foreach (string path in paths)
        {
            cancel.ThrowIfCancellationRequested();
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            progress.WriteLine($"  sha256 {Path.GetFileName(path)} ({Sizes.Format(stream.Length)})");
            string sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            sources.Add(new SourceFile(Path.GetFileName(path), stream.Length, sha));
        }
        return sources;
    }
}
