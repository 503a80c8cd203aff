using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Server.Scheduling;

namespace Edge.Server.Tests;

/// <summary>The continuous-batching scheduler without HTTP: joining mid-generation, sampling per sequence, cancellation.</summary>
[Collection(nameof(ServerCollection))]
public sealed class SchedulerTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    async Task<int[]> Solo(string prompt, int tokens, SamplingOptions sampling)
    {
        var result = await new Generator(fixture.Model).CompleteAsync(new GenerationRequest { Prompt = prompt, MaxTokens = tokens, Sampling = sampling }, Ct);
        return result.Tokens;
    }

    Sequence Submit(BatchScheduler scheduler, string prompt, int tokens, SamplingOptions sampling, CancellationTokenSource? cancel = null, bool ignoreEos = false)
    {
        var request = new SequenceRequest { PromptTokens = fixture.Model.Tokenizer.Encode(prompt), MaxTokens = tokens, Sampling = sampling, IgnoreEos = ignoreEos };
        Assert.Equal(SubmitStatus.Accepted, scheduler.TrySubmit(request, cancel?.Token ?? Ct, out var sequence));
        return sequence!;
    }

    static async Task WaitFor(Func<bool> condition)
    {
        for (int i = 0; i < 2000 && !condition(); i++)
            await Task.Delay(5, Ct);
        Assert.True(condition());
    }

    [Fact]
    public async Task ARequestThatJoinsMidGenerationGetsTheTokensOfItsSoloRun()
    {
        // Seeded sampling with every filter on: each sequence must keep its own sampler and RNG in the batch.
        var sampling = new SamplingOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, MinP = 0.02f, Seed = 7 };
        var greedy = SamplingOptions.Greedy;
        int[] soloA = await Solo("In the beginning", 40, sampling);
        int[] soloB = await Solo("And the LORD said unto Moses", 24, greedy);
        int[] soloC = await Solo("Blessed are the", 16, sampling with { Seed = 8 });

        using var scheduler = new BatchScheduler(fixture.Model, new SchedulerOptions { Parallel = 4, Queue = 4 });
        var a = Submit(scheduler, "In the beginning", 40, sampling);
        await WaitFor(() => a.GeneratedTokens >= 5);
        var b = Submit(scheduler, "And the LORD said unto Moses", 24, greedy);
        await WaitFor(() => b.GeneratedTokens >= 3);
        var c = Submit(scheduler, "Blessed are the", 16, sampling with { Seed = 8 });
        var results = await Task.WhenAll(a.Completion, b.Completion, c.Completion);

        Assert.Equal(soloA, results[0].Tokens);
        Assert.Equal(soloB, results[1].Tokens);
        Assert.Equal(soloC, results[2].Tokens);
        Assert.True(results[1].Tokens.Length > 3 && results[0].Tokens.Length > 10);
        // Joined, not queued behind a: fewer batched steps than tokens decoded.
        long decoded = results.Sum(r => r.Tokens.Length - 1);
        Assert.True(scheduler.Metrics.GeneratedTokens > 0);
        Assert.InRange(DecodeSteps(scheduler), 1, decoded - 2);
    }

    static long DecodeSteps(BatchScheduler scheduler)
    {
        var line = scheduler.Metrics.ToPrometheus(0, 0, 1).Split('\n').Single(l => l.StartsWith("edge_decode_steps_total ", StringComparison.Ordinal));
        return long.Parse(line["edge_decode_steps_total ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task CancellingEndsTheSequenceWithinOneStep()
    {
        using var scheduler = new BatchScheduler(fixture.Model, new SchedulerOptions { Parallel = 2, Queue = 0 });
        using var cts = new CancellationTokenSource();
        var other = Submit(scheduler, "The children of Israel", 30, SamplingOptions.Greedy, ignoreEos: true);
        var cancelled = Submit(scheduler, "In the beginning", 100_000, SamplingOptions.Greedy, cts, ignoreEos: true);
        await WaitFor(() => cancelled.GeneratedTokens >= 4);
        cts.Cancel();
        int atCancel = cancelled.GeneratedTokens;
        var result = await cancelled.Completion.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(SequenceEnd.Cancelled, result.Reason);
        // At most the step that was running when the token fired.
        Assert.InRange(result.Tokens.Length, atCancel, atCancel + 1);
        Assert.Equal(0, scheduler.Waiting);
        // The other sequence of the batch goes on to its end.
        var rest = await other.Completion.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(SequenceEnd.Length, rest.Reason);
        Assert.Equal(30, rest.Tokens.Length);
    }

    [Fact]
    public async Task ASchedulerOwnsTheModelUntilDisposedAndStopsRefusingNoOneWaiting()
    {
        var scheduler = new BatchScheduler(fixture.Model, new SchedulerOptions { Parallel = 1, Queue = 1 });
        var busy = Submit(scheduler, "In the beginning", 100_000, SamplingOptions.Greedy, ignoreEos: true);
        var queued = Submit(scheduler, "Blessed are the", 4, SamplingOptions.Greedy);
        var request = new SequenceRequest { PromptTokens = [1, 2, 3], MaxTokens = 1 };
        Assert.Equal(SubmitStatus.QueueFull, scheduler.TrySubmit(request, Ct, out _));
        // A solo generation on the same model is refused while the scheduler runs, instead of corrupting the batch.
        await Assert.ThrowsAsync<InvalidOperationException>(() => new Generator(fixture.Model).CompleteAsync(new GenerationRequest { Prompt = "x", MaxTokens = 1 }, Ct));
        scheduler.Dispose();
        Assert.Equal(SequenceEnd.Cancelled, (await busy.Completion.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Reason);
        Assert.Equal(SequenceEnd.Cancelled, (await queued.Completion.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Reason);
        Assert.Equal(SubmitStatus.Stopping, scheduler.TrySubmit(request, Ct, out _));
        scheduler.Dispose();
        var after = await new Generator(fixture.Model).CompleteAsync(new GenerationRequest { Prompt = "x", MaxTokens = 1 }, Ct);
        Assert.Single(after.Tokens);
    }
}
