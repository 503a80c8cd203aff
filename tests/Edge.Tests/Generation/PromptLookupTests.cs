using Edge.Tests.Shared;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Tests.Generation;

/// <summary>
/// Prompt-lookup decoding gives exactly plain decoding's tokens, text, finish and state, whatever is drafted and
/// however much of it is accepted; only the number of forward passes changes.
/// </summary>
public sealed class PromptLookupTests : IDisposable
{
    /// <summary>A verse list the bundled model goes on quoting: many drafts accepted.</summary>
    const string VerseList =
        "1:1 In the beginning God created the heaven and the earth. 1:2 And the earth was without form, and void; and " +
        "darkness was upon the face of the deep. 1:3 And God said, Let there be light: and there was light. " +
        "1:1 In the beginning God created the heaven and the earth. 1:2 And the earth was without form";

    /// <summary>Greedy, the bundled model ends this one with EOS after 15 tokens, none of them as drafted.</summary>
    const string EndsAtEos = "The Fulton County Grand Jury said Friday an investigation of recent primary elections produced";

    const string Prose = "The old man walked down to the river in the morning, and";

    // Two threads: the batch splits the recurrence across threads, as it does on a multi-core device.
    readonly EdgeModel _model = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 2 });

    public void Dispose() => _model.Dispose();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Drafting at every step that finds a match, so every path of the verification runs.</summary>
    static PromptLookupOptions Always(int k = 7) => new() { DraftTokens = k, Adaptive = false };

    static GenerationRequest Greedy(string prompt, int tokens) => new() { Prompt = prompt, MaxTokens = tokens, Sampling = SamplingOptions.Greedy };

    async Task<(GenerationResult Result, Session Session)> Run(GenerationRequest request)
    {
        var session = new Session(_model);
        var result = await new Generator(_model).CompleteAsync(session, request, Cancel);
        return (result, session);
    }

    /// <summary>Runs the request plain and with <paramref name="lookup"/> and checks that both did the same; returns the lookup's result.</summary>
    async Task<GenerationResult> AssertSameAsPlain(GenerationRequest request, PromptLookupOptions lookup)
    {
        var (plain, plainSession) = await Run(request);
        var (fast, fastSession) = await Run(request with { PromptLookup = lookup });
        Assert.Equal(plain.Tokens, fast.Tokens);
        Assert.Equal(plain.Text, fast.Text);
        Assert.Equal(plain.DecodedText, fast.DecodedText);
        Assert.Equal(plain.FinishReason, fast.FinishReason);
        Assert.Equal(plain.StopSequence, fast.StopSequence);
        Assert.Equal(plainSession.Tokens, fastSession.Tokens);
        AssertSameState(plainSession, fastSession);
        Assert.Equal(default, plain.PromptLookup);
        return fast;
    }

    static void AssertSameState(Session expected, Session actual)
    {
        Assert.Equal(expected.State.Position, actual.State.Position);
        for (int l = 0; l < expected.State.Layers; l++)
            Assert.Equal(expected.State.Hidden[l], actual.State.Hidden[l]);
    }

    [Fact]
    public void ABatchGivesEveryPositionsLogitsAndStateAsTokenByToken()
    {
        var model = _model.Model;
        int v = _model.Config.VocabSize;
        int[] prompt = _model.Tokenizer.Encode(VerseList);
        int[] batch = [.. prompt.Skip(20).Take(8)];
        var batched = model.CreateState();
        var oneByOne = model.CreateState();
        var logits = new float[v];
        model.Forward(prompt.AsSpan(0, 20), batched, logits);
        model.Forward(prompt.AsSpan(0, 20), oneByOne, logits);
        var after = Enumerable.Range(0, batch.Length).Select(_ => model.CreateState()).ToArray();
        var rows = new float[batch.Length * v];

        model.ForwardPositions(batch, batched, after, rows);

        for (int b = 0; b < batch.Length; b++)
        {
            model.Forward([batch[b]], oneByOne, logits);
            Assert.Equal(logits, rows.AsSpan(b * v, v).ToArray());
            Assert.Equal(oneByOne.Position, after[b].Position);
            for (int l = 0; l < oneByOne.Layers; l++)
                Assert.Equal(oneByOne.Hidden[l], after[b].Hidden[l]);
        }
        Assert.Equal(oneByOne.Position, batched.Position);
        for (int l = 0; l < oneByOne.Layers; l++)
            Assert.Equal(oneByOne.Hidden[l], batched.Hidden[l]);
    }

    public static TheoryData<string, int> Prompts => new()
    {
        { VerseList, 1 },
        { VerseList, 3 },
        { VerseList, 7 },
        { VerseList, 20 },
        { Prose, 7 },
        { "In the beginning", 7 },
    };

    [Theory]
    [MemberData(nameof(Prompts))]
    public async Task GreedyTokensAndStateAreThoseOfPlainDecoding(string prompt, int k)
    {
        var result = await AssertSameAsPlain(Greedy(prompt, 96), Always(k));
        Assert.True(result.PromptLookup.DraftedTokens > 0);
        Assert.InRange(result.PromptLookup.AcceptedTokens, 0, result.PromptLookup.DraftedTokens);
        Assert.InRange(result.PromptLookup.DraftedTokens, 1, result.PromptLookup.Batches * Math.Min(k, _model.Model.MaxBatch - 1));
    }

    [Fact]
    public async Task ARepetitiveTextAcceptsDraftsAndSavesPasses()
    {
        var result = await AssertSameAsPlain(Greedy(VerseList, 96), Always());
        Assert.True(result.PromptLookup.AcceptedTokens >= 30, $"{result.PromptLookup}");
    }

    [Fact]
    public async Task DraftsThatAreAllRejectedChangeNothing()
    {
        var result = await AssertSameAsPlain(Greedy(EndsAtEos, 64), Always());
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        Assert.True(result.PromptLookup.DraftedTokens > 0);
        Assert.Equal(0, result.PromptLookup.AcceptedTokens);
    }

    [Fact]
    public async Task AdaptiveDraftingGivesTheSameTokens()
    {
        await AssertSameAsPlain(Greedy(VerseList, 96), new PromptLookupOptions());
        await AssertSameAsPlain(Greedy(Prose, 96), new PromptLookupOptions());
    }

    [Fact]
    public async Task SampledTokensWithASeedAreThoseOfPlainDecoding()
    {
        foreach (ulong seed in new ulong[] { 1, 7, 42 })
        {
            var request = new GenerationRequest { Prompt = VerseList, MaxTokens = 64, Sampling = new SamplingOptions { Seed = seed, RepeatPenalty = 1.1f } };
            await AssertSameAsPlain(request, Always());
        }
    }

    [Fact]
    public async Task MaxTokensEndsAtTheSameTokenWhereverItFallsInABatch()
    {
        for (int max = 0; max <= 18; max++)
        {
            var result = await AssertSameAsPlain(Greedy(VerseList, max), Always());
            Assert.Equal(max, result.Tokens.Length);
            Assert.Equal(FinishReason.Length, result.FinishReason);
        }
    }

    [Fact]
    public async Task AStopStringEndsAtTheSameToken()
    {
        // The reply repeats "The earth was dark, and the earth was not in the earth: …" line after line; the last stop
        // string ends in the third line, where drafts are being accepted.
        foreach (string stop in new[] { "light.", "dark", "in the earth:", "the earth.\nThe earth was dark, and the earth was not in the earth: the earth was not in the earth.\nThe" })
        {
            var result = await AssertSameAsPlain(Greedy(VerseList, 96) with { Stop = [stop] }, Always());
            Assert.Equal(FinishReason.Stop, result.FinishReason);
            Assert.Equal(stop, result.StopSequence);
        }
    }

    [Fact]
    public async Task MinTokensMasksEndOfTextAsPlainDecodingDoes()
    {
        var result = await AssertSameAsPlain(Greedy(EndsAtEos, 40) with { MinTokens = 30 }, Always());
        Assert.True(result.Tokens.Length >= 30);
    }

    [Fact]
    public async Task CancellingStopsAtTheSameTokenWithTheSameState()
    {
        foreach (int after in new[] { 1, 5, 13 })
        {
            var plain = await Cancelled(Greedy(VerseList, 96), after);
            var fast = await Cancelled(Greedy(VerseList, 96) with { PromptLookup = Always() }, after);
            Assert.Equal(FinishReason.Cancelled, fast.Result.FinishReason);
            Assert.Equal(plain.Result.Tokens, fast.Result.Tokens);
            Assert.Equal(plain.Session.Tokens, fast.Session.Tokens);
            AssertSameState(plain.Session, fast.Session);
        }
    }

    /// <summary>Generates until <paramref name="pieces"/> pieces came, then cancels.</summary>
    async Task<(GenerationResult Result, Session Session)> Cancelled(GenerationRequest request, int pieces)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var session = new Session(_model);
        int seen = 0;
        await foreach (var piece in new Generator(_model).GenerateAsync(session, request, cancel.Token))
        {
            if (piece.Result is { } result)
                return (result, session);
            if (++seen == pieces)
                await cancel.CancelAsync();
        }
        throw new InvalidOperationException("The generation ended without a result.");
    }

    [Fact]
    public async Task ASessionContinuedAfterLookupGivesWhatPlainDecodingGives()
    {
        var generator = new Generator(_model);
        var plain = new Session(_model);
        var fast = new Session(_model);
        var first = Greedy(VerseList, 40) with { Stop = ["light"] };
        await generator.CompleteAsync(plain, first, Cancel);
        await generator.CompleteAsync(fast, first with { PromptLookup = Always() }, Cancel);
        var next = Greedy(" 1:4 And God saw", 40) with { AppendToSession = true };
        var a = await generator.CompleteAsync(plain, next, Cancel);
        var b = await generator.CompleteAsync(fast, next with { PromptLookup = Always() }, Cancel);
        Assert.Equal(a.Tokens, b.Tokens);
        AssertSameState(plain, fast);
    }

    [Theory]
    [InlineData(new[] { 1, 2, 3, 1, 2 }, 4, new[] { 3, 1, 2, 3 })]  // the continuation of the earlier "1 2"
    [InlineData(new[] { 5, 6, 5, 6 }, 5, new[] { 5, 6, 5, 6, 5 })]  // a period-2 sequence goes on with period 2
    [InlineData(new[] { 9, 1, 4, 8, 1, 4, 7, 1, 4 }, 2, new[] { 7, 1 })] // the latest occurrence wins
    [InlineData(new[] { 1, 2, 3, 4 }, 3, new int[0])]              // nothing occurs earlier
    public void DraftsCopyWhatFollowedTheLatestEarlierOccurrenceOfTheSuffix(int[] history, int k, int[] expected)
    {
        var draft = new int[k];
        int count = PromptLookupDecoder.Draft(history, draft, longest: 3, shortest: 1);
        Assert.Equal(expected, draft[..count]);
    }

    [Fact]
    public void ASuffixShorterThanTheShortestDraftsNothing()
    {
        var draft = new int[4];
        Assert.Equal(0, PromptLookupDecoder.Draft([1, 2, 7, 2], draft, longest: 3, shortest: 2));
        Assert.Equal(2, PromptLookupDecoder.Draft([1, 2, 7, 2], draft.AsSpan(0, 2), longest: 3, shortest: 1));
        Assert.Equal([7, 2], draft[..2]);
    }

    [Fact]
    public void InvalidOptionsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new PromptLookupOptions { DraftTokens = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new PromptLookupOptions { MinNgramSize = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new PromptLookupOptions { NgramSize = 2, MinNgramSize = 3 }.Validate());
    }
}
