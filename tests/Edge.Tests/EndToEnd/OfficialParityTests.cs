using System.Numerics.Tensors;
using System.Text.Json;
using Edge.Packer;
using Edge.Packer.Safetensors;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Cli;
using Edge.Tests.Helpers;
using Edge.Tests.Packer;
using Edge.Tests.Reference;

namespace Edge.Tests.EndToEnd;

/// <summary>
/// The acceptance check of the runtime: a checkpoint trained and saved by the official MMfreeLM code, packed by
/// edge-pack, must reproduce the official implementation's logits and greedy tokens
/// (Fixtures/official-tiny/README.md says how they were produced).
/// </summary>
public sealed class OfficialParityTests : IDisposable
{
    static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "official-tiny");

    readonly TempDirectory _temp = new();
    readonly string _model;

    public OfficialParityTests()
    {
        _model = _temp.File("official-tiny.edge");
        var run = PackerRun.Invoke(FixtureDir, "-o", _model);
        Assert.True(run.ExitCode == 0, run.Stderr);
    }

    public void Dispose() => _temp.Dispose();

    public sealed record Expected(string Text, int[] Ids, float[][] Logits, int[] Greedy);

    /// <summary>The prompts of an expected.json fixture (official-tiny by default).</summary>
    public static IEnumerable<Expected> Prompts(string? fixtureDir = null)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(fixtureDir ?? FixtureDir, "expected.json")));
        foreach (var p in doc.RootElement.GetProperty("prompts").EnumerateArray())
            yield return new Expected(
                p.GetProperty("text").GetString()!,
                [.. p.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())],
                [.. p.GetProperty("logits").EnumerateArray().Select(row => row.EnumerateArray().Select(e => e.GetSingle()).ToArray())],
                [.. p.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32())]);
    }

    public static TheoryData<string> PromptTexts => new(Prompts().Select(p => p.Text));

    [Theory]
    [MemberData(nameof(PromptTexts))]
    public void TokenizesAndScoresEveryPositionLikeTheOfficialCode(string text)
    {
        var expected = Prompts().Single(p => p.Text == text);
        using var model = EdgeModel.Load(_model);
        Assert.Equal(expected.Ids, model.Tokenizer.Encode(text));
        var state = model.Model.CreateState();
        var logits = new float[model.Config.VocabSize];
        int loose = 0;
        for (int pos = 0; pos < expected.Ids.Length; pos++)
        {
            model.Model.Forward([expected.Ids[pos]], state, logits);
            var want = expected.Logits[pos];
            double worst = 0, total = 0;
            for (int v = 0; v < want.Length; v++)
            {
                double d = Math.Abs(logits[v] - want[v]);
                worst = Math.Max(worst, d);
                total += d;
            }
            // Most positions agree to ~1e-6. At a few, the official fp32 Triton run rounds one activation whose
            // value lies within its rounding error of a .5 boundary to the neighbouring int8 code (Edge agrees with
            // the float64 reference there to 1e-6, see the test below), which moves that position's logits by a few
            // hundredths of a ~20 range and leaves the next positions as they were.
            if (total / want.Length > 1e-4)
                loose++;
            Assert.True(worst < 0.1, $"position {pos}: largest logit difference {worst:E2}");
            Assert.Equal(TensorPrimitives.IndexOfMax(want), TensorPrimitives.IndexOfMax<float>(logits));
        }
        Assert.True(loose <= Math.Max(1, expected.Ids.Length / 5), $"{loose} of {expected.Ids.Length} positions differ by more than rounding noise");
    }

    [Fact]
    public void AgreesWithTheFloat64ReferenceOnTheOfficialCheckpoint()
    {
        var config = HfConfig.Load(Path.Combine(FixtureDir, "config.json")).Model;
        using var weights = SafetensorsFile.Open(Path.Combine(FixtureDir, "model.safetensors"));
        var reference = new ReferenceHgrnBit(config, name =>
        {
            var t = weights.Tensors[name];
            var values = new float[t.ElementCount];
            t.ReadAsSingle(0, values);
            return values;
        });
        using var model = EdgeModel.Load(_model);
        var state = model.Model.CreateState();
        var logits = new float[config.VocabSize];
        foreach (int token in Prompts().Last().Ids)
        {
            model.Model.Forward([token], state, logits);
            double[] want = reference.Step(token);
            double worst = 0;
            for (int v = 0; v < want.Length; v++)
                worst = Math.Max(worst, Math.Abs(logits[v] - want[v]));
            Assert.True(worst < 1e-4, $"largest logit difference from the float64 reference {worst:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(PromptTexts))]
    public async Task GreedyOutputEqualsTheOfficialImplementation(string text)
    {
        var expected = Prompts().Single(p => p.Text == text);
        using var model = EdgeModel.Load(_model);
        var generator = new Generator(model);
        var request = new GenerationRequest { Prompt = text, MaxTokens = expected.Greedy.Length, Sampling = SamplingOptions.Greedy };
        var result = await generator.CompleteAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(expected.Greedy, result.Tokens);
    }

    [Fact]
    public async Task TheCliPrintsTheOfficialGreedyTokensAsJson()
    {
        var expected = Prompts().First();
        var run = await CliRun.InvokeAsync("generate", "-m", _model, "-p", expected.Text, "-n", expected.Greedy.Length.ToString(), "--temp", "0", "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.LastLine);
        Assert.Equal(expected.Ids, json.RootElement.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(expected.Greedy, json.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()));
    }
}
