using Edge.Format.Container;
using Edge.Format.Numerics;

namespace Edge.Tests.Cli;

/// <summary>
/// Writes a small but complete HGRN-Bit model file (random ternary weights, the fixture tokenizer), so CLI commands
/// can be run end to end in tests without a real checkpoint.
/// </summary>
static class TinyModelFile
{
    public static readonly string TokenizerPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizer", "tokenizer.model");

    public static HgrnBitConfig Config { get; } = new()
    {
        VocabSize = 600,
        HiddenSize = 64,
        NumHiddenLayers = 2,
        IntermediateSize = 96,
    };

    public static void Write(string path, int seed = 7)
    {
        var c = Config;
        var random = new Random(seed);
        using var writer = ModelFileWriter.Create(path, new ModelMetadata { Name = "tiny-test", Config = c, Packer = "Edge.Tests" });
        writer.AddTensor("tokenizer.model", TensorType.Bytes, [new FileInfo(TokenizerPath).Length], File.ReadAllBytes(TokenizerPath));
        var embeddings = new Half[c.VocabSize * c.HiddenSize];
        for (int i = 0; i < embeddings.Length; i++)
            embeddings[i] = (Half)(random.NextSingle() - 0.5f);
        writer.AddTensor("model.embeddings.weight", TensorType.F16, [c.VocabSize, c.HiddenSize], Bytes(embeddings));
        Ones(writer, "model.norm.weight", c.HiddenSize);
        Ternary(writer, random, "lm_head", c.VocabSize, c.HiddenSize);
        var lowerBounds = new float[c.NumHiddenLayers * c.HiddenSize];
        for (int i = 0; i < lowerBounds.Length; i++)
            lowerBounds[i] = random.NextSingle();
        writer.AddTensor("model.lower_bounds", TensorType.F32, [c.NumHiddenLayers, c.HiddenSize], Bytes(lowerBounds));
        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            string p = $"model.layers.{layer}.";
            Ones(writer, p + "attn_norm.weight", c.HiddenSize);
            foreach (string projection in new[] { "i_proj", "f_proj", "g_proj", "o_proj" })
                Ternary(writer, random, p + "attn." + projection, c.HiddenSize, c.HiddenSize);
            Ones(writer, p + "attn.g_norm.weight", c.HiddenSize);
            Ones(writer, p + "mlp_norm.weight", c.HiddenSize);
            Ternary(writer, random, p + "mlp.gate_proj", 2 * c.IntermediateSize, c.HiddenSize);
            Ternary(writer, random, p + "mlp.down_proj", c.HiddenSize, c.IntermediateSize);
        }
        writer.Commit();
    }

    /// <summary>A BitLinear: its RMSNorm weight and its packed ternary matrix.</summary>
    static void Ternary(ModelFileWriter writer, Random random, string prefix, int rows, int columns)
    {
        Ones(writer, prefix + ".norm.weight", columns);
        var packed = new byte[TernaryPacking.MatrixBytes(rows, columns)];
        var row = new sbyte[columns];
        int rowBytes = TernaryPacking.RowBytes(columns);
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < columns; k++)
                row[k] = (sbyte)(random.Next(3) - 1);
            TernaryPacking.PackRow(row, packed.AsSpan(r * rowBytes, rowBytes));
        }
        writer.AddTensor(prefix + ".weight", TensorType.Ternary2, [rows, columns], packed, scale: 0.05f);
    }

    static void Ones(ModelFileWriter writer, string name, int length) =>
        writer.AddTensor(name, TensorType.F32, [length], Bytes(Enumerable.Repeat(1f, length).ToArray()));

    static ReadOnlySpan<byte> Bytes<T>(T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
}
