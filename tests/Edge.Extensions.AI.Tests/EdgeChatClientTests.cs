using System.Text;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Edge.Tests.Shared;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Edge.Extensions.AI.Tests;

/// <summary>The bundled model, loaded once; the tests that generate on it run one at a time (one collection).</summary>
public sealed class ModelFixture : IDisposable
{
    public ModelFixture() => Model = EdgeModel.Load(Path, new LoadOptions { Threads = 2 });

    public string Path { get; } = RepositoryFile.BundledModel();

    public EdgeModel Model { get; }

    public void Dispose() => Model.Dispose();
}

[CollectionDefinition(nameof(ModelCollection))]
public sealed class ModelCollection : ICollectionFixture<ModelFixture>;

[Collection(nameof(ModelCollection))]
public sealed class EdgeChatClientTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly ChatMessage[] Conversation = [new(ChatRole.System, "Answer from the book."), new(ChatRole.User, "Who made the light?")];

    /// <summary>What the library's generator gives for the same conversation formatted by the model's template.</summary>
    async Task<GenerationResult> Direct(IReadOnlyList<ChatTurn> turns, int tokens, SamplingOptions sampling, params string[] stops)
    {
        var template = ChatTemplate.For(fixture.Model);
        return await new Generator(fixture.Model).CompleteAsync(new GenerationRequest
        {
            Prompt = template.Format(turns, addAssistantPrefix: true),
            MaxTokens = tokens,
            Sampling = sampling,
            Stop = [.. stops.Union(template.StopSequences)],
        }, Ct);
    }

    static readonly ChatTurn[] Turns = [new(ChatTurn.System, "Answer from the book."), new(ChatTurn.User, "Who made the light?")];

    [Fact]
    public async Task AResponseIsTheGeneratorsReplyWithUsageAndFinishReason()
    {
        var expected = await Direct(Turns, 12, SamplingOptions.Greedy);
        using var client = new EdgeChatClient(fixture.Model);
        var response = await client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 }, Ct);
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(expected.PromptTokens.Length, response.Usage!.InputTokenCount);
        Assert.Equal(expected.Tokens.Length, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal(BundledModel.FileName.Replace(".edge", ""), response.ModelId);
        Assert.Equal(response.ModelId, client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(fixture.Model, client.GetService<EdgeModel>());
    }

    [Fact]
    public async Task StreamingGivesTheSameTextAndEndsWithFinishReasonAndUsage()
    {
        using var client = new EdgeChatClient(fixture.Model);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        var whole = await client.GetResponseAsync(Conversation, options, Ct);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options, Ct))
            updates.Add(update);
        Assert.True(updates.Count >= 2);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.All(updates[..^1], u => Assert.Null(u.FinishReason));
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
        var usage = Assert.Single(updates[^1].Contents.OfType<UsageContent>()).Details;
        Assert.Equal(whole.Usage!.OutputTokenCount, usage.OutputTokenCount);
        // The updates merge into the same response as the non-streaming call.
        var merged = updates.ToChatResponse();
        Assert.Equal(whole.Text, merged.Text);
        Assert.Equal(whole.Usage.InputTokenCount, merged.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task ChatOptionsMapToEdgesSampling()
    {
        var sampling = new SamplingOptions { Temperature = 0.9f, TopP = 0.9f, TopK = 30, Seed = 12345 };
        var expected = await Direct(Turns, 20, sampling);
        using var client = new EdgeChatClient(fixture.Model);
        var seeded = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, TopK = 30, Seed = 12345, MaxOutputTokens = 20 };
        Assert.Equal(expected.Text, (await client.GetResponseAsync(Conversation, seeded, Ct)).Text);

        // TopK = 1 at temperature 1 leaves only the most likely token: the greedy text.
        var greedy = await Direct(Turns, 20, SamplingOptions.Greedy);
        var topOne = await client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 1, TopK = 1, Seed = 1, MaxOutputTokens = 20 }, Ct);
        Assert.Equal(greedy.Text, topOne.Text);

        // A stop sequence cuts the reply before it, with finish reason stop.
        string[] words = greedy.Text.Trim().Split(' ');
        Assert.True(words.Length >= 3, $"reply too short to pick a stop word: \"{greedy.Text}\"");
        string stop = " " + words[2];
        var stopped = await client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 20, StopSequences = [stop] }, Ct);
        Assert.Equal(greedy.Text[..greedy.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);

        // MaxOutputTokens bounds the reply.
        var shortReply = await client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 3 }, Ct);
        Assert.Equal(3, shortReply.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, shortReply.FinishReason);
    }

    [Fact]
    public async Task TheNextTurnOfAConversationPrefillsOnlyItsNewText()
    {
        using var client = new EdgeChatClient(fixture.Model);
        var history = new List<ChatMessage>(Conversation);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 8 };
        var first = await client.GetResponseAsync(history, options, Ct);
        history.AddRange(first.Messages);
        history.Add(new ChatMessage(ChatRole.User, "And the darkness?"));
        var second = await client.GetResponseAsync(history, options, Ct);
        var usage = second.Usage!;
        // All of the first prompt but its last token, which the kept state leaves unread for the reply to start from.
        Assert.Equal(first.Usage!.InputTokenCount!.Value - 1, usage.CachedInputTokenCount);
        Assert.True(usage.InputTokenCount > first.Usage.InputTokenCount + 4);

        // The reused state gives what a fresh run of the whole conversation gives.
        using var fresh = new EdgeChatClient(fixture.Model);
        var again = await fresh.GetResponseAsync(history, options, Ct);
        Assert.Equal(0, again.Usage!.CachedInputTokenCount);
        Assert.Equal(again.Text, second.Text);
    }

    [Fact]
    public async Task UnsupportedRequestsAndCancellationThrow()
    {
        using var client = new EdgeChatClient(fixture.Model);
        var tool = AIFunctionFactory.Create(() => "x", "noop");
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Conversation, new ChatOptions { Tools = [tool] }, Ct));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.Tool, "result")], cancellationToken: Ct));
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Conversation, new ChatOptions { ResponseFormat = ChatResponseFormat.Json }, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Conversation, new ChatOptions { TopP = 0 }, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetResponseAsync(Conversation, new ChatOptions { Temperature = -1 }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new ChatOptions { ModelId = "gpt-4" }, Ct));

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 200 }, cts.Token))
                cts.Cancel();
        });
        // The client is free again afterwards.
        Assert.NotNull((await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 2 }, Ct)).Text);
    }

    [Fact]
    public async Task ConcurrentCallsWaitTheirTurn()
    {
        using var client = new EdgeChatClient(fixture.Model);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        var replies = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => client.GetResponseAsync(Conversation, options, Ct)));
        Assert.All(replies, r => Assert.Equal(replies[0].Text, r.Text));
    }

    [Fact]
    public async Task AGenericHostResolvesTheClientAndDisposesItsModel()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddEdgeChatClient(fixture.Path, o =>
        {
            o.LoadOptions = new LoadOptions { Threads = 1 };
            o.ModelId = "kjv";
            o.DefaultMaxOutputTokens = 4;
        });
        builder.Services.AddKeyedEdgeChatClient("second", fixture.Path, o => o.ModelId = "kjv-2");
        EdgeChatClient edge;
        using (var host = builder.Build())
        {
            var client = host.Services.GetRequiredService<IChatClient>();
            edge = Assert.IsType<EdgeChatClient>(client);
            Assert.Same(edge, host.Services.GetRequiredService<EdgeChatClient>());
            Assert.Equal("kjv", client.GetService<ChatClientMetadata>()!.DefaultModelId);
            var reply = await client.GetResponseAsync(Conversation, cancellationToken: Ct);
            Assert.Equal(4, reply.Usage!.OutputTokenCount);
            Assert.Equal("kjv-2", host.Services.GetRequiredKeyedService<IChatClient>("second").GetService<ChatClientMetadata>()!.DefaultModelId);
        }
        Assert.Throws<ObjectDisposedException>(() => edge.Model.Model.Executor.MatMul(default, default, default, 1, default));

        var broken = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        broken.Services.AddEdgeChatClient(fixture.Path + ".missing");
        using var brokenHost = broken.Build();
        Assert.ThrowsAny<IOException>(() => brokenHost.Services.GetRequiredService<IChatClient>());
    }
}
