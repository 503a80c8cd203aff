using System.Text.Json;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Shared;

namespace Edge.Tests.EndToEnd;

/// <summary>
/// The bundled model (models/, docs/MODEL.md) against the PyTorch implementation it was trained with
/// (training/hgrn_bit.py, fp32): the same logits at every prompt position and the same greedy tokens.
/// </summary>
public sealed class BundledModelTests
{
    static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "bundled");

    public static TheoryData<string> PromptTexts => new(OfficialParityTests.Prompts(FixtureDir).Select(p => p.Text));

    [Theory]
    [MemberData(nameof(PromptTexts))]
    public void LogitsMatchTheTrainingImplementation(string text)
    {
        var expected = OfficialParityTests.Prompts(FixtureDir).Single(p => p.Text == text);
        using var model = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { VerifyChecksums = true });
        Assert.Equal(expected.Ids, model.Tokenizer.Encode(text));
        var state = model.Model.CreateState();
        var logits = new float[model.Config.VocabSize];
        for (int pos = 0; pos < expected.Ids.Length; pos++)
        {
            model.Model.Forward([expected.Ids[pos]], state, logits);
            var want = expected.Logits[pos];
            double worst = 0;
            for (int v = 0; v < want.Length; v++)
                worst = Math.Max(worst, Math.Abs(logits[v] - want[v]));
            Assert.True(worst < 0.25, $"position {pos}: largest logit difference {worst:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(PromptTexts))]
    public async Task GreedyTokensMatchTheTrainingImplementation(string text)
    {
        var expected = OfficialParityTests.Prompts(FixtureDir).Single(p => p.Text == text);
        using var model = EdgeModel.Load(RepositoryFile.BundledModel());
        var generator = new Generator(model);
        var request = new GenerationRequest { Prompt = text, MaxTokens = expected.Greedy.Length, Sampling = SamplingOptions.Greedy };
        var result = await generator.CompleteAsync(request, TestContext.Current.CancellationToken);
        // The fixture lists the EOS that ended its run; Edge stops there without emitting it.
        bool endsAtEos = expected.Greedy[^1] == model.Tokenizer.EosId;
        Assert.Equal(endsAtEos ? expected.Greedy[..^1] : expected.Greedy, result.Tokens);
        Assert.Equal(endsAtEos, result.StoppedAtEos);
    }

    [Fact]
    public void ReadIntoMemoryTheModelComputesTheSameLogitsAsMapped()
    {
        using var mapped = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 1 });
        using var read = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 1, MemoryMap = false });
        Assert.True(mapped.File.IsMapped);
        Assert.False(read.File.IsMapped);
        var ids = mapped.Tokenizer.Encode("And God said, Let there be light");
        var expected = new float[mapped.Config.VocabSize];
        var actual = new float[read.Config.VocabSize];
        mapped.Model.Forward(ids, mapped.Model.CreateState(), expected);
        read.Model.Forward(ids, read.Model.CreateState(), actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void TokenizesLikeSentencePieceIncludingWhitespaceCollapsing()
    {
        using var model = EdgeModel.Load(RepositoryFile.BundledModel());
        string[] lines = File.ReadAllText(Path.Combine(FixtureDir, "tokenizer-reference.txt")).TrimEnd('\n').Split('\n');
        string[] ids = File.ReadAllText(Path.Combine(FixtureDir, "tokenizer-reference.ids")).TrimEnd('\n').Split('\n');
        Assert.Equal(lines.Length, ids.Length);
        for (int i = 0; i < lines.Length; i++)
            Assert.Equal(ids[i], string.Join(' ', model.Tokenizer.Encode(lines[i], addBos: false)));
    }
}
