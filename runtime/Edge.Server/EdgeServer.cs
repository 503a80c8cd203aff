using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Server.Protocol;
using Edge.Server.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Server;

/// <summary>
/// The OpenAI-compatible HTTP server of <c>edge serve</c>: /v1/completions and /v1/chat/completions (streamed as
/// server-sent events ending in <c>data: [DONE]</c>, or whole), /v1/models, /health and /metrics, in front of one
/// <see cref="BatchScheduler"/>. Built on ASP.NET Core's slim builder with source-generated JSON, so it runs in the
/// NativeAOT <c>edge</c> binary.
/// </summary>
internal sealed class EdgeServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ServeOptions _options;
    readonly RequestAdmission _admission;
    readonly TextWriter? _log;
    readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    readonly byte[]? _apiKey;

    EdgeServer(WebApplication app, EdgeModel model, ServeOptions options, BatchScheduler scheduler, TextWriter? log)
    {
        _app = app;
        _options = options;
        Scheduler = scheduler;
        _admission = new RequestAdmission(model, options);
        _log = log;
        _apiKey = options.ApiKey is { } key ? Encoding.UTF8.GetBytes(key) : null;
    }

    public BatchScheduler Scheduler { get; }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8080/ (the real port when 0 was asked for).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Binds the port and starts serving; the model stays owned by the caller.</summary>
    /// <param name="log">One line per request (method, path, status, tokens, time); null for none.</param>
    public static async Task<EdgeServer> StartAsync(EdgeModel model, ServeOptions options, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var scheduler = new BatchScheduler(model, new SchedulerOptions
        {
            Parallel = options.Parallel,
            Queue = options.Queue,
            PrefixCacheBytes = options.PrefixCacheBytes,
        });
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "edge" });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
                if (options.Host == "localhost")
                    kestrel.ListenLocalhost(options.Port);
                else if (IPAddress.TryParse(options.Host, out var ip))
                    kestrel.Listen(ip, options.Port);
                else
                    throw new ArgumentException($"--host must be an IP address or localhost (got \"{options.Host}\").");
            });
            var app = builder.Build();
            var server = new EdgeServer(app, model, options, scheduler, log);
            server.Map();
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                await app.DisposeAsync();
                throw new IOException($"Cannot listen on {options.Host}:{options.Port}: {e.Message} Pick another --port or --host.", e);
            }
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.Address = new Uri(address.Replace("[::]", "[::1]").Replace("0.0.0.0", "127.0.0.1") + "/");
            return server;
        }
        catch
        {
            scheduler.Dispose();
            throw;
        }
    }

    /// <summary>Completes when the host stops (Ctrl-C, SIGTERM, or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Ends running requests, stops listening and the scheduler.</summary>
    public async ValueTask DisposeAsync()
    {
        Scheduler.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    void Map()
    {
        _app.Use(async (context, next) =>
        {
            try
            {
                if (_apiKey is not null && context.Request.Path.StartsWithSegments("/v1") && !Authorized(context.Request))
                    throw ApiError.Unauthorized();
                await next(context);
            }
            catch (ApiError e)
            {
                await WriteError(context, e);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await WriteError(context, ApiError.BodyTooLarge(_options.MaxRequestBodyBytes));
            }
        });
        // RequestDelegate handlers: no reflection over parameters, so the routes are AOT-clean.
        _app.MapGet("/health", Health);
        _app.MapGet("/metrics", Metrics);
        _app.MapGet("/v1/models", c => Json(c, 200, Models(), ServeJson.Default.ModelList));
        _app.MapGet("/v1/models/{id}", c => c.Request.RouteValues["id"] as string is { } id && id == _options.ModelId
            ? Json(c, 200, Models().Data[0], ServeJson.Default.ModelInfo)
            : throw ApiError.ModelNotFound(c.Request.RouteValues["id"] as string ?? "", _options.ModelId));
        _app.MapPost("/v1/completions", c => Complete(c, chat: false));
        _app.MapPost("/v1/chat/completions", c => Complete(c, chat: true));
        _app.MapFallback(c => WriteError(c, ApiError.NotFound(c.Request.Path)));
    }

    bool Authorized(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
            return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim()), _apiKey);
    }

    ModelList Models() => new("list", [new ModelInfo(_options.ModelId, "model", _created, "edge")]);

    Task Health(HttpContext c)
    {
        int active = Scheduler.Active;
        var health = new HealthResponse(Scheduler.IsStopping ? "stopping" : "ok", Math.Max(0, _options.Parallel - active), active, Scheduler.Waiting);
        return Json(c, Scheduler.IsStopping ? 503 : 200, health, ServeJson.Default.HealthResponse);
    }

    async Task Metrics(HttpContext c)
    {
        c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        var cache = Scheduler.Cache;
        await c.Response.WriteAsync(Scheduler.Metrics.ToPrometheus(cache?.Bytes ?? 0, cache?.Count ?? 0, _options.Parallel));
    }

    async Task Complete(HttpContext context, bool chat)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        CompletionRequest request;
        SequenceRequest sequenceRequest;
        try
        {
            (request, sequenceRequest) = await _admission.ReadAsync(context.Request.Body, chat, context.RequestAborted);
        }
        catch (ApiError)
        {
            Scheduler.Metrics.RejectedInvalid();
            throw;
        }

        // The scheduler drops the sequence when this is cancelled: on RequestAborted, and also when a write to the
        // client fails first (a reset connection may surface as an IOException before Kestrel aborts the request).
        using var clientGone = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        switch (Scheduler.TrySubmit(sequenceRequest, clientGone.Token, out var sequence))
        {
            case SubmitStatus.QueueFull:
                throw ApiError.QueueFull(retryAfter: 1);
            case SubmitStatus.Stopping:
                throw ApiError.Stopping();
        }
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        SequenceResult result;
        if (request.Stream)
            result = await Stream(context, sequence!, request, chat, id, created, clientGone);
        else
        {
            result = await sequence!.Completion;
            if (result.Reason == SequenceEnd.Failed)
                throw ApiError.Internal($"Generation failed: {result.Error?.Message}");
            if (result.Reason != SequenceEnd.Cancelled)
            {
                var usage = UsageOf(result);
                string finish = FinishReasonOf(result);
                if (chat)
                    await Json(context, 200, new ChatCompletionResponse(id, "chat.completion", created, _options.ModelId,
                        [new ChatChoice(0, new AssistantMessage("assistant", result.Text), null, finish)], usage), ServeJson.Default.ChatCompletionResponse);
                else
                    await Json(context, 200, new CompletionResponse(id, "text_completion", created, _options.ModelId,
                        [new CompletionChoice(0, result.Text, null, finish)], usage), ServeJson.Default.CompletionResponse);
            }
        }
        _log?.WriteLine($"edge: {context.Request.Method} {context.Request.Path} {(result.Reason == SequenceEnd.Cancelled ? "cancelled" : context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture))} " +
            $"prompt {result.PromptTokens} ({result.CachedPromptTokens} cached) generated {result.Tokens.Length} in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms");
    }

    async Task<SequenceResult> Stream(HttpContext context, Sequence sequence, CompletionRequest request, bool chat, string id, long created, CancellationTokenSource clientGone)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var abort = context.RequestAborted;
        try
        {
            await response.StartAsync(abort);
            if (chat)
                await Event(response, Chunk(id, created, new ChatDelta("assistant", ""), null, null), abort);
            await foreach (string piece in sequence.Pieces.ReadAllAsync(abort))
            {
                if (chat)
                    await Event(response, Chunk(id, created, new ChatDelta(null, piece), null, null), abort);
                else
                    await Event(response, new CompletionResponse(id, "text_completion", created, _options.ModelId, [new CompletionChoice(0, piece, null, null)], null), abort);
            }
            var result = await sequence.Completion;
            if (result.Reason is SequenceEnd.Cancelled)
                return result;
            if (result.Reason is SequenceEnd.Failed)
            {
                await Event(response, new ErrorResponse(new ErrorBody($"Generation failed: {result.Error?.Message}", "server_error", null, "internal_error")), abort);
                return result;
            }
            string finish = FinishReasonOf(result);
            var usage = UsageOf(result);
            if (chat)
            {
                await Event(response, Chunk(id, created, new ChatDelta(null, null), finish, null), abort);
                if (request.IncludeUsage)
                    await Event(response, new ChatCompletionChunk(id, "chat.completion.chunk", created, _options.ModelId, [], usage), abort);
            }
            else
            {
                await Event(response, new CompletionResponse(id, "text_completion", created, _options.ModelId, [new CompletionChoice(0, "", null, finish)], request.IncludeUsage ? null : usage), abort);
                if (request.IncludeUsage)
                    await Event(response, new CompletionResponse(id, "text_completion", created, _options.ModelId, [], usage), abort);
            }
            await response.WriteAsync("data: [DONE]\n\n", abort);
            await response.Body.FlushAsync(abort);
            return result;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The client went away: the scheduler drops the sequence at its next step.
            await clientGone.CancelAsync();
            return await sequence.Completion;
        }
    }

    ChatCompletionChunk Chunk(string id, long created, ChatDelta delta, string? finish, Usage? usage) =>
        new(id, "chat.completion.chunk", created, _options.ModelId, [new ChatChunkChoice(0, delta, null, finish)], usage);

    static Task Event(HttpResponse response, ChatCompletionChunk chunk, CancellationToken cancel) => Event(response, chunk, ServeJson.Default.ChatCompletionChunk, cancel);

    static Task Event(HttpResponse response, CompletionResponse chunk, CancellationToken cancel) => Event(response, chunk, ServeJson.Default.CompletionResponse, cancel);

    static Task Event(HttpResponse response, ErrorResponse error, CancellationToken cancel) => Event(response, error, ServeJson.Default.ErrorResponse, cancel);

    static async Task Event<T>(HttpResponse response, T value, JsonTypeInfo<T> type, CancellationToken cancel)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, type);
        var frame = new byte[bytes.Length + 8];
        "data: "u8.CopyTo(frame);
        bytes.CopyTo(frame, 6);
        frame[^2] = (byte)'\n';
        frame[^1] = (byte)'\n';
        await response.Body.WriteAsync(frame, cancel);
        await response.Body.FlushAsync(cancel);
    }

    static Usage UsageOf(SequenceResult r) =>
        new(r.PromptTokens, r.Tokens.Length, r.PromptTokens + r.Tokens.Length, new PromptTokensDetails(r.CachedPromptTokens));

    static string FinishReasonOf(SequenceResult r) => r.Reason == SequenceEnd.Length ? "length" : "stop";

    static Task Json<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(context.Response.Body, value, type, context.RequestAborted);
    }

    static Task WriteError(HttpContext context, ApiError e)
    {
        if (context.Response.HasStarted)
            return Task.CompletedTask;
        if (e.RetryAfterSeconds is int seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (e.Status == 401)
            context.Response.Headers.WWWAuthenticate = "Bearer";
        return Json(context, e.Status, e.Response, ServeJson.Default.ErrorResponse);
    }
}
