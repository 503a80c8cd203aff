using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Shared;

namespace Edge.Tests.EndToEnd;

/// <summary>
/// MinTokens keeps end-of-text from being sampled early. The bundled model ends the sensor daemon's button prompt at
/// once for several seeds; with MinTokens none of those generations stops before it.
/// </summary>
public sealed class MinTokensTests
{
    const string ButtonPrompt = "Someone pressed the button at 14:05. Indoors it is 25.1 °C, 41 % humidity, pressure 1006.5 hPa. Write one friendly sentence about the weather inside:";

    [Fact]
    public async Task NoGenerationEndsBeforeMinTokens()
    {
        using var model = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 1 });
        var generator = new Generator(model);
        int endedAtOnce = 0;
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var sampling = new SamplingOptions { Seed = seed, RepeatPenalty = 1.1f };
            var unforced = await generator.CompleteAsync(new GenerationRequest { Prompt = ButtonPrompt, MaxTokens = 1, Sampling = sampling }, TestContext.Current.CancellationToken);
            if (unforced.Tokens.Length == 0)
                endedAtOnce++;

            var result = await generator.CompleteAsync(new GenerationRequest { Prompt = ButtonPrompt, MaxTokens = 12, MinTokens = 8, Sampling = sampling }, TestContext.Current.CancellationToken);
            Assert.True(result.Tokens.Length >= 8, $"seed {seed}: {result.Tokens.Length} tokens");
            Assert.DoesNotContain(model.Tokenizer.EosId, result.Tokens);
        }
        Assert.True(endedAtOnce > 0, "no seed ended at once without MinTokens: the prompt no longer shows what MinTokens is for");
    }
}
