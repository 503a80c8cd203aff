using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Edge.Runtime;
using Edge.Server;

namespace Edge.Soak;

/// <summary>
/// The real <c>edge serve</c> process (the NativeAOT binary of publish-aot.sh when there is one, else the built
/// one; <c>--edge FILE</c> picks) on the bundled model, on a free loopback port, under <c>--clients</c> concurrent
/// HTTP clients for <c>--minutes</c> minutes or until the server has generated <c>--tokens</c> tokens. Each client
/// loops over a mix of requests: chat and completions, streamed and whole, some multi-turn chats (the prefix-state
/// cache), and some streams it drops after a few events (a client that disconnects mid-stream). A client answered
/// 429 or 503 waits the Retry-After the server gave. The server's RSS (/proc/PID/status, as the library soak) is
/// sampled every <c>--sample-every</c> tokens the server reports generated (<c>edge_generated_tokens_total</c> of
/// /metrics, polled every 50 ms).
/// <para>Checks: every answer is 200, 429 or 503, and every 200 is complete (a JSON body with its choice, or a stream
/// ending in <c>data: [DONE]</c>) unless the client dropped it; anonymous RSS after <c>--warmup</c> tokens never rises
/// more than <c>--tolerance-kib</c> above an earlier sample (<see cref="MemorySamples.Verdict"/>); after the clients
/// stop, /metrics shows nothing left over: queue depth and active sequences back at 0, no failed request, at most
/// one recurrent state made per slot (freed slots' states reused), the accepted count equal to the clients' 200s,
/// and the process's open sockets back to those before the load (the listener); and the server stops cleanly.</para>
/// <para>A full GC cannot be forced in another process, so by default the server runs with a 256 KiB gen-0 budget
/// (<c>DOTNET_GCgen0size</c>): a sample then shows what is retained rather than how much garbage waits for the next
/// collection, as the library soak's forced collections do. <c>--no-collect</c> runs the server as it is.</para>
/// </summary>
public static class ServeSoak
{
    sealed class Tally
    {
        public long Requests, Ok, Disconnected, Status429, Status503, Errors, ClientTokens, ChatRequests, Streams;
        public readonly List<string> ErrorLines = [];

        public void Error(string line)
        {
            Interlocked.Increment(ref Errors);
            lock (ErrorLines)
                if (ErrorLines.Count < 20)
                    ErrorLines.Add(line);
        }
    }

    public static async Task<int> RunAsync(Options options)
    {
        string model = options.Get("--model", Program.BundledModel);
        int clients = (int)options.GetLong("--clients", 64);
        long tokens = options.Has("--tokens") ? options.GetLong("--tokens", 0) : 0;
        double minutes = options.Has("--minutes") ? double.Parse(options.Get("--minutes", "10"), CultureInfo.InvariantCulture) : tokens > 0 ? 0 : 10;
        if (minutes < 0)
            throw new ArgumentException("--minutes must not be negative");
        long sampleEvery = options.GetLong("--sample-every", 1_000);
        long warmup = options.GetLong("--warmup", tokens > 0 ? Math.Min(10_000, tokens / 5) : 10_000);
        long tolerance = options.GetLong("--tolerance-kib", 1024) * 1024;
        int parallel = (int)options.GetLong("--parallel", 4);
        int queue = (int)options.GetLong("--queue", 32);
        // The prefix-state cache is bounded (LRU) and fills as conversations come; small, it is full within the
        // warm-up, so what the verdict sees after it is not the cache growing to its bound.
        int cacheMib = (int)options.GetLong("--cache-mb", 4);
        bool asIs = options.Has("--no-collect");
        await using Host server = options.Has("--in-process")
            ? await InProcessHost.StartAsync(model, parallel, queue, cacheMib, collect: !asIs)
            : await ProcessHost.StartAsync(options.Get("--edge", EdgeBinary), model, parallel, queue, cacheMib, gen0Limit: !asIs);
        return await Soak(server, clients, tokens, minutes, sampleEvery, warmup, tolerance, parallel);
    }

