using System.ClientModel;
using Edge.Server;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Edge.Extensions.AI.Tests;

/// <summary>
/// Microsoft.Extensions.AI's OpenAI client (an <see cref="IChatClient"/> over the official OpenAI library) against
/// `edge serve` on loopback: the server must give what <see cref="EdgeChatClient"/> gives in-process.
/// </summary>
[Collection(nameof(ModelCollection))]
public sealed class OpenAiChatClientTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheOpenAiChatClientGetsTheInProcessReplyStreamingAndNot()
    {
        ChatMessage[] messages = [new(ChatRole.System, "Answer from the book."), new(ChatRole.User, "Who divided the waters?")];
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        string expected;
        using (var local = new EdgeChatClient(fixture.Model))
            expected = (await local.GetResponseAsync(messages, options, Ct)).Text;

        await using var server = await EdgeServer.StartAsync(fixture.Model, new ServeOptions { Host = "127.0.0.1", Port = 0, ModelId = "kjv", ApiKey = "edge-key" }, cancellationToken: Ct);
        var openAi = new OpenAIClient(new ApiKeyCredential("edge-key"), new OpenAIClientOptions { Endpoint = new Uri(server.Address, "v1") });
        using IChatClient client = openAi.GetChatClient("kjv").AsIChatClient();

        var response = await client.GetResponseAsync(messages, options, Ct);
        Assert.Equal(expected, response.Text);
        Assert.True(response.FinishReason == ChatFinishReason.Length || response.FinishReason == ChatFinishReason.Stop);
        Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 16);

        var streamed = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(messages, options, Ct))
            streamed.Add(update);
        Assert.Equal(expected, string.Concat(streamed.Select(u => u.Text)));
        Assert.Equal(response.FinishReason, streamed.Last(u => u.FinishReason is not null).FinishReason);

        // Stop sequences and the seed travel through the OpenAI request body.
        string[] words = expected.Trim().Split(' ');
        Assert.True(words.Length >= 3, $"reply too short to pick a stop word: \"{expected}\"");
        string stop = " " + words[2];
        var stopped = await client.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 16, StopSequences = [stop] }, Ct);
        Assert.Equal(expected[..expected.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
        var seeded = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, Seed = 99, MaxOutputTokens = 12 };
        Assert.Equal((await client.GetResponseAsync(messages, seeded, Ct)).Text, (await client.GetResponseAsync(messages, seeded, Ct)).Text);

        using IChatClient wrongKey = new OpenAIClient(new ApiKeyCredential("nope"), new OpenAIClientOptions { Endpoint = new Uri(server.Address, "v1") }).GetChatClient("kjv").AsIChatClient();
        var e = await Assert.ThrowsAsync<ClientResultException>(() => wrongKey.GetResponseAsync(messages, options, Ct));
        Assert.Equal(401, e.Status);
    }
}
