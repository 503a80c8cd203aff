using Edge.Format.Container;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Kernels.Tests;

/// <summary>The forward pass gives the same bits whatever the kernel, thread count or batch split.</summary>
public sealed class ModelConsistencyTests : IDisposable
{
    readonly string _path = Path.Combine(Path.GetTempPath(), $"edge-kernels-{Environment.ProcessId}-{Guid.NewGuid():N}.edge");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData(80, 144)]
    [InlineData(304, 200)] // a batch's recurrence runs in slices of the hidden vector, one per thread, cut at 16 floats
    public void PrefillEqualsTokenByTokenForEveryKernelAndThreadCount(int hidden, int intermediate)
    {
        var config = new HgrnBitConfig { VocabSize = 280, HiddenSize = hidden, NumHiddenLayers = 2, IntermediateSize = intermediate };
        SyntheticModel.Write(_path, config, new Random(23));
        using var file = ModelFile.Open(_path);
        var weights = new HgrnBitWeights(file);
        int[] tokens = [3, 17, 250, 4, 99, 0, 12, 77, 140, 5, 6];

        float[]? reference = null;
        foreach (var kernel in KernelFactory.Available)
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var executor = new TernaryExecutor(kernel, threads);
                var model = new HgrnBitModel(weights, executor, maxBatch: 4); // 11 tokens: batches of 4, 4, 3
                var batched = new float[config.VocabSize];
                model.Forward(tokens, model.CreateState(), batched);

                var state = model.CreateState();
                var single = new float[config.VocabSize];
                foreach (int t in tokens)
                    model.Forward([t], state, single);

                Assert.Equal(batched, single);
                reference ??= batched;
                Assert.True(reference.AsSpan().SequenceEqual(batched), $"{kernel.Name} with {threads} threads differs from {KernelFactory.Available[0].Name}");
            }
    }
}
