using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace Edge.Server.Tests;

/// <summary>The official OpenAI .NET client, pointed at <c>edge serve</c> on loopback.</summary>
[Collection(nameof(ServerCollection))]
public sealed class OpenAiClientTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheOpenAiClientChatsStreamingAndNot()
    {
        await using var server = await TestServer.StartAlone(fixture, o => o with { ApiKey = "edge-key" });
        var client = new ChatClient("kjv", new ApiKeyCredential("edge-key"), new OpenAIClientOptions { Endpoint = new Uri(server.Server.Address, "v1") });
        ChatMessage[] messages = [new SystemChatMessage("Answer from the book."), new UserChatMessage("Who made the light?")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 16 };

        ChatCompletion whole = await client.CompleteChatAsync(messages, options, Ct);
        Assert.Equal(ChatMessageRole.Assistant, whole.Role);
        Assert.True(whole.FinishReason is ChatFinishReason.Length or ChatFinishReason.Stop);
        Assert.True(whole.Usage.OutputTokenCount is > 0 and <= 16);
        string text = string.Concat(whole.Content.Select(c => c.Text));

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options, Ct))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(whole.FinishReason, finish);

        var wrongKey = new ChatClient("kjv", new ApiKeyCredential("nope"), new OpenAIClientOptions { Endpoint = new Uri(server.Server.Address, "v1") });
        var e = await Assert.ThrowsAsync<ClientResultException>(() => wrongKey.CompleteChatAsync(messages, options, Ct));
        Assert.Equal(401, e.Status);
    }
}
