using Edge.Format.Container;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Kernels.Tests;

/// <summary>The forward pass gives the same bits whatever the kernel, thread count or batch split.</summary>
public sealed class ModelConsistencyTests : IDisposable
{
    readonly string _path = Path.Combine(Path.GetTempPath(), $"edge-kernels-{Environment.ProcessId}-{Guid.NewGuid():N}.edge");
    readonly string _fiveTritPath = Path.Combine(Path.GetTempPath(), $"edge-kernels-{Environment.ProcessId}-{Guid.NewGuid():N}-1.6bit.edge");

    public void Dispose()
    {
        File.Delete(_path);
        File.Delete(_fiveTritPath);
    }

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

    [Theory]
    [InlineData(80, 144)]   // K = 80, 144: tail groups only
    [InlineData(352, 688)]  // a block and a tail, two blocks and a tail; the 1.6-bit batched product's passes
    public void AOnePointSixBitModelGivesTheTwoBitModelsLogits(int hidden, int intermediate)
    {
        var config = new HgrnBitConfig { VocabSize = 280, HiddenSize = hidden, NumHiddenLayers = 2, IntermediateSize = intermediate };
        SyntheticModel.Write(_path, config, new Random(31));
        SyntheticModel.Write(_fiveTritPath, config, new Random(31), TensorType.TernaryFiveTrit);
        using var twoBitFile = ModelFile.Open(_path);
        using var fiveTritFile = ModelFile.Open(_fiveTritPath);
        int[] tokens = [3, 17, 250, 4, 99, 0, 12, 77, 140];

        using var referenceExecutor = new TernaryExecutor(KernelFactory.Available[0], 1);
        var expected = Logits(new HgrnBitModel(new HgrnBitWeights(twoBitFile), referenceExecutor, maxBatch: 8), tokens);

        var repacked = new HgrnBitWeights(fiveTritFile, readFiveTrit: false);
        Assert.False(repacked.HasFiveTrit);
        foreach (var kernel in new[] { KernelFactory.Available[0], KernelFactory.Select("scalar") })
        {
            using var executor = new TernaryExecutor(kernel, 2);
            Assert.Equal(expected, Logits(new HgrnBitModel(repacked, executor, maxBatch: 8), tokens));
        }

        if (KernelFactory.FiveTritFor(KernelFactory.Available[0]) is not { } fiveTrit)
            return; // this CPU repacks; the direct path is tested where the kernel exists
        var direct = new HgrnBitWeights(fiveTritFile, readFiveTrit: true);
        Assert.True(direct.HasFiveTrit);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var executor = new TernaryExecutor(KernelFactory.Available[0], threads, fiveTrit);
            Assert.Equal(expected, Logits(new HgrnBitModel(direct, executor, maxBatch: 8), tokens));
        }
        // Without a 1.6-bit kernel, the executor refuses the matrices instead of misreading them.
        using var twoBitOnly = new TernaryExecutor(KernelFactory.Available[0], 1);
        Assert.Throws<InvalidOperationException>(() => Logits(new HgrnBitModel(direct, twoBitOnly, maxBatch: 8), tokens));
    }

    /// <summary>Logits after the whole prompt as one batched prefill (batches of 8 and 1), and after feeding it token by token, which must agree.</summary>
    static float[] Logits(HgrnBitModel model, int[] tokens)
    {
        var batched = new float[model.Config.VocabSize];
        model.Forward(tokens, model.CreateState(), batched);
        var state = model.CreateState();
        var single = new float[model.Config.VocabSize];
        foreach (int t in tokens)
            model.Forward([t], state, single);
        Assert.Equal(batched, single);
        return batched;
    }
}
