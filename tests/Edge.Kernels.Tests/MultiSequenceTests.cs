using Edge.Format.Container;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Kernels.Tests;

/// <summary>
/// A server's decode step runs one token of many sequences as one batch; each sequence must get exactly the bits it
/// gets when it runs alone, whatever the kernel, the thread count, or which other sequences share the step.
/// </summary>
public sealed class MultiSequenceTests : IDisposable
{
    readonly string _path = Path.Combine(Path.GetTempPath(), $"edge-kernels-{Environment.ProcessId}-{Guid.NewGuid():N}.edge");

    public void Dispose() => File.Delete(_path);

    [Theory]
    [InlineData(80, 144)]
    [InlineData(304, 200)] // the batch's recurrence runs in slices of the hidden vector, one per thread
    public void EverySequenceOfABatchedStepMatchesItsSoloRun(int hidden, int intermediate)
    {
        var config = new HgrnBitConfig { VocabSize = 280, HiddenSize = hidden, NumHiddenLayers = 2, IntermediateSize = intermediate };
        SyntheticModel.Write(_path, config, new Random(41));
        using var file = ModelFile.Open(_path);
        var weights = new HgrnBitWeights(file);
        int[][] prompts = [[3, 17, 250], [4], [99, 0, 12, 77, 140, 5], [6, 6], [200, 1, 2, 3, 4]];
        const int Steps = 7;

        foreach (var kernel in KernelFactory.Available)
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var executor = new TernaryExecutor(kernel, threads);
                var model = new HgrnBitModel(weights, executor, maxBatch: 8);
                var solo = prompts.Select(p => GreedySolo(model, p, Steps)).ToArray();

                // All five decode together; sequence 4 joins two steps late and sequence 1 sits out steps 3 and 4,
                // as in a server, so the batch changes size and order from step to step.
                int v = config.VocabSize;
                var states = prompts.Select(_ => model.CreateState()).ToArray();
                var next = new int[prompts.Length];
                var generated = prompts.Select(_ => new List<float[]>()).ToArray();
                var prefillLogits = new float[v];
                for (int s = 0; s < prompts.Length; s++)
                {
                    model.Forward(prompts[s], states[s], prefillLogits);
                    generated[s].Add(prefillLogits.ToArray());
                    next[s] = ArgMax(prefillLogits);
                }
                var batchLogits = new float[prompts.Length * v];
                for (int step = 0; generated.Any(g => g.Count <= Steps); step++)
                {
                    var active = Enumerable.Range(0, prompts.Length)
                        .Where(s => generated[s].Count <= Steps && !(s == 4 && step < 2) && !(s == 1 && step is 3 or 4))
                        .Reverse().ToArray();
                    int[] tokens = [.. active.Select(s => next[s])];
                    RecurrentState[] rows = [.. active.Select(s => states[s])];
                    model.ForwardSequences(tokens, rows, batchLogits);
                    for (int r = 0; r < active.Length; r++)
                    {
                        var row = batchLogits.AsSpan(r * v, v).ToArray();
                        generated[active[r]].Add(row);
                        next[active[r]] = ArgMax(row);
                    }
                }
                for (int s = 0; s < prompts.Length; s++)
                {
                    Assert.Equal(prompts[s].Length + Steps, states[s].Position);
                    for (int t = 0; t <= Steps; t++)
                        Assert.True(solo[s][t].AsSpan().SequenceEqual(generated[s][t]),
                            $"{kernel.Name}, {threads} threads: sequence {s} differs from its solo run at token {t}");
                }
            }
    }

    [Fact]
    public void BadBatchesAreRefusedBeforeAnyStateChanges()
    {
        var config = new HgrnBitConfig { VocabSize = 100, HiddenSize = 64, NumHiddenLayers = 1, IntermediateSize = 96 };
        SyntheticModel.Write(_path, config, new Random(5));
        using var file = ModelFile.Open(_path);
        using var executor = new TernaryExecutor(KernelFactory.Default, 1);
        var model = new HgrnBitModel(new HgrnBitWeights(file), executor, maxBatch: 2);
        var a = model.CreateState();
        var b = model.CreateState();
        var logits = new float[3 * config.VocabSize];
        Assert.Throws<ArgumentException>(() => model.ForwardSequences([1, 2], [a, a], logits));
        Assert.Throws<ArgumentException>(() => model.ForwardSequences([1, 2, 3], [a, b, model.CreateState()], logits));
        Assert.Throws<ArgumentException>(() => model.ForwardSequences([1], [a, b], logits));
        Assert.Throws<ArgumentException>(() => model.ForwardSequences([1, 2], [a, b], new float[config.VocabSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardSequences([1, 100], [a, b], logits));
        Assert.Equal(0, a.Position);
        Assert.Equal(0, b.Position);
        Assert.All(a.Hidden.Concat(b.Hidden), h => Assert.All(h, x => Assert.Equal(0f, x)));
    }

    /// <summary>The logits after the prompt and after each of <paramref name="steps"/> greedy tokens, one sequence alone.</summary>
    static List<float[]> GreedySolo(HgrnBitModel model, int[] prompt, int steps)
    {
        var state = model.CreateState();
        var logits = new float[model.Config.VocabSize];
        model.Forward(prompt, state, logits);
        var all = new List<float[]> { logits.ToArray() };
        for (int t = 0; t < steps; t++)
        {
            model.Forward([ArgMax(logits)], state, logits);
            all.Add(logits.ToArray());
        }
        return all;
    }

    static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best])
                best = i;
        return best;
    }
}
