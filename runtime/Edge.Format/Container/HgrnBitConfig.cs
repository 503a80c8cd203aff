namespace Edge.Format.Container;

/// <summary>
/// The hyperparameters of an <c>HGRNBitForCausalLM</c> (model_type <c>hgrn_bit</c>) that inference needs;
/// names follow the checkpoint's config.json.
/// </summary>
public sealed record HgrnBitConfig
{
    /// <summary>config.json's <c>model_type</c> of these models, and the architecture a model file names.</summary>
    public const string ModelType = "hgrn_bit";

    /// <summary>config.json's <c>architectures</c> entry of these models.</summary>
    public const string ArchitectureName = "HGRNBitForCausalLM";

    /// <summary>Vocabulary size V: rows of the embedding and the lm_head.</summary>
    public required int VocabSize { get; init; }

    /// <summary>Model width H: the recurrent state holds H floats per layer.</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Number of blocks L.</summary>
    public required int NumHiddenLayers { get; init; }

    /// <summary>MLP width I; gate_proj produces 2I (gate, then up).</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>Heads of the token mixer; the output gate's RMSNorm is taken per head.</summary>
    public int NumHeads { get; init; } = 1;

    /// <summary>The ε of every RMSNorm.</summary>
    public float RmsNormEps { get; init; } = 1e-6f;

    /// <summary>Whether the forget gates have per-layer lower bounds (the released checkpoints: yes).</summary>
    public bool UseLowerBound { get; init; } = true;

    /// <summary>The training context length; informational, since the recurrent state has no length limit.</summary>
    public int MaxPositionEmbeddings { get; init; } = 2048;

    /// <summary>The official rule when config.json leaves intermediate_size null: int(H·ratio·2/3) rounded up to 256.</summary>
    internal static int DefaultIntermediateSize(int hiddenSize, int hiddenRatio)
    {
        int i = (int)(hiddenSize * hiddenRatio * 2 / 3.0);
        return 256 * ((i + 255) / 256);
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first value that cannot be run.</summary>
    internal void Validate()
    {
        Check(VocabSize is > 0 and <= 1 << 24, $"vocab_size {VocabSize} is out of range");
        Check(HiddenSize is > 0 and <= 1 << 16, $"hidden_size {HiddenSize} is out of range");
        Check(NumHiddenLayers is > 0 and <= 1024, $"num_hidden_layers {NumHiddenLayers} is out of range");
        Check(IntermediateSize is > 0 and <= 1 << 18, $"intermediate_size {IntermediateSize} is out of range");
        Check(NumHeads > 0 && HiddenSize % NumHeads == 0, $"num_heads {NumHeads} does not divide hidden_size {HiddenSize}");
        Check(RmsNormEps > 0 && float.IsFinite(RmsNormEps), $"rms_norm_eps {RmsNormEps} is not a positive number");
    }

    static void Check(bool ok, string message)
    {
        if (!ok)
            throw new InvalidDataException($"Unsupported model configuration: {message}.");
    }
}
