using Edge.Format.Container;
using Edge.Runtime.Model;
using Edge.Tests.Shared;

namespace Edge.Offload.Tests;

/// <summary>
/// A small random HGRN-Bit model written with the real file writer: H = 64, I = 256, 3 blocks, V = 300. Its 19
/// BitLinears need 175 KiB, more than a UP5K's 128 KiB, so <c>fit</c> has to leave some on the CPU.
/// </summary>
internal sealed class TinyModel : IDisposable
{
    public const int Hidden = 64, Intermediate = 256, Blocks = 3, Vocab = 300;

    readonly string _dir;

    /// <param name="layout">How the ternary weights are packed; a 1.6-bit model is loaded as packed (not repacked).</param>
    public TinyModel(int seed = 1, TensorType layout = TensorType.Ternary2)
    {
        _dir = Directory.CreateTempSubdirectory("edge-offload-").FullName;
        string path = Path.Combine(_dir, "tiny.edge");
        var config = new HgrnBitConfig { VocabSize = Vocab, HiddenSize = Hidden, NumHiddenLayers = Blocks, IntermediateSize = Intermediate };
        var rng = new Random(seed);
        using (var w = ModelFileWriter.Create(path, new ModelMetadata { Config = config, Name = "tiny" }))
        {
            var embeddings = new Half[Vocab * Hidden];
            for (int i = 0; i < embeddings.Length; i++)
                embeddings[i] = (Half)(rng.NextDouble() * 2 - 1);
            w.AddTensor("model.embeddings.weight", TensorType.F16, [Vocab, Hidden], Bytes(embeddings));
            AddVector(w, rng, "model.norm.weight", Hidden);
            w.AddTensor("model.lower_bounds", TensorType.F32, [Blocks, Hidden], Bytes(Noise(rng, Blocks * Hidden, 0, 1)));
            for (int l = 0; l < Blocks; l++)
            {
                string p = $"model.layers.{l}.";
                AddVector(w, rng, p + "attn_norm.weight", Hidden);
                foreach (var name in new[] { "attn.i_proj", "attn.f_proj", "attn.g_proj", "attn.o_proj" })
                    AddBitLinear(w, rng, layout, p + name, Hidden, Hidden);
                AddVector(w, rng, p + "attn.g_norm.weight", Hidden);
                AddVector(w, rng, p + "mlp_norm.weight", Hidden);
                AddBitLinear(w, rng, layout, p + "mlp.gate_proj", 2 * Intermediate, Hidden);
                AddBitLinear(w, rng, layout, p + "mlp.down_proj", Hidden, Intermediate);
            }
            AddBitLinear(w, rng, layout, "lm_head", Vocab, Hidden);
            w.Commit();
        }
        File = ModelFile.Open(path);
        Weights = new HgrnBitWeights(File, readFiveTrit: layout == TensorType.TernaryFiveTrit);
    }

    public ModelFile File { get; }

    public HgrnBitWeights Weights { get; }

    static float[] Noise(Random rng, int n, float center, float spread)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = center + spread * (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    static void AddVector(ModelFileWriter w, Random rng, string name, int n) =>
        w.AddTensor(name, TensorType.F32, [n], Bytes(Noise(rng, n, 1, 0.2f)));

    static void AddBitLinear(ModelFileWriter w, Random rng, TensorType layout, string name, int rows, int columns)
    {
        var packed = RandomTernary.PackedRows(layout, rows, columns, rng);
        w.AddTensor(name + ".weight", layout, [rows, columns], packed, scale: 0.05f + 0.01f * (float)rng.NextDouble());
        AddVector(w, rng, name + ".norm.weight", columns);
    }

    static byte[] Bytes<T>(T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    public void Dispose()
    {
        File.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
