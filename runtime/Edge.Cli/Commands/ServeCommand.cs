using System.CommandLine;
using Edge.Runtime;
using Edge.Server;

namespace Edge.Cli.Commands;

/// <summary><c>edge serve</c>: an OpenAI-compatible HTTP server; <c>edge serve bench</c> measures its throughput.</summary>
static class ServeCommand
{
    public const string ApiKeyVariable = "EDGE_API_KEY";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var common = new CommonOptions();
        var defaults = new ServeOptions { ModelId = "" };
        var host = new Option<string>("--host") { Description = "Address to listen on: an IP (0.0.0.0 for every interface) or localhost", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one)", DefaultValueFactory = _ => defaults.Port };
        var apiKey = new Option<string?>("--api-key") { Description = $"Require `Authorization: Bearer KEY` on /v1/* (default: ${ApiKeyVariable}; none: open)" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "Sequences that decode together in one batched step", DefaultValueFactory = _ => defaults.Parallel };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a free slot; more get 429 with Retry-After", DefaultValueFactory = _ => defaults.Queue };
        var context = new Option<int>("--ctx-size", "-c") { Description = "Most tokens per request, prompt and completion together; a longer prompt gets 413", DefaultValueFactory = _ => defaults.ContextSize };
        var predict = new Option<int>("--n-predict", "-n") { Description = "Tokens generated when a request gives no max_tokens", DefaultValueFactory = _ => defaults.DefaultMaxTokens };
        var cache = new Option<int>("--cache-mb") { Description = "MiB of per-conversation prefix states kept (LRU), so a chat's next turn prefills only new tokens; 0 turns it off", DefaultValueFactory = _ => (int)(defaults.PrefixCacheBytes >> 20) };
        var alias = new Option<string?>("--alias", "-a") { Description = "Model id shown by /v1/models and expected in requests (default: the file name without .edge)" };

        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, SSE streaming)");
        common.AddTo(command);
        foreach (var o in new Option[] { host, port, apiKey, parallel, queue, context, predict, cache, alias })
            command.Options.Add(o);
        command.Subcommands.Add(ServeBenchCommand.Create(stdout, stderr));

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, async () =>
        {
            string path = parse.GetValue(common.Model) ?? BundledModel.Locate();
            var options = new ServeOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key ? key : null),
                Parallel = parse.GetValue(parallel),
                Queue = parse.GetValue(queue),
                ContextSize = parse.GetValue(context),
                DefaultMaxTokens = parse.GetValue(predict),
                PrefixCacheBytes = (long)parse.GetValue(cache) << 20,
                ModelId = parse.GetValue(alias) ?? Path.GetFileNameWithoutExtension(path),
            };
            options.Validate();
            using var model = common.Load(parse);
            if (options.Parallel > model.Model.MaxBatch)
                throw new ArgumentException($"--parallel must be ≤ {model.Model.MaxBatch}, the model's batch (got {options.Parallel}).");
            await using var server = await EdgeServer.StartAsync(model, options, stderr, cancel);
            stderr.WriteLine($"edge: serving {options.ModelId} on {server.Address} ({options.Parallel} slots, queue {options.Queue}, " +
                $"kernel {model.Model.Executor.KernelNames}, {model.Model.Executor.Threads} threads{(options.ApiKey is null ? "" : ", API key required")}); Ctrl-C stops");
            try
            {
                await server.WaitForShutdownAsync(cancel);
            }
            catch (OperationCanceledException)
            {
            }
            stderr.WriteLine("edge: stopped");
            return 0;
        }));
        return command;
    }
}
