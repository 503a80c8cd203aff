using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Edge.Format.Container;
using Edge.Format.Text;
using Edge.Runtime;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Generation;

namespace Edge.Cli.Commands;

/// <summary>
/// <c>edge bench</c>: prefill and decode speed, load time and memory of a model per thread count, next to the
/// memory-bandwidth roofline for decoding measured on the same machine in the same run (like llama-bench).
/// </summary>
static class BenchCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new CommonOptions().Model;
        var prompt = new Option<int>("--n-prompt", "-p") { Description = "Prompt tokens for the prefill test (random ids, run in batches)", DefaultValueFactory = _ => 512 };
        var generate = new Option<int>("--n-gen", "-n") { Description = "Tokens for the decode test (one Forward call each)", DefaultValueFactory = _ => 128 };
        var threads = new Option<string>("--threads", "-t") { Description = "Comma-separated thread counts, e.g. 1,2", DefaultValueFactory = _ => DefaultThreads() };
        var kernel = new Option<string?>("--kernel") { Description = "Force a ternary kernel (see `edge inspect --cpu`); also EDGE_KERNEL" };
        var output = new Option<string>("--output", "-o") { Description = "md (a markdown table) or json (an array, one object per thread count)", DefaultValueFactory = _ => "md" };
        var repetitions = new Option<int>("--repetitions", "-r") { Description = "Timed runs per test; the median is reported", DefaultValueFactory = _ => 3 };
        var noMmap = new Option<bool>("--no-mmap") { Description = CommonOptions.NoMmapDescription };
        var lookup = LookupOption.Create($"Instead of the table: decode with and without prompt lookup (k drafted tokens, default {LookupOption.DefaultDraftTokens}) side by side on a repetitive workload and on free text, --n-gen tokens each");
        var bandwidthBuffer = new Option<int>("--bandwidth-mib") { Description = "Buffer for the read-bandwidth measurement, MiB (must exceed the last-level cache; default 1024, or 4× that cache if larger, at most a quarter of the memory)", DefaultValueFactory = _ => (int)(ModelBenchmark.DefaultBandwidthBufferBytes(ModelBenchmark.AvailableMemoryBytes(), CpuCaches.LastLevelBytes) >> 20) };

        var command = new Command("bench", "Measure prefill and decode speed, load time and memory, against the memory-bandwidth roofline");
        foreach (var o in new Option[] { model, prompt, generate, threads, kernel, noMmap, output, repetitions, bandwidthBuffer, lookup })
            command.Options.Add(o);

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, () =>
        {
            var settings = new BenchmarkSettings(
                parse.GetValue(model) ?? BundledModel.Locate(),
                Positive(parse.GetValue(prompt), "--n-prompt"),
                Positive(parse.GetValue(generate), "--n-gen"),
                ParseThreads(parse.GetValue(threads)),
                parse.GetValue(kernel),
                Positive(parse.GetValue(repetitions), "--repetitions"),
                (long)Positive(parse.GetValue(bandwidthBuffer), "--bandwidth-mib") << 20,
                MemoryMap: !parse.GetValue(noMmap));
            string format = parse.GetValue(output)!.Trim().ToLowerInvariant();
            if (format is not ("md" or "json"))
                throw new ArgumentException($"--output must be md or json (got \"{parse.GetValue(output)}\").");
            if (parse.GetValue(lookup) is int draft)
            {
                RunLookup(stdout, stderr, new LookupBenchmarkSettings(settings.ModelPath, settings.DecodeTokens, settings.Threads, settings.Kernel,
                    settings.Repetitions, new PromptLookupOptions { DraftTokens = draft }), format, cancel);
                return Task.FromResult(0);
            }
            long memory = ModelBenchmark.AvailableMemoryBytes();
            if (settings.BandwidthBufferBytes > memory / 2)
                throw new ArgumentException($"--bandwidth-mib {settings.BandwidthBufferBytes >> 20} needs more than half of this machine's {memory >> 20} MiB; give a smaller buffer (it only has to exceed the last-level cache).");
            ModelFile.CheckPath(settings.ModelPath);

            var results = ModelBenchmark.Run(settings, line => stderr.WriteLine($"edge: bench: {line}"), cancel);
            if (format == "json")
                stdout.WriteLine(JsonSerializer.Serialize(results, CliJsonContext.Output.BenchmarkResultArray));
            else
                WriteMarkdown(stdout, settings, results);
            return Task.FromResult(0);
        }));
        return command;
    }

    static void RunLookup(TextWriter stdout, TextWriter stderr, LookupBenchmarkSettings settings, string format, CancellationToken cancel)
    {
        ModelFile.CheckPath(settings.ModelPath);
        var results = LookupBenchmark.Run(settings, line => stderr.WriteLine($"edge: bench: {line}"), cancel);
        if (format == "json")
        {
            stdout.WriteLine(JsonSerializer.Serialize(results, CliJsonContext.Output.LookupBenchmarkResultArray));
            return;
        }
        stdout.WriteLine($"model: {settings.ModelPath}; {settings.Tokens} tokens per run, decode only; plain and prompt lookup back to back, median of {settings.Repetitions} pairs; every pair gave the same tokens");
        stdout.WriteLine();
        stdout.WriteLine("adaptive: drafting pauses after a batch whose tokens came dearer than plain steps (the default); always: a batch at every step that finds a match");
        foreach (var r in results.DistinctBy(r => r.Threads))
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Threads} thread(s): a batch of {r.DraftTokens + 1} tokens costs {r.BatchCostSteps:F2} single-token steps; lookup wins where it gives more tokens per pass"));
        stdout.WriteLine();
        stdout.WriteLine("| threads | workload | sampling | k | mode | tokens | plain tok/s | lookup tok/s | speed-up | accepted / drafted | acceptance | tokens per pass |");
        stdout.WriteLine("|--------:|----------|----------|--:|------|-------:|------------:|-------------:|---------:|-------------------:|-----------:|----------------:|");
        foreach (var r in results)
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Threads} | {r.Workload} | {r.Sampling} | {r.DraftTokens} | {(r.Adaptive ? "adaptive" : "always")} | {r.Tokens} | {r.PlainTokensPerSecond:F1} | {r.LookupTokensPerSecond:F1} | {r.SpeedUp:F2}× | {r.AcceptedTokens} / {r.DraftedTokens} | {r.AcceptanceRate:P0} | {r.TokensPerPass:F2} |"));
    }

    static string DefaultThreads() =>
        Environment.ProcessorCount > 1 ? $"1,{Environment.ProcessorCount}" : "1";

    static int Positive(int value, string name) =>
        value >= 1 ? value : throw new ArgumentException($"{name} must be at least 1 (got {value}).");

    static int[] ParseThreads(string? text)
    {
        var parts = (text ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
            throw new ArgumentException("--threads needs at least one thread count, e.g. -t 1,2.");
        var counts = new List<int>();
        foreach (string part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                throw new ArgumentException($"--threads takes whole numbers ≥ 1 separated by commas; \"{part}\" is not one.");
            CommonOptions.CheckThreads(n);
            if (!counts.Contains(n))
                counts.Add(n);
        }
        return [.. counts];
    }

    static void WriteMarkdown(TextWriter o, BenchmarkSettings s, BenchmarkResult[] results)
    {
        o.WriteLine($"model: {s.ModelPath} ({(s.MemoryMap ? Mib(results[0].MappedBytes) + " mapped" : "read into memory, --no-mmap")}); prompt {s.PromptTokens} tokens, decode {s.DecodeTokens} tokens, median of {s.Repetitions}");
        o.WriteLine($"roofline: {Mib(results[0].DecodeBytesPerToken)} read per decoded token (packed ternary weights + one embedding row) ÷ read bandwidth measured here (best pass of up to 64 MiB per thread through {s.BandwidthBufferBytes >> 20} MiB, same threads)");
        if (CpuCaches.LastLevelBytes is long cache)
        {
            if (s.BandwidthBufferBytes <= cache)
                o.WriteLine($"note: the {s.BandwidthBufferBytes >> 20} MiB bandwidth buffer fits in this CPU's {Mib(cache)} last-level cache, so the read bandwidth is the cache's, not memory's; leave out --bandwidth-mib for a memory roofline");
            if (results[0].DecodeBytesPerToken <= cache)
                o.WriteLine($"note: the {Mib(results[0].DecodeBytesPerToken)} a token reads fit in this CPU's {Mib(cache)} last-level cache, so decode may be served from cache and run above the memory roofline");
        }
        if (SmallPagesNote(s.MemoryMap, HugePages.SystemMode, results[0].MappedBytes, results[0].Memory.HugePageBytes, HugePages.Size) is { } pages)
            o.WriteLine(pages);
        o.WriteLine();
        o.WriteLine("products only: every ternary matrix once per token on a fixed vector, nothing else of the forward pass (the kernels' own decode ceiling)");
        o.WriteLine();
        o.WriteLine("| threads | kernel | load ms | prefill tok/s | decode tok/s | ms/token | peak RSS | RSS outside map | read GB/s | roofline tok/s | of roofline | products only tok/s |");
        o.WriteLine("|--------:|--------|--------:|--------------:|-------------:|---------:|---------:|----------------:|----------:|---------------:|------------:|--------------------:|");
        foreach (var r in results)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Threads} | {r.Kernel} | {r.LoadMs:F1} | {r.PrefillTokensPerSecond:F1} | {r.DecodeTokensPerSecond:F1} | {r.DecodeMsPerToken:F2} | {Mib(r.Memory.PeakRssBytes)} | {Mib(r.Memory.AnonymousRssBytes)} | {r.ReadBandwidthBytesPerSecond / 1e9:F1} | {r.RooflineDecodeTokensPerSecond:F1} | {r.RooflineFraction:P0} | {r.ProductsOnlyTokensPerSecond:F1} |"));
    }

    /// <summary>
    /// A hint when a mapped model lies mostly in 4 KiB pages although the kernel could give it huge ones: the page cache
    /// holds the file in small folios (a copy made with cp, or a file read back after it was evicted), and decode then
    /// depends on where those pages lie (docs/PERFORMANCE.md, "Memory").
    /// </summary>
    internal static string? SmallPagesNote(bool mapped, string? hugePageMode, long mappedBytes, long? hugePageBytes, uint hugePageSize) =>
        mapped && hugePageMode is "always" or "madvise" && hugePageBytes is long huge && mappedBytes >= 2L * hugePageSize && huge < mappedBytes / 2
            ? $"note: only {Mib(huge)} of the {Mib(mappedBytes)} mapped model lie in huge pages (the page cache holds the file in small pages, as after a copy with cp or once it was evicted and read back); --no-mmap copies it into huge pages, where decode does not depend on that (docs/PERFORMANCE.md, \"Memory\")"
            : null;

    static string Mib(long? bytes) => bytes is long b ? ByteSize.Format(b) : "n/a";
}
