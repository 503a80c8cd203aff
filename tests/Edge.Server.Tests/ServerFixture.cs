using System.Net.Http.Json;
using System.Text.Json;
using Edge.Runtime;
using Edge.Tests.Shared;

namespace Edge.Server.Tests;

/// <summary>The bundled model, loaded once for all server tests (each test starts its own server on a free port).</summary>
public sealed class ModelFixture : IDisposable
{
    public EdgeModel Model { get; } = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { Threads = 2 });

    /// <summary>The scheduler and the solo runs share the model; tests that use it run one at a time.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public void Dispose() => Model.Dispose();
}

[CollectionDefinition(nameof(ServerCollection))]
public sealed class ServerCollection : ICollectionFixture<ModelFixture>;

/// <summary>A running server on 127.0.0.1 with an HttpClient pointed at it.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    TestServer(EdgeServer server, HttpClient client)
    {
        Server = server;
        Client = client;
    }

    public EdgeServer Server { get; }
    public HttpClient Client { get; }

    /// <summary>Set by <see cref="StartAlone"/>: the gate this server holds until it is disposed.</summary>
    SemaphoreSlim? _gate;

    /// <summary>
    /// <see cref="Start"/> once no other test is using the shared model (<see cref="ModelFixture.Gate"/>); disposing
    /// the server lets the next one in.
    /// </summary>
    public static async Task<TestServer> StartAlone(ModelFixture fixture, Func<ServeOptions, ServeOptions>? configure = null)
    {
        await fixture.Gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            var server = await Start(fixture, configure);
            server._gate = fixture.Gate;
            return server;
        }
        catch
        {
            fixture.Gate.Release();
            throw;
        }
    }

    public static async Task<TestServer> Start(ModelFixture fixture, Func<ServeOptions, ServeOptions>? configure = null)
    {
        var options = new ServeOptions { Host = "127.0.0.1", Port = 0, ModelId = "kjv", Parallel = 4, Queue = 8 };
        options = configure?.Invoke(options) ?? options;
        var server = await EdgeServer.StartAsync(fixture.Model, options);
        // No draining: a response disposed mid-body closes its connection, as a client that goes away does (the
        // default drains up to 1 MiB for reuse, long enough for a fast generation to finish uncancelled).
        var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0 };
        var client = new HttpClient(handler) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        return new TestServer(server, client);
    }

    public async Task<(int Status, JsonElement Body)> Post(string path, string json)
    {
        using var response = await Client.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public async Task<(int Status, JsonElement Body)> Get(string path)
    {
        using var response = await Client.GetAsync(path);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>A streamed request's data lines, in order (the last should be [DONE]).</summary>
    public async Task<List<string>> Stream(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType!.ToString());
        string body = await response.Content.ReadAsStringAsync();
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.EndsWith("\n\n", body);
        return [.. events.Select(e => e["data: ".Length..])];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Client.Dispose();
            await Server.DisposeAsync();
        }
        finally
        {
            _gate?.Release();
        }
    }
}
