using System.Net;
using System.Text;
using System.Text.Json;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Server.Tests;

[Collection(nameof(ServerCollection))]
public sealed class ServerTests(ModelFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] Prompts = ["In the beginning", "And the LORD said unto Moses", "The children of Israel", "Blessed are the"];

    /// <summary>The text the library's own generator gives for a prompt, greedy, alone on the model.</summary>
    async Task<string> Solo(string prompt, int tokens)
    {
        var generator = new Generator(fixture.Model);
        var text = new StringBuilder();
        await foreach (var piece in generator.GenerateAsync(new GenerationRequest { Prompt = prompt, MaxTokens = tokens, Sampling = SamplingOptions.Greedy }, Ct))
            text.Append(piece.Text);
        return text.ToString();
    }

    static string Completion(string prompt, int maxTokens, bool stream = false, string extra = "") =>
        $$"""{"model":"kjv","prompt":{{JsonSerializer.Serialize(prompt)}},"max_tokens":{{maxTokens}},"temperature":0,"stream":{{(stream ? "true" : "false")}}{{extra}}}""";

    [Fact]
    public async Task ConcurrentRequestsGiveTheGreedyTextOfSoloRuns()
    {
        await fixture.Gate.WaitAsync(Ct);
        try
        {
            var solo = new List<string>();
            foreach (var p in Prompts)
                solo.Add(await Solo(p, 24));
            await using var server = await TestServer.Start(fixture);
            // Staggered, so later requests join a batch that is already decoding (continuous batching).
            var tasks = Prompts.Select(async (p, i) =>
            {
                await Task.Delay(i * 15, Ct);
                return await server.Post("/v1/completions", Completion(p, 24));
            }).ToArray();
            var results = await Task.WhenAll(tasks);
            for (int i = 0; i < Prompts.Length; i++)
            {
                var (status, body) = results[i];
                Assert.Equal(200, status);
                Assert.Equal("text_completion", body.GetProperty("object").GetString());
                var choice = body.GetProperty("choices")[0];
                Assert.Equal(solo[i], choice.GetProperty("text").GetString());
                Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
                var usage = body.GetProperty("usage");
                Assert.Equal(24, usage.GetProperty("completion_tokens").GetInt32());
                Assert.Equal(fixture.Model.Tokenizer.Encode(Prompts[i]).Length, usage.GetProperty("prompt_tokens").GetInt32());
                Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 24, usage.GetProperty("total_tokens").GetInt32());
            }
            Assert.Contains("edge_generated_tokens_total 96", await server.Client.GetStringAsync("/metrics", Ct));
        }
        finally
        {
            fixture.Gate.Release();
        }
    }

    [Fact]
    public async Task StreamingSendsSseChunksEndingInDoneWithTheSameText()
    {
        await using var server = await TestServer.StartAlone(fixture);
        var (_, whole) = await server.Post("/v1/completions", Completion(Prompts[0], 20));
        var events = await server.Stream("/v1/completions", Completion(Prompts[0], 20, stream: true, extra: ""","stream_options":{"include_usage":true}"""));
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(), text);
        Assert.True(chunks.Count >= 3);
        var finish = chunks.Last(c => c.GetProperty("choices").GetArrayLength() > 0).GetProperty("choices")[0].GetProperty("finish_reason");
        Assert.Equal("length", finish.GetString());
        Assert.Equal(20, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.All(chunks, c => Assert.Equal(chunks[0].GetProperty("id").GetString(), c.GetProperty("id").GetString()));

        var chat = await server.Stream("/v1/chat/completions", """{"messages":[{"role":"user","content":"Who made the heaven?"}],"max_tokens":12,"temperature":0,"stream":true}""");
        Assert.Equal("[DONE]", chat[^1]);
        var first = JsonDocument.Parse(chat[0]).RootElement;
        Assert.Equal("chat.completion.chunk", first.GetProperty("object").GetString());
        Assert.Equal("assistant", first.GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var last = JsonDocument.Parse(chat[^2]).RootElement.GetProperty("choices")[0];
        Assert.True(last.GetProperty("finish_reason").GetString() is "stop" or "length");
    }

    [Fact]
    public async Task ADisconnectedClientsGenerationIsCancelledAndItsSlotFreed()
    {
        await using var server = await TestServer.StartAlone(fixture, o => o with { Parallel = 1, Queue = 0 });
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(Completion(Prompts[1], 4000, stream: true, extra: ""","ignore_eos":true"""), Encoding.UTF8, "application/json") };
            using var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
            var buffer = new byte[64];
            Assert.True(await stream.ReadAsync(buffer, cts.Token) > 0);
            Assert.Equal(1, server.Server.Scheduler.Active);
            cts.Cancel();
        }
        for (int i = 0; i < 200 && server.Server.Scheduler.Active > 0; i++)
            await Task.Delay(25, Ct);
        Assert.Equal(0, server.Server.Scheduler.Active);
        var metrics = await server.Client.GetStringAsync("/metrics", Ct);
        Assert.Contains("edge_requests_cancelled_total 1", metrics);
        // The slot serves the next request.
        var (status, _) = await server.Post("/v1/completions", Completion(Prompts[2], 4));
        Assert.Equal(200, status);
        // With the cancelled sequence's state: one state made for the one slot, however many requests it served.
        Assert.Contains("edge_slot_states_allocated 1\n", await server.Client.GetStringAsync("/metrics", Ct));
    }

    [Fact]
    public async Task AFullQueueAnswers429WithRetryAfter()
    {
        await using var server = await TestServer.StartAlone(fixture, o => o with { Parallel = 1, Queue = 0 });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(Completion(Prompts[1], 4000, stream: true, extra: ""","ignore_eos":true"""), Encoding.UTF8, "application/json") };
        using var busy = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var second = await server.Client.PostAsync("/v1/completions", new StringContent(Completion(Prompts[0], 4), Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
        var error = JsonDocument.Parse(await second.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("error");
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        cts.Cancel();
    }

    [Theory]
    [InlineData("{not json", 400, null)]
    [InlineData("""{"prompt":"x","temperature":"hot"}""", 400, "temperature")]
    [InlineData("""{"prompt":"x","max_tokens":1.5}""", 400, "max_tokens")]
    [InlineData("""{"prompt":"x","max_tokens":100000000}""", 400, "max_tokens")]
    [InlineData("""{"prompt":"x","top_p":0}""", 400, "top_p")]
    [InlineData("""{"prompt":"x","n":2}""", 400, "n")]
    [InlineData("""{"prompt":"x","stop":["a","b","c","d","e"]}""", 400, "stop")]
    [InlineData("""{"prompt":3}""", 400, "prompt")]
    [InlineData("""[1,2]""", 400, null)]
    [InlineData("""{"prompt":"x","model":"gpt-4"}""", 404, "model")]
    [InlineData("""{"prompt":"x","top_k":"5"}""", 400, "top_k")]
    [InlineData("""{"prompt":"x","min_p":1.5}""", 400, "min_p")]
    [InlineData("""{"prompt":"x","seed":"abc"}""", 400, "seed")]
    [InlineData("""{"prompt":"x","seed":1.5}""", 400, "seed")]
    [InlineData("""{"prompt":"x","stop":7}""", 400, "stop")]
    [InlineData("""{"prompt":"x","stream":"yes"}""", 400, "stream")]
    [InlineData("""{"prompt":"x","max_tokens":-1}""", 400, "max_tokens")]
    [InlineData("""{"prompt":"x","temperature":-0.5}""", 400, "temperature")]
    public async Task BadRequestsGetTheOpenAiErrorShape(string body, int status, string? param)
    {
        await using var server = await TestServer.Start(fixture);
        var (code, json) = await server.Post("/v1/completions", body);
        Assert.Equal(status, code);
        var error = json.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        if (param is not null)
            Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task ChatErrorsAndTooLongPrompts()
    {
        await using var server = await TestServer.Start(fixture, o => o with { ContextSize = 32 });
        var (code, json) = await server.Post("/v1/completions", Completion(string.Join(' ', Enumerable.Repeat("and the LORD spake", 40)), 4));
        Assert.Equal(413, code);
        Assert.Equal("context_length_exceeded", json.GetProperty("error").GetProperty("code").GetString());
        (code, json) = await server.Post("/v1/chat/completions", """{"messages":[{"role":"wizard","content":"hi"}]}""");
        Assert.Equal(400, code);
        Assert.Equal("messages[0].role", json.GetProperty("error").GetProperty("param").GetString());
        (code, _) = await server.Post("/v1/chat/completions", """{"messages":[]}""");
        Assert.Equal(400, code);
        (code, _) = await server.Get("/v1/nothing");
        Assert.Equal(404, code);
    }

    [Fact]
    public async Task AnApiKeyGuardsV1ButNotHealth()
    {
        await using var server = await TestServer.Start(fixture, o => o with { ApiKey = "s3cret" });
        var (code, json) = await server.Get("/v1/models");
        Assert.Equal(401, code);
        Assert.Equal("invalid_api_key", json.GetProperty("error").GetProperty("code").GetString());
        server.Client.DefaultRequestHeaders.Authorization = new("Bearer", "wrong");
        (code, _) = await server.Get("/v1/models");
        Assert.Equal(401, code);
        server.Client.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret");
        (code, json) = await server.Get("/v1/models");
        Assert.Equal(200, code);
        Assert.Equal("kjv", json.GetProperty("data")[0].GetProperty("id").GetString());
        server.Client.DefaultRequestHeaders.Authorization = null;
        (code, json) = await server.Get("/health");
        Assert.Equal(200, code);
        Assert.Equal("ok", json.GetProperty("status").GetString());
    }

    [Fact]
    public async Task AnApiKeyGuardsGenerationAndLargeBodiesAndAStoppingServerAreRefused()
    {
        await using var server = await TestServer.Start(fixture, o => o with { ApiKey = "s3cret", MaxRequestBodyBytes = 2048 });
        var (code, json) = await server.Post("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}""");
        Assert.Equal(401, code);
        Assert.Equal("authentication_error", json.GetProperty("error").GetProperty("type").GetString());
        server.Client.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret");
        (code, json) = await server.Post("/v1/completions", Completion(new string('a', 4096), 2));
        Assert.Equal(413, code);
        Assert.Equal("request_too_large", json.GetProperty("error").GetProperty("code").GetString());
        (code, _) = await server.Post("/v1/completions", Completion("In the beginning", 2));
        Assert.Equal(200, code);
        server.Server.Scheduler.Dispose();
        using var refused = await server.Client.PostAsync("/v1/completions", new StringContent(Completion("In the beginning", 2), Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        using var health = await server.Client.GetAsync("/health", Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
    }

    [Fact]
    public async Task MetricsArePrometheusText()
    {
        await using var server = await TestServer.Start(fixture);
        using var response = await server.Client.GetAsync("/metrics", Ct);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
        string text = await response.Content.ReadAsStringAsync(Ct);
        foreach (string name in new[] { "edge_requests_total", "edge_prompt_tokens_total", "edge_generated_tokens_total", "edge_queue_depth", "edge_decode_tokens_per_second", "edge_prefill_seconds_total", "edge_decode_seconds_total",
            "process_resident_memory_bytes", "dotnet_gc_heap_size_bytes", "dotnet_gc_committed_bytes", "dotnet_gc_allocated_bytes_total" })
        {
            Assert.Contains($"# TYPE {name} ", text);
            Assert.Matches($"(?m)^{name} [0-9.eE+-]+$", text);
        }
        Assert.Matches("(?m)^process_resident_memory_bytes [1-9][0-9]{6,}$", text);
        for (int generation = 0; generation <= GC.MaxGeneration; generation++)
            Assert.Matches($"(?m)^dotnet_gc_collections_total{{generation=\"{generation}\"}} [0-9]+$", text);
    }

    [Fact]
    public async Task StopStringsEndTheTextBeforeTheStop()
    {
        await using var server = await TestServer.StartAlone(fixture);
        var (_, free) = await server.Post("/v1/completions", Completion(Prompts[0], 30));
        string text = free.GetProperty("choices")[0].GetProperty("text").GetString()!;
        string stop = text.Trim().Split(' ')[1];
        var (_, stopped) = await server.Post("/v1/completions", Completion(Prompts[0], 30, extra: $",\"stop\":{JsonSerializer.Serialize(stop)}"));
        var choice = stopped.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        var events = await server.Stream("/v1/completions", Completion(Prompts[0], 30, stream: true, extra: $",\"stop\":[{JsonSerializer.Serialize(stop)}]"));
        var streamed = string.Concat(events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(choice.GetProperty("text").GetString(), streamed);
    }

    [Fact]
    public async Task AChatsSecondTurnRestoresTheCachedHistory()
    {
        await using var server = await TestServer.StartAlone(fixture);
        string system = JsonSerializer.Serialize(string.Join(' ', Enumerable.Repeat("Thou art a scribe of the king, and thou answerest in the words of the book.", 6)));
        var (code, first) = await server.Post("/v1/chat/completions", $$"""{"messages":[{"role":"system","content":{{system}}},{"role":"user","content":"Who is the king?"}],"max_tokens":8,"temperature":0}""");
        Assert.Equal(200, code);
        Assert.Equal(0, first.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        var (_, second) = await server.Post("/v1/chat/completions", $$"""{"messages":[{"role":"system","content":{{system}}},{"role":"user","content":"Where is the temple?"}],"max_tokens":8,"temperature":0}""");
        var usage = second.GetProperty("usage");
        int cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.InRange(cached, 60, usage.GetProperty("prompt_tokens").GetInt32() - 1);
        Assert.Equal("assistant", second.GetProperty("choices")[0].GetProperty("message").GetProperty("role").GetString());
    }
}
