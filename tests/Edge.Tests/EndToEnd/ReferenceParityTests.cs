using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Helpers;
using Edge.Tests.Packer;
using Edge.Tests.Reference;

namespace Edge.Tests.EndToEnd;

/// <summary>
/// Checkpoint → edge-pack → model file → runtime, against the float64 reference computed from the very same
/// checkpoint values: logits at every position, greedy tokens, and prefill versus token-by-token decoding.
/// </summary>
public sealed class ReferenceParityTests : IDisposable
{
    readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    (TinyCheckpoint Checkpoint, EdgeModel Model) Pack(TinyCheckpointOptions options)
    {
        var checkpoint = TinyCheckpoint.Create(_temp.Folder("ckpt"), options);
        string file = _temp.File("tiny.edge");
        var run = PackerRun.Invoke(checkpoint.Directory, "-o", file);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return (checkpoint, EdgeModel.Load(file));
    }

    public static TheoryData<int, int, bool, bool> Shapes => new()
    {
        // hidden, layers, lower bounds, sharded
        { 64, 2, true, false },
        { 96, 3, true, true },
        { 48, 1, false, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LogitsMatchTheFloat64ReferenceAtEveryPosition(int hidden, int layers, bool lowerBound, bool sharded)
    {
        var (ckpt, model) = Pack(new TinyCheckpointOptions { Hidden = hidden, Layers = layers, UseLowerBound = lowerBound, Sharded = sharded, Seed = hidden + layers });
        using (model)
        {
            var reference = new ReferenceHgrnBit(ckpt.Config, name => ckpt.Weights[name]);
            var state = model.Model.CreateState();
            var logits = new float[ckpt.Config.VocabSize];
            int[] tokens = model.Tokenizer.Encode("And the earth was without form, and void; and darkness was upon the face of the deep.");
            Assert.True(tokens.Length > 10);
            double worst = 0;
            foreach (int token in tokens)
            {
                model.Model.Forward([token], state, logits);
                double[] expected = reference.Step(token);
                double range = expected.Max() - expected.Min();
                for (int v = 0; v < expected.Length; v++)
                    worst = Math.Max(worst, Math.Abs(logits[v] - expected[v]) / range);
            }
            // fp32 against fp64: an activation a rounding step from a .5 boundary may land on the other int8 code,
            // which moves a logit by a small fraction of the range; anything structural moves it by far more.
            Assert.True(worst < 2e-3, $"largest logit error {worst:E2} of the logit range");
        }
    }

    [Fact]
    public async Task GreedyTokensMatchTheReference()
    {
        var (ckpt, model) = Pack(new TinyCheckpointOptions { Hidden = 64, Layers = 2, Seed = 11 });
        using (model)
        {
            var reference = new ReferenceHgrnBit(ckpt.Config, name => ckpt.Weights[name]);
            int[] prompt = model.Tokenizer.Encode("In the beginning");
            double[] refLogits = [];
            foreach (int t in prompt)
                refLogits = reference.Step(t);
            var expected = new List<int>();
            for (int i = 0; i < 16; i++)
            {
                int next = Array.IndexOf(refLogits, refLogits.Max());
                expected.Add(next);
                refLogits = reference.Step(next);
            }

            var generator = new Generator(model);
            var request = new GenerationRequest { Prompt = "In the beginning", MaxTokens = 16, Sampling = SamplingOptions.Greedy };
            var result = await generator.CompleteAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(prompt, result.PromptTokens);
            int[] got = result.Tokens;
            // Generation stops early at EOS; compare what was produced.
            Assert.Equal(expected.Take(got.Length), got);
            if (got.Length < 16)
                Assert.Equal(TinyCheckpoint.EosTokenId, expected[got.Length]);
        }
    }

    [Fact]
    public void PrefillThenDecodeEqualsTokenByTokenBitForBit()
    {
        var (ckpt, model) = Pack(new TinyCheckpointOptions { Hidden = 64, Layers = 2, Seed = 5 });
        using (model)
        {
            int[] tokens = model.Tokenizer.Encode("The jury said that the city had been charged with the election, and the court would rule.");
            int v = ckpt.Config.VocabSize;
            var batched = model.Model.CreateState();
            var oneByOne = model.Model.CreateState();
            var a = new float[v];
            var b = new float[v];

            model.Model.Forward(tokens, batched, a);
            foreach (int t in tokens)
                model.Model.Forward([t], oneByOne, b);
            Assert.Equal(a, b);
            for (int l = 0; l < ckpt.Config.NumHiddenLayers; l++)
                Assert.Equal(oneByOne.Hidden[l], batched.Hidden[l]);

            // Continue decoding from both states.
            model.Model.Forward([42], batched, a);
            model.Model.Forward([42], oneByOne, b);
            Assert.Equal(a, b);
            Assert.Equal(tokens.Length + 1, batched.Position);
        }
    }

    [Fact]
    public void BatchesLongerThanTheWorkspaceSplitWithoutChangingResults()
    {
        var checkpoint = TinyCheckpoint.Create(_temp.Folder("ckpt"), new TinyCheckpointOptions { Seed = 9 });
        string file = _temp.File("tiny.edge");
        Assert.Equal(0, PackerRun.Invoke(checkpoint.Directory, "-o", file).ExitCode);
        using var small = EdgeModel.Load(file, new LoadOptions { MaxBatch = 3 });
        using var large = EdgeModel.Load(file, new LoadOptions { MaxBatch = 64 });
        int[] tokens = small.Tokenizer.Encode("a b c d e f g h i j k l m n o p");
        var a = new float[checkpoint.Config.VocabSize];
        var b = new float[checkpoint.Config.VocabSize];
        small.Model.Forward(tokens, small.Model.CreateState(), a);
        large.Model.Forward(tokens, large.Model.CreateState(), b);
        Assert.Equal(a, b);
    }
}
