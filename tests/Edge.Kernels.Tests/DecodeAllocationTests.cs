using Edge.Format.Container;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;
using Edge.Tests.Shared;

namespace Edge.Kernels.Tests;

/// <summary>The decode loop runs once per generated token; it must not feed the garbage collector.</summary>
/// <remarks>Runs alone: the process-wide allocation counter would otherwise see other tests' allocations.</remarks>
[Collection(nameof(DecodeAllocationTests))]
[CollectionDefinition(nameof(DecodeAllocationTests), DisableParallelization = true)]
public sealed class DecodeAllocationTests : IDisposable
{
    readonly string _path = Path.Combine(Path.GetTempPath(), $"edge-kernels-{Environment.ProcessId}-{Guid.NewGuid():N}.edge");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void SteadyStateDecodeAllocatesNothing(int threads)
    {
        var config = new HgrnBitConfig { VocabSize = 300, HiddenSize = 96, NumHiddenLayers = 2, IntermediateSize = 160 };
        SyntheticModel.Write(_path, config, new Random(11));
        using var file = ModelFile.Open(_path);
        using var executor = new TernaryExecutor(KernelFactory.Default, threads);
        var model = new HgrnBitModel(new HgrnBitWeights(file), executor, maxBatch: 8);
        var state = model.CreateState();
        var logits = new float[config.VocabSize];
        int[] prompt = [1, 5, 9, 200, 7];
        model.Forward(prompt, state, logits);
        var token = new int[1];
        for (int i = 0; i < 20; i++) // warm up: tiered JIT, first-use statics
            Step(model, state, logits, token);

        long thread = GC.GetAllocatedBytesForCurrentThread();
        long total = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 200; i++)
            Step(model, state, logits, token);
        long threadDelta = GC.GetAllocatedBytesForCurrentThread() - thread;
        long totalDelta = GC.GetTotalAllocatedBytes(precise: true) - total;

        Assert.Equal(0, threadDelta);
        // The process-wide count also sees the runner's own bookkeeping; a per-call allocation anywhere in the pool
        // would grow with the 200 tokens, so a bound below one small object per token still catches it.
        Assert.InRange(totalDelta, 0, 200 * 24 - 1);
    }

    static void Step(HgrnBitModel model, RecurrentState state, float[] logits, int[] token)
    {
        token[0] = ArgMax(logits);
        model.Forward(token, state, logits);
    }

    static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best])
                best = i;
        return best;
    }
}

/// <summary>A small random HGRN-Bit model file: random ternary weights, fp16 embeddings, no tokenizer.</summary>
static class SyntheticModel
{
    /// <param name="layout">How the ternary weights are packed; the same seed gives the same weights in either layout.</param>
    public static void Write(string path, HgrnBitConfig config, Random rng, TensorType layout = TensorType.Ternary2)
    {
        int h = config.HiddenSize, i = config.IntermediateSize, v = config.VocabSize, l = config.NumHiddenLayers;
        using var writer = ModelFileWriter.Create(path, new ModelMetadata { Config = config, Name = "synthetic" });
        var embeddings = new Half[v * h];
        for (int n = 0; n < embeddings.Length; n++)
            embeddings[n] = (Half)(rng.NextSingle() * 2 - 1);
        writer.AddTensor("model.embeddings.weight", TensorType.F16, [v, h], System.Runtime.InteropServices.MemoryMarshal.AsBytes(embeddings.AsSpan()));
        Vector(writer, "model.norm.weight", h, rng);
        Ternary(writer, layout, "lm_head", v, h, rng);
        var bounds = new float[l * h];
        for (int n = 0; n < bounds.Length; n++)
            bounds[n] = rng.NextSingle();
        writer.AddTensor("model.lower_bounds", TensorType.F32, [l, h], System.Runtime.InteropServices.MemoryMarshal.AsBytes(bounds.AsSpan()));
        for (int n = 0; n < l; n++)
        {
            string p = $"model.layers.{n}.";
            Vector(writer, p + "attn_norm.weight", h, rng);
            Ternary(writer, layout, p + "attn.i_proj", h, h, rng);
            Ternary(writer, layout, p + "attn.f_proj", h, h, rng);
            Ternary(writer, layout, p + "attn.g_proj", h, h, rng);
            Vector(writer, p + "attn.g_norm.weight", h, rng);
            Ternary(writer, layout, p + "attn.o_proj", h, h, rng);
            Vector(writer, p + "mlp_norm.weight", h, rng);
            Ternary(writer, layout, p + "mlp.gate_proj", 2 * i, h, rng);
            Ternary(writer, layout, p + "mlp.down_proj", h, i, rng);
        }
        writer.Commit();
    }

    static void Vector(ModelFileWriter writer, string name, int length, Random rng)
    {
        var values = new float[length];
        for (int n = 0; n < length; n++)
            values[n] = 0.5f + rng.NextSingle();
        writer.AddTensor(name, TensorType.F32, [length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    static void Ternary(ModelFileWriter writer, TensorType layout, string prefix, int rows, int columns, Random rng)
    {
        var packed = RandomTernary.PackedRows(layout, rows, columns, rng);
        writer.AddTensor(prefix + ".weight", layout, [rows, columns], packed, scale: 0.05f + rng.NextSingle() * 0.01f);
        Vector(writer, prefix + ".norm.weight", columns, rng);
    }
}