    static async Task<int> Soak(Host server, int clients, long tokens, double minutes, long sampleEvery, long warmup, long tolerance, int parallel)
    {
        var baseUri = server.Address;
        using var metricsClient = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
        var http = new HttpClient(handler) { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(5) };

        int pid = server.Pid;
        int socketsBefore = Sockets(pid);
        var memory = server.Memory;
        memory.Take(0);
        var tally = new Tally();
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"edge-soak serve: {server.Description} on {baseUri}, " +
            $"{clients} clients for {(tokens > 0 ? $"{tokens:N0} tokens" : $"{minutes:G} minutes")}, RSS every {sampleEvery:N0} tokens");
        Console.WriteLine("tokens\tRSS MiB\tanonymous MiB\theap MiB\tcommitted MiB\tgen-2 GCs\tthreads\trequests\t200\t429\t503\tdropped\terrors\ttokens/s");

        var loops = Enumerable.Range(0, clients).Select(i => Task.Run(() => Client(http, i, tally, stop.Token))).ToArray();
        long next = sampleEvery, generated = 0;
        while (true)
        {
            await Task.Delay(50);
            if (server.Ended is { } ended)
            {
                tally.Error(ended);
                break;
            }
            string progress = await metricsClient.GetStringAsync("/metrics");
            generated = Metric(progress, "edge_generated_tokens_total");
            if (generated >= next)
            {
                var s = memory.Take(generated);
                next = (generated / sampleEvery + 1) * sampleEvery;
                Console.WriteLine($"{generated}\t{MemorySamples.Mib(s.RssBytes)}\t{MemorySamples.Mib(s.AnonymousBytes)}\t" +
                    $"{MemorySamples.Mib(Metric(progress, "dotnet_gc_heap_size_bytes"))}\t{MemorySamples.Mib(Metric(progress, "dotnet_gc_committed_bytes"))}\t" +
                    $"{Metric(progress, "dotnet_gc_collections_total{generation=\"2\"}")}\t{Threads(pid)}\t{tally.Requests}\t{tally.Ok}\t{tally.Status429}\t{tally.Status503}\t{tally.Disconnected}\t{tally.Errors}\t{generated / clock.Elapsed.TotalSeconds:F0}");
            }
            if (tokens > 0 ? generated >= tokens : clock.Elapsed.TotalMinutes >= minutes)
                break;
        }
        var loadTime = clock.Elapsed;
        // The clients finish the request they are on, then stop.
        stop.Cancel();
        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromMinutes(2));
        http.Dispose();

        // Leftover state: the scheduler empty, no failure, states reused, connections closed.
        string metrics = "";
        var settle = Stopwatch.StartNew();
        int socketsAfter = -1;
        while (settle.Elapsed < TimeSpan.FromSeconds(30))
        {
            metrics = await metricsClient.GetStringAsync("/metrics");
            socketsAfter = Sockets(pid);
            if (Metric(metrics, "edge_queue_depth") == 0 && Metric(metrics, "edge_active_sequences") == 0 && socketsAfter <= socketsBefore + server.MetricsSockets)
                break;
            await Task.Delay(200);
        }
        var (idleRss, idleAnonymous) = MemorySamples.ResidentBytes(pid);
        long queueDepth = Metric(metrics, "edge_queue_depth"), active = Metric(metrics, "edge_active_sequences");
        long failed = Metric(metrics, "edge_requests_failed_total"), accepted = Metric(metrics, "edge_requests_total");
        long states = Metric(metrics, "edge_slot_states_allocated"), cancelled = Metric(metrics, "edge_requests_cancelled_total");
        long rejected = MetricWithLabel(metrics, "edge_requests_rejected_total", "queue_full");
        generated = Metric(metrics, "edge_generated_tokens_total");
        var problems = new List<string>();
        if (tally.Errors > 0)
            problems.Add($"{tally.Errors} answers other than 200/429/503 or incomplete: {string.Join(" | ", tally.ErrorLines)}");
        if (queueDepth != 0 || active != 0)
            problems.Add($"after the clients stopped, edge_queue_depth {queueDepth} and edge_active_sequences {active}, not 0");
        if (failed != 0)
            problems.Add($"edge_requests_failed_total {failed}");
        if (states > parallel)
            problems.Add($"edge_slot_states_allocated {states} > {parallel} slots: freed states are not reused");
        if (accepted != tally.Ok + tally.Disconnected)
            problems.Add($"edge_requests_total {accepted} but the clients got {tally.Ok + tally.Disconnected} answers of 200");
        if (rejected != tally.Status429)
            problems.Add($"edge_requests_rejected_total{{queue_full}} {rejected} but the clients got {tally.Status429} answers of 429");
        if (socketsAfter > socketsBefore + server.MetricsSockets)
            problems.Add($"{socketsAfter} open sockets 30 s after the clients closed their connections, {socketsBefore} before the load (+{server.MetricsSockets} for /metrics)");

        if (await server.StopAsync() is { } notClean)
            problems.Add(notClean);

        var (flat, line) = memory.Verdict(warmup, tolerance, "tokens");
        Console.WriteLine($"server log, requests by status: {string.Join(", ", server.Statuses.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} {p.Value:N0}"))}");
        Console.WriteLine($"/metrics after the clients stopped: accepted {accepted:N0}, rejected queue_full {rejected:N0}, cancelled {cancelled:N0}, failed {failed}, " +
            $"queue depth {queueDepth}, active {active}, slot states made {states} for {parallel} slots, prefix cache {MemorySamples.Mib(Metric(metrics, "edge_prefix_cache_bytes"))} MiB in {Metric(metrics, "edge_prefix_cache_entries")} states; " +
            $"open sockets {socketsBefore} before the load, {socketsAfter} after (+{server.MetricsSockets}: /metrics); idle RSS {MemorySamples.Mib(idleRss)} MiB, anonymous {MemorySamples.Mib(idleAnonymous)} MiB");
        foreach (var problem in problems)
            Console.WriteLine($"FAILED: {problem}");
        Console.WriteLine($"edge-soak serve: {clients} clients, {loadTime.TotalSeconds:F0} s, {generated:N0} tokens generated ({generated / loadTime.TotalSeconds:F0}/s), " +
            $"{tally.Requests:N0} requests ({tally.ChatRequests:N0} chat, {tally.Streams:N0} streamed): 200 {tally.Ok:N0} (+{tally.Disconnected:N0} dropped mid-stream by the client), 429 {tally.Status429:N0}, 503 {tally.Status503:N0}, other {tally.Errors:N0}; " +
            $"{(problems.Count == 0 ? "nothing left over" : $"{problems.Count} problems")}; {line}");
        return flat && problems.Count == 0 ? 0 : 1;
    }

    /// <summary>One client: requests back to back until told to stop, each chosen at random (seeded by the client).</summary>
    static async Task Client(HttpClient http, int index, Tally tally, CancellationToken stop)
    {
        var random = new Random(index + 1);
        var conversation = new List<(string Role, string Content)>();
        while (!stop.IsCancellationRequested)
        {
            bool chat = random.Next(2) == 0, stream = random.Next(2) == 0;
            bool drop = stream && random.Next(8) == 0;
            int maxTokens = 8 + random.Next(120);
            string path = chat ? "/v1/chat/completions" : "/v1/completions";
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                if (chat)
                {
                    if (conversation.Count == 0 || conversation.Count > 6 || random.Next(3) == 0)
                    {
                        conversation.Clear();
                        conversation.Add(("system", "You answer in the words of the King James Bible."));
                    }
                    conversation.Add(("user", Prompts[random.Next(Prompts.Length)]));
                    json.WriteStartArray("messages");
                    foreach (var (role, content) in conversation)
                    {
                        json.WriteStartObject();
                        json.WriteString("role", role);
                        json.WriteString("content", content);
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                    json.WriteNumber("top_p", 0.95);
                    json.WriteStartObject("stream_options");
                    json.WriteBoolean("include_usage", random.Next(2) == 0);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteString("prompt", Prompts[random.Next(Prompts.Length)]);
                    json.WriteNumber("top_k", 40);
                }
                json.WriteNumber("max_tokens", maxTokens);
                json.WriteNumber("temperature", 0.8);
                json.WriteNumber("seed", random.Next());
                json.WriteBoolean("stream", stream);
                json.WriteEndObject();
            }
            string body = Encoding.UTF8.GetString(buffer.WrittenSpan);
            Interlocked.Increment(ref tally.Requests);
            if (chat)
                Interlocked.Increment(ref tally.ChatRequests);
            if (stream)
                Interlocked.Increment(ref tally.Streams);
            string? reply = await Exchange(http, path, body, stream, drop ? 1 + random.Next(6) : 0, tally);
            if (chat && reply is not null)
                conversation.Add(("assistant", reply));
            else if (chat)
                conversation.Clear();
        }
    }

    /// <summary>One request; returns the reply's text when it was a complete 200, else null.</summary>
    static async Task<string?> Exchange(HttpClient http, string path, string body, bool stream, int dropAfterEvents, Tally tally)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var drop = new CancellationTokenSource();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, drop.Token);
            int status = (int)response.StatusCode;
            if (status is 429 or 503)
            {
                if (status == 429)
                    Interlocked.Increment(ref tally.Status429);
                else
                    Interlocked.Increment(ref tally.Status503);
                await response.Content.ReadAsStringAsync();
                var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                await Task.Delay(wait < TimeSpan.FromSeconds(10) ? wait : TimeSpan.FromSeconds(10));
                return null;
            }
            if (status != 200)
            {
                tally.Error($"{path} answered {status}: {Shorten(await response.Content.ReadAsStringAsync())}");
                return null;
            }
            if (!stream)
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                var choice = json.RootElement.GetProperty("choices")[0];
                Interlocked.Add(ref tally.ClientTokens, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
                Interlocked.Increment(ref tally.Ok);
                return path.Contains("chat", StringComparison.Ordinal) ? choice.GetProperty("message").GetProperty("content").GetString() : choice.GetProperty("text").GetString();
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(drop.Token));
            var text = new StringBuilder();
            int events = 0;
            bool done = false;
            while (await reader.ReadLineAsync(drop.Token) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    continue;
                if (line == "data: [DONE]")
                {
                    done = true;
                    break;
                }
                using var json = JsonDocument.Parse(line.AsMemory(6));
                if (json.RootElement.TryGetProperty("error", out var error))
                {
                    tally.Error($"{path} stream carried an error: {Shorten(error.GetRawText())}");
                    return null;
                }
                var choices = json.RootElement.GetProperty("choices");
                if (choices.GetArrayLength() > 0)
                {
                    var c = choices[0];
                    text.Append(c.TryGetProperty("delta", out var delta) ? delta.TryGetProperty("content", out var content) ? content.GetString() : "" : c.GetProperty("text").GetString());
                }
                if (dropAfterEvents > 0 && ++events >= dropAfterEvents)
                {
                    // The client goes away mid-stream: the connection is aborted.
                    Interlocked.Increment(ref tally.Disconnected);
                    drop.Cancel();
                    return null;
                }
            }
            if (!done)
            {
                tally.Error($"{path} stream ended without data: [DONE]");
                return null;
            }
            Interlocked.Increment(ref tally.Ok);
            return text.ToString();
        }
        catch (OperationCanceledException) when (drop.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or KeyNotFoundException or InvalidOperationException or TaskCanceledException)
        {
            tally.Error($"{path}: {e.GetType().Name}: {Shorten(e.Message)}");
            return null;
        }
    }

    static string Shorten(string s) => s.Length > 200 ? s[..200] + "…" : s;

    static long Metric(string text, string name) =>
        Regex.Match(text, $@"(?m)^{Regex.Escape(name)} (\S+)$") is { Success: true } m ? (long)double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
        : throw new InvalidOperationException($"/metrics has no {name}.");

    static long MetricWithLabel(string text, string name, string reason) =>
        Regex.Match(text, $@"(?m)^{Regex.Escape(name)}\{{reason=""{Regex.Escape(reason)}""\}} (\S+)$") is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
        : throw new InvalidOperationException($"/metrics has no {name}{{reason=\"{reason}\"}}.");

    /// <summary>The process's threads (Threads: of /proc/PID/status): each one's stack is anonymous memory.</summary>
    static int Threads(int pid) =>
        File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Threads:", StringComparison.Ordinal)) is { } line
            ? int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture) : -1;

    /// <summary>The process's open sockets (file descriptors linked to socket:[inode]): the listener and connections.</summary>
    static int Sockets(int pid)
    {
        int n = 0;
        foreach (var fd in Directory.GetFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true)
                    n++;
            }
            catch (IOException)
            {
                // Closed while listed.
            }
        }
        return n;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int Kill(int pid, int signal);

    /// <summary>The server under the soak: its process, address, log and memory.</summary>
    abstract class Host : IAsyncDisposable
    {
        static readonly Regex LogLine = new(@"^edge: POST \S+ (\S+) ");

        public abstract int Pid { get; }
        public abstract Uri Address { get; }
        public abstract string Description { get; }
        public abstract MemorySamples Memory { get; }

        /// <summary>Sockets /metrics polling adds in the sampled process: its connection's server end (and client end).</summary>
        public abstract int MetricsSockets { get; }

        /// <summary>Requests by the status the server logged ("200", "429", "cancelled", …).</summary>
        public Dictionary<string, long> Statuses { get; } = [];

        /// <summary>Why the server is gone, while it should be running; null while it runs.</summary>
        public virtual string? Ended => null;

        /// <summary>Stops the server as a user would; returns what was not clean, or null.</summary>
        public abstract Task<string?> StopAsync();

        public abstract ValueTask DisposeAsync();

        protected void Logged(string line)
        {
            if (LogLine.Match(line) is { Success: true } m)
                lock (Statuses)
                    Statuses[m.Groups[1].Value] = Statuses.GetValueOrDefault(m.Groups[1].Value) + 1;
        }
    }

    /// <summary>The real <c>edge serve</c> process; its RSS is sampled as it is (no GC can be forced from outside).</summary>
    sealed class ProcessHost : Host
    {
        readonly Process _process;
        readonly string _description;
        readonly Queue<string> _lastLines = new();
        Task _stderr = Task.CompletedTask, _stdout = Task.CompletedTask;
        Uri _address = null!;

        ProcessHost(Process process, string description)
        {
            _process = process;
            _description = description;
            Memory = new MemorySamples(process.Id, collect: false);
        }

        public override int Pid => _process.Id;
        public override Uri Address => _address;
        public override string Description => _description;
        public override MemorySamples Memory { get; }
        public override int MetricsSockets => 1;
        public override string? Ended => _process.HasExited ? $"edge serve exited with {_process.ExitCode} under load: {string.Join(" | ", _lastLines)}" : null;

        public static async Task<ProcessHost> StartAsync(string edge, string model, int parallel, int queue, int cacheMib, bool gen0Limit)
        {
            if (!File.Exists(edge))
                throw new FileNotFoundException($"No edge binary at {edge}; build runtime/Edge.Cli or pass --edge FILE.");
            var start = new ProcessStartInfo(edge)
            {
                ArgumentList = { "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "--parallel", $"{parallel}", "--queue", $"{queue}", "--cache-mb", $"{cacheMib}" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            if (gen0Limit)
                start.Environment["DOTNET_GCgen0size"] = "40000"; // hexadecimal: 256 KiB
            var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {edge}.");
            // edge-soak stopped by a signal runs no finally block: do not leave the server behind.
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try
                {
                    if (!process.HasExited)
                        process.Kill();
                }
                catch (InvalidOperationException)
                {
                    // Already disposed: stopped and waited for.
                }
            };
            var host = new ProcessHost(process, $"{edge} serve -m {Path.GetFileName(model)} --parallel {parallel} --queue {queue} --cache-mb {cacheMib}{(gen0Limit ? " (DOTNET_GCgen0size=256 KiB)" : "")}");
            // The server's log: the address line, then one line per request. Drained all along, so it never blocks.
            var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            var addressPattern = new Regex(@"serving \S+ on (http://\S+/)");
            host._stderr = Task.Run(async () =>
            {
                while (await process.StandardError.ReadLineAsync() is { } line)
                {
                    if (addressPattern.Match(line) is { Success: true } m)
                        address.TrySetResult(new Uri(m.Groups[1].Value));
                    host.Logged(line);
                    lock (host._lastLines)
                    {
                        host._lastLines.Enqueue(line);
                        if (host._lastLines.Count > 20)
                            host._lastLines.Dequeue();
                    }
                }
                address.TrySetException(new InvalidOperationException($"edge serve ended before it listened: {string.Join(" | ", host._lastLines)}"));
            });
            host._stdout = process.StandardOutput.ReadToEndAsync();
            try
            {
                host._address = await address.Task.WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
            return host;
        }

        /// <summary>SIGTERM; the server must exit 0 within 15 s.</summary>
        public override async Task<string?> StopAsync()
        {
            _ = Kill(_process.Id, 15);
            bool stopped = await Task.Run(() => _process.WaitForExit(TimeSpan.FromSeconds(15)));
            if (!stopped)
                return "edge serve did not stop within 15 s of SIGTERM";
            await Task.WhenAll(_stderr, _stdout).WaitAsync(TimeSpan.FromSeconds(10));
            return _process.ExitCode == 0 ? null : $"edge serve exited with {_process.ExitCode} on SIGTERM";
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }

    /// <summary>
    /// <c>--in-process</c>: the server (EdgeServer, what <c>edge serve</c> runs) in this process, sampled after a
    /// full blocking GC as the library soak does, with the managed heap figure.
    /// </summary>
    sealed class InProcessHost : Host
    {
        readonly EdgeModel _model;
        readonly EdgeServer _server;
        readonly string _description;

        InProcessHost(EdgeModel model, EdgeServer server, string description, bool collect)
        {
            _model = model;
            _server = server;
            _description = description;
            Memory = new MemorySamples(Environment.ProcessId, collect);
        }

        public override int Pid => Environment.ProcessId;
        public override Uri Address => _server.Address;
        public override string Description => _description;
        public override MemorySamples Memory { get; }
        public override int MetricsSockets => 2;

        public static async Task<InProcessHost> StartAsync(string model, int parallel, int queue, int cacheMib, bool collect)
        {
            var edge = EdgeModel.Load(model);
            var log = new LineWriter();
            try
            {
                var server = await EdgeServer.StartAsync(edge, new ServeOptions
                {
                    Host = "127.0.0.1",
                    Port = 0,
                    ModelId = Path.GetFileNameWithoutExtension(model),
                    Parallel = parallel,
                    Queue = queue,
                    PrefixCacheBytes = (long)cacheMib << 20,
                }, log);
                var host = new InProcessHost(edge, server, $"EdgeServer in this process, {Path.GetFileName(model)} --parallel {parallel} --queue {queue} --cache-mb {cacheMib}{(collect ? " (full GC before each sample)" : "")}", collect);
                log.Line = host.Logged;
                return host;
            }
            catch
            {
                edge.Dispose();
                throw;
            }
        }

        bool _stopped;

        public override async Task<string?> StopAsync()
        {
            _stopped = true;
            await _server.DisposeAsync();
            return null;
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_stopped)
                await _server.DisposeAsync();
            _model.Dispose();
        }

        /// <summary>The server's request log, one line at a time, from any thread.</summary>
        sealed class LineWriter : TextWriter
        {
            public Action<string>? Line { get; set; }

            public override Encoding Encoding => Encoding.UTF8;

            public override void WriteLine(string? value)
            {
                if (value is not null)
                    Line?.Invoke(value);
            }
        }
    }

    /// <summary>
    /// The <c>edge</c> to soak: the newer of publish-aot.sh's NativeAOT build for this machine (artifacts/linux-x64
    /// or linux-arm64) and runtime/Edge.Cli's Release build (which building edge-soak makes), looked for upwards from
    /// the working folder and the tool's.
    /// </summary>
    public static string EdgeBinary()
    {
        string arch = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        string[] candidates = [Path.Combine("artifacts", arch, "edge"), Path.Combine("runtime", "Edge.Cli", "bin", "Release", "net10.0", "edge")];
        var found = new List<string>();
        foreach (var candidate in candidates)
            foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                    if (File.Exists(Path.Combine(dir.FullName, candidate)))
                    {
                        found.Add(Path.Combine(dir.FullName, candidate));
                        break;
                    }
        return found.OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            ?? throw new FileNotFoundException("No edge binary found (artifacts/<rid>/edge or runtime/Edge.Cli/bin/Release/net10.0/edge); run ./publish-aot.sh or dotnet build runtime/Edge.Cli -c Release, or pass --edge FILE.");
    }

    static readonly string[] Prompts =
    [
        "In the beginning", "And it came to pass", "The weather today", "Once upon a time", "He said unto them",
        "Blessed are the", "And the LORD spake unto Moses, saying,", "Who made the heaven and the earth?",
    ];
}

