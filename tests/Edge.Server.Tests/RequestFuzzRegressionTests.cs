using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Edge.Server.Tests;

/// <summary>
/// Request bodies that edge-fuzz's <c>serve-request</c> target (tests/Edge.Fuzz, docs/RELIABILITY.md) found
/// answered with something other than a one-line 4xx in the OpenAI error shape, each over real HTTP.
/// </summary>
[Collection(nameof(ServerCollection))]
public sealed class RequestFuzzRegressionTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<(int Status, JsonElement Error)> PostBytes(TestServer server, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await server.Client.PostAsync(path, content, Ct);
        string text = await response.Content.ReadAsStringAsync(Ct);
        // A 500 from an unhandled exception has an empty body: this parse fails the test too.
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.GetProperty("error").Clone());
    }

    static byte[] Utf8(string json) => Encoding.UTF8.GetBytes(json);

    /// <summary>Invalid UTF-8 in a string: the bytes 0xC3 0x28 are no character.</summary>
    static byte[] WithInvalidUtf8(string before, string after) => [.. Utf8(before), 0xC3, 0x28, .. Utf8(after)];

    public static TheoryData<string, byte[], string> BrokenStrings => new()
    {
        // System.Text.Json reads a string's escapes and UTF-8 only when asked, and then throws
        // InvalidOperationException: these were 500s with an empty body.
        { "/v1/completions", Utf8("""{"prompt":"a \ud800 b","max_tokens":1}"""), "prompt" },
        { "/v1/completions", WithInvalidUtf8("""{"prompt":"a""", """ b","max_tokens":1}"""), "prompt" },
        { "/v1/completions", Utf8("""{"model":"\udfff","prompt":"x"}"""), "model" },
        { "/v1/completions", Utf8("""{"prompt":"x","stop":["ok","\ud83d"]}"""), "stop[1]" },
        // In a property name the escape is read when TryGetProperty compares names, before any field is looked at.
        { "/v1/completions", Utf8("""{"\ud800x":1,"prompt":"x"}"""), "a property name" },
        { "/v1/chat/completions", Utf8("""{"messages":[{"role":"user","content":"hi \udc00"}]}"""), "messages[0].content" },
        { "/v1/chat/completions", WithInvalidUtf8("""{"messages":[{"role":"us""", """er","content":"hi"}]}"""), "messages[0].role" },
        { "/v1/chat/completions", Utf8("""{"messages":[{"role":"user","content":[{"type":"text","text":"\ud800"}]}]}"""), "messages[0].content[0].text" },
    };

    [Theory]
    [MemberData(nameof(BrokenStrings))]
    public async Task AStringThatIsNotUnicodeIsA400NamingWhere(string path, byte[] body, string param)
    {
        await using var server = await TestServer.Start(fixture);
        var (status, error) = await PostBytes(server, path, body);
        Assert.Equal(400, status);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains("not valid Unicode", error.GetProperty("message").GetString());
        // The server goes on serving.
        var (ok, _) = await server.Post("/v1/completions", """{"prompt":"In the beginning","max_tokens":2}""");
        Assert.Equal(200, ok);
    }

    public static TheoryData<string, string, string> Echoes => new()
    {
        // The JSON reader's message quotes up to a line of the body around the fault; the message now gives the
        // position only.
        { "/v1/completions", """{"prompt":"x","stream":fa""" + new string('z', 2000) + "\n" + new string('y', 50) + "}", "line 1, byte 26" },
        // Values the checks quote came back whole: a role, a model name and a number of any length.
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"x" + string.Concat(Enumerable.Repeat("\\nx", 400)) + "\",\"content\":\"a\"}]}", "\"x\\u000ax" },
        { "/v1/completions", "{\"model\":\"a\\nb" + new string('c', 1000) + "\",\"prompt\":\"x\"}", "\"a\\u000abccc" },
        { "/v1/completions", """{"prompt":"x","max_tokens":1""" + new string('0', 3000) + "}", "\"1000" },
        { "/v1/completions", """{"prompt":"x","seed":-1""" + new string('9', 3000) + "}", "\"-1999" },
    };

    [Theory]
    [MemberData(nameof(Echoes))]
    public async Task ARefusalQuotesAtMostAShortLineOfTheBody(string path, string body, string expected)
    {
        await using var server = await TestServer.Start(fixture);
        var (status, error) = await PostBytes(server, path, Utf8(body));
        Assert.InRange(status, 400, 404);
        string message = error.GetProperty("message").GetString()!;
        Assert.DoesNotContain('\n', message);
        Assert.DoesNotContain('\r', message);
        Assert.InRange(message.Length, 1, 300);
        Assert.Contains(expected, message);
    }
}
