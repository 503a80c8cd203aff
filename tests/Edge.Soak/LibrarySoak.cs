using System.Diagnostics;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Soak;

/// <summary>
/// Generates <c>--tokens</c> tokens through the library (Generator, Session) the way a long-running host does:
/// generations of <c>--per-generation</c> tokens each (end-of-text not sampled before that), on one session reset
/// between them, a new prompt and seed each time. RSS is sampled every <c>--sample-every</c> tokens, in the middle
/// of generations as much as between them. <c>--leak-per-token N</c> keeps N bytes per token on purpose, to show
/// that the check fails on a leak.
/// </summary>
public static class LibrarySoak
{
    public static async Task<int> RunAsync(Options options)
    {
        string model = options.Get("--model", Program.BundledModel);
        long tokens = options.GetLong("--tokens", 100_000);
        int perGeneration = (int)options.GetLong("--per-generation", 5_000);
        long sampleEvery = options.GetLong("--sample-every", 1_000);
        long warmup = options.GetLong("--warmup", Math.Min(10_000, tokens / 5));
        long tolerance = options.GetLong("--tolerance-kib", 1024) * 1024;
        // A deliberate leak, to show the check catches one (eng/ci-soak.sh runs it and expects a failure).
        int leakPerToken = options.Has("--leak-per-token") ? (int)options.GetLong("--leak-per-token", 0) : 0;
        var leaked = new List<byte[]>();

        using var edge = EdgeModel.Load(model);
        var generator = new Generator(edge);
        var session = new Session(edge);
        var memory = new MemorySamples(Environment.ProcessId, collect: !options.Has("--no-collect"));
        memory.Take(0);
        var clock = Stopwatch.StartNew();
        long generated = 0;
        Console.WriteLine($"edge-soak library: {Path.GetFileName(model)}, {tokens:N0} tokens in generations of {perGeneration:N0}, RSS every {sampleEvery:N0}");
        Console.WriteLine("tokens\tRSS MiB\tanonymous MiB\tmanaged MiB\ttokens/s");
        for (int g = 0; generated < tokens; g++)
        {
            int count = (int)Math.Min(perGeneration, tokens - generated);
            session.Reset();
            var request = new GenerationRequest
            {
                Prompt = Prompts[g % Prompts.Length],
                MaxTokens = count,
                MinTokens = count,
                Sampling = new SamplingOptions { Temperature = 0.8f, TopK = 40, TopP = 0.95f, Seed = (ulong)(g + 1) },
            };
            await foreach (var piece in generator.GenerateAsync(session, request, CancellationToken.None))
            {
                if (piece.Result is { } result)
                {
                    if (result.Usage.CompletionTokens != count)
                        throw new InvalidOperationException($"Generation {g} gave {result.Usage.CompletionTokens} tokens, not {count}.");
                    break;
                }
                if (leakPerToken > 0)
                    leaked.Add(GC.AllocateArray<byte>(leakPerToken, pinned: false));
                if (++generated % sampleEvery == 0)
                {
                    var s = memory.Take(generated);
                    Console.WriteLine($"{generated}\t{MemorySamples.Mib(s.RssBytes)}\t{MemorySamples.Mib(s.AnonymousBytes)}\t{MemorySamples.Mib(s.ManagedBytes)}\t{generated / clock.Elapsed.TotalSeconds:F0}");
                }
            }
        }
        var (flat, line) = memory.Verdict(warmup, tolerance, "tokens");
        Console.WriteLine($"edge-soak library: {generated:N0} tokens in {clock.Elapsed.TotalSeconds:F0} s{(leakPerToken > 0 ? $" with {leaked.Count * (long)leakPerToken:N0} bytes leaked on purpose" : "")}; {line}");
        return flat ? 0 : 1;
    }

    static readonly string[] Prompts =
    [
        "In the beginning", "And it came to pass", "The weather today", "Once upon a time", "He said unto them",
    ];
}
