using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Shared;

namespace Edge.Tests.Generation;

public sealed class SessionTests : IDisposable
{
    readonly EdgeModel _model = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 1 });

    public void Dispose() => _model.Dispose();

    static GenerationRequest Greedy(string prompt, int tokens = 12) => new() { Prompt = prompt, MaxTokens = tokens, Sampling = SamplingOptions.Greedy };

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task APromptThatContinuesTheSessionPrefillsOnlyItsNewTokensAndGivesTheSameReply()
    {
        var generator = new Generator(_model);
        const string head = "And God said, Let there be light";
        var fresh = await generator.CompleteAsync(Greedy(head + ": and there was"), Cancel);

        var session = new Session(_model);
        var prefill = generator.Prefill(session, Greedy(head), Cancel);
        Assert.Equal(0, prefill.CachedPromptTokens);
        int headTokens = _model.Tokenizer.Encode(head).Length;
        Assert.Equal(headTokens, session.Tokens.Count);
        var continued = await generator.CompleteAsync(session, Greedy(head + ": and there was"), Cancel);

        Assert.Equal(fresh.Tokens, continued.Tokens);
        Assert.Equal(fresh.Text, continued.Text);
        Assert.Equal(headTokens - 1, continued.Usage.CachedPromptTokens);
        Assert.Equal(fresh.PromptTokens.Length, continued.Usage.PromptTokens);
        Assert.Equal([.. fresh.PromptTokens, .. fresh.Tokens], session.Tokens);
    }

    [Fact]
    public async Task AnAppendedTurnGivesWhatTheWholeTextGivesFromAFreshState()
    {
        var generator = new Generator(_model);
        var session = new Session(_model);
        var first = await generator.CompleteAsync(session, Greedy("In the beginning", 6), Cancel);
        var second = await generator.CompleteAsync(session, Greedy(" And the earth", 6) with { AppendToSession = true }, Cancel);
        Assert.Equal(first.PromptTokens.Length + first.Tokens.Length, second.Usage.CachedPromptTokens + 1);

        // The same tokens read from scratch: the state carried the history exactly.
        var replay = new Session(_model);
        var again = await generator.CompleteAsync(replay, Greedy(_model.Tokenizer.Decode(second.PromptTokens), 6), Cancel);
        Assert.Equal(second.PromptTokens, again.PromptTokens);
        Assert.Equal(second.Tokens, again.Tokens);
    }

    [Fact]
    public async Task AStopStringCutsTheReplyAndNoPartOfItIsStreamed()
    {
        var generator = new Generator(_model);
        var free = await generator.CompleteAsync(Greedy("And the LORD said unto Moses", 24), Cancel);
        Assert.True(free.Text.Length > 12, free.Text);
        string stop = free.Text.Substring(6, 4);
        int cut = free.Text.IndexOf(stop, StringComparison.Ordinal);

        var streamed = new System.Text.StringBuilder();
        GenerationResult? result = null;
        await foreach (var piece in generator.GenerateAsync(Greedy("And the LORD said unto Moses", 24) with { Stop = ["never appears", stop] }, Cancel))
        {
            streamed.Append(piece.Text);
            result = piece.Result ?? result;
        }
        Assert.Equal(free.Text[..cut], streamed.ToString());
        Assert.Equal(streamed.ToString(), result!.Text);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(stop, result.StopSequence);
        Assert.StartsWith(free.Text[..(cut + stop.Length)], result.DecodedText);
    }

    [Fact]
    public async Task CancellingEndsTheStreamWithAResultInsteadOfAnException()
    {
        var generator = new Generator(_model);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var pieces = new List<GeneratedPiece>();
        await foreach (var piece in generator.GenerateAsync(Greedy("In the beginning", 100), cts.Token))
        {
            pieces.Add(piece);
            cts.Cancel();
        }
        var result = pieces[^1].Result!;
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.InRange(result.Tokens.Length, 1, 2);
        Assert.Equal(result.Tokens.Length, result.Usage.CompletionTokens);
        // The model is free again.
        Assert.Equal(FinishReason.Length, (await generator.CompleteAsync(Greedy("In the beginning", 2), Cancel)).FinishReason);
    }

    [Fact]
    public async Task ASecondGenerationOnTheSameModelThrowsAndTheSessionRefusesChangesMeanwhile()
    {
        var generator = new Generator(_model);
        var other = new Generator(_model);
        var session = new Session(_model);
        await using var running = generator.GenerateAsync(session, Greedy("In the beginning", 50), Cancel).GetAsyncEnumerator(Cancel);
        Assert.True(await running.MoveNextAsync());

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await other.CompleteAsync(Greedy("x"), Cancel));
        Assert.Contains("one generation at a time", e.Message);
        Assert.Throws<InvalidOperationException>(session.Reset);
        Assert.Throws<InvalidOperationException>(() => session.Fork());
        Assert.Throws<InvalidOperationException>(() => session.Save());

        await running.DisposeAsync();
        session.Reset();
        Assert.Empty(session.Tokens);
        await other.CompleteAsync(Greedy("x", 1), Cancel);
    }

    [Fact]
    public async Task ForkedAndRestoredSessionsContinueIdentically()
    {
        var generator = new Generator(_model);
        var session = new Session(_model);
        generator.Prefill(session, Greedy("Blessed are the meek"), Cancel);
        byte[] saved = session.Save();
        var fork = session.Fork();
        var restored = new Session(_model);
        restored.Restore(saved);
        Assert.Equal(session.Tokens, restored.Tokens);

        var a = await generator.CompleteAsync(session, Greedy("Blessed are the meek: for they"), Cancel);
        var b = await generator.CompleteAsync(fork, Greedy("Blessed are the meek: for they"), Cancel);
        var c = await generator.CompleteAsync(restored, Greedy("Blessed are the meek: for they"), Cancel);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Tokens, c.Tokens);
        Assert.Equal(a.Usage.CachedPromptTokens, c.Usage.CachedPromptTokens);
        Assert.True(c.Usage.CachedPromptTokens > 0);
    }

    [Fact]
    public void SavedSessionFilesAreWrittenAtomicallyAndRefusedWhenDamaged()
    {
        var session = new Session(_model);
        new Generator(_model).Prefill(session, Greedy("Blessed are the meek"), Cancel);
        using var temp = new Helpers.TempDirectory();
        string path = temp.File("s.edgesession");
        session.SaveToFile(path);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(temp.Path).Select(Path.GetFileName));
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var target = new Session(_model);
        var e = Assert.Throws<InvalidDataException>(() => target.RestoreFromFile(path));
        Assert.Contains("checksum", e.Message);
        Assert.Empty(target.Tokens);
        Assert.Contains("not a saved Edge session", Assert.Throws<InvalidDataException>(() => target.Restore("nonsense bytes"u8)).Message);
    }
}
