using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Format.Container;
using Edge.Runtime;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Cli.Commands;

/// <summary>
/// <c>edge bench</c>: prefill and decode speed, load time and memory of a model per thread count, next to the
/// memory-bandwidth roofline for decoding measured on the same machine in the same run (like llama-bench).
/// </summary>
static class BenchCommand
{
    /// <summary>Fixed so two runs feed the same token ids.</summary>
    const int TokenSeed = 20240611;

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
        var bandwidthBuffer = new Option<int>("--bandwidth-mib") { Description = "Buffer for the read-bandwidth measurement, MiB (must exceed the last-level cache; default 1024, or 4× that cache if larger, at most a quarter of the memory)", DefaultValueFactory = _ => (int)(DefaultBandwidthBufferBytes(AvailableMemoryBytes(), CpuCaches.LastLevelBytes) >> 20) };

        var command = new Command("bench", "Measure prefill and decode speed, load time and memory, against the memory-bandwidth roofline");
        foreach (var o in new Option[] { model, prompt, generate, threads, kernel, noMmap, output, repetitions, bandwidthBuffer })
            command.Options.Add(o);

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, () =>
        {
            var settings = new BenchSettings(
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
            long memory = AvailableMemoryBytes();
            if (settings.BandwidthBufferBytes > memory / 2)
                throw new ArgumentException($"--bandwidth-mib {settings.BandwidthBufferBytes >> 20} needs more than half of this machine's {memory >> 20} MiB; give a smaller buffer (it only has to exceed the last-level cache).");
            ModelFile.CheckPath(settings.ModelPath);

            var results = Run(settings, stderr, cancel);
            if (format == "json")
                stdout.WriteLine(ToJson(results));
            else
                WriteMarkdown(stdout, settings, results);
            return Task.FromResult(0);
        }));
        return command;
    }

    sealed record BenchSettings(string ModelPath, int PromptTokens, int DecodeTokens, int[] Threads, string? Kernel, int Repetitions, long BandwidthBufferBytes, bool MemoryMap);

    sealed record BenchResult
    {
        public required int Threads { get; init; }
        public required string Kernel { get; init; }
        public required double LoadMs { get; init; }
        public required double PrefillTokensPerSecond { get; init; }
        public required double DecodeTokensPerSecond { get; init; }
        public required double DecodeFastDecileMs { get; init; }
        public required ProcessMemory Memory { get; init; }
        public required long? AnonymousRssAfterWarmUp { get; init; }
        public required long MappedBytes { get; init; }
        public required long DecodeBytesPerToken { get; init; }
        public required double ProductsOnlyTokensPerSecond { get; init; }
        public double ReadBandwidthBytesPerSecond { get; set; }

        public double DecodeMsPerToken => 1000 / DecodeTokensPerSecond;
        public double RooflineDecodeTokensPerSecond => ReadBandwidthBytesPerSecond / DecodeBytesPerToken;
        public double RooflineFraction => DecodeTokensPerSecond / RooflineDecodeTokensPerSecond;
    }

    /// <summary>
    /// 1 GiB, or four times the last-level cache where that is larger (AMD's stacked-cache parts have up to 1.1 GiB of
    /// L3); at most a quarter of the memory in whole MiB, so a Pi Zero 2 W (512 MB) or a 1 GB Pi 3 can run the command
    /// as it stands: their caches are 1 MiB or less, and 100-200 MiB is still far beyond them.
    /// </summary>
    internal static long DefaultBandwidthBufferBytes(long memoryBytes, long? lastLevelCacheBytes) =>
        Math.Min(Math.Max(ReadBandwidth.DefaultBufferBytes, 4 * (lastLevelCacheBytes ?? 0)), memoryBytes / 4 >> 20 << 20);

    /// <summary>Memory this process may use: the machine's, or its container's limit.</summary>
    static long AvailableMemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

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

    static List<BenchResult> Run(BenchSettings s, TextWriter log, CancellationToken cancel)
    {
        var results = new List<BenchResult>();
        foreach (int threads in s.Threads)
        {
            cancel.ThrowIfCancellationRequested();
            log.WriteLine($"edge: bench: {threads} thread(s): loading, warming up, {s.Repetitions} × (prefill {s.PromptTokens} + decode {s.DecodeTokens})");
            results.Add(RunOne(s, threads, cancel));
        }
        // Measured after every model run, so the large buffer never shows up in a run's peak RSS.
        foreach (var r in results)
        {
            cancel.ThrowIfCancellationRequested();
            log.WriteLine($"edge: bench: read bandwidth, {r.Threads} thread(s), {s.BandwidthBufferBytes >> 20} MiB");
            r.ReadBandwidthBytesPerSecond = ReadBandwidth.Measure(r.Threads, s.BandwidthBufferBytes);
        }
        return results;
    }

    static BenchResult RunOne(BenchSettings s, int threads, CancellationToken cancel)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcessMemory.ResetPeak();
        var clock = Stopwatch.StartNew();
        using var edge = EdgeModel.Load(s.ModelPath, new LoadOptions { Threads = threads, Kernel = s.Kernel, MemoryMap = s.MemoryMap });
        double loadMs = clock.Elapsed.TotalMilliseconds;

        var forward = edge.Model;
        int vocab = edge.Config.VocabSize;
        var random = new Random(TokenSeed);
        var promptIds = new int[s.PromptTokens];
        for (int i = 0; i < promptIds.Length; i++)
            promptIds[i] = random.Next(vocab);
        var decodeIds = new int[s.DecodeTokens];
        for (int i = 0; i < decodeIds.Length; i++)
            decodeIds[i] = random.Next(vocab);
        var logits = new float[vocab];
        var state = forward.CreateState();

        var prefill = new double[s.Repetitions];
        var decode = new double[s.Repetitions];
        // Single tokens are also timed one by one: on a shared machine the fast decile shows the undisturbed speed.
        // Written once before the snapshot below, so the benchmark's own memory does not count as growth of a run.
        var tokenSeconds = new double[s.Repetitions * decodeIds.Length];
        tokenSeconds.AsSpan().Fill(double.NaN);

        // Warm-up: JIT, first touch of every mapped page, worker threads started.
        forward.Forward(promptIds.AsSpan(0, Math.Min(promptIds.Length, forward.MaxBatch)), state, logits);
        for (int i = 0; i < Math.Min(decodeIds.Length, 4); i++)
            forward.Forward(decodeIds.AsSpan(i, 1), state, logits);
        long? anonAfterWarmUp = ProcessMemory.Read().AnonymousRssBytes;
        for (int rep = 0; rep < s.Repetitions; rep++)
        {
            state.Reset();
            long start = Stopwatch.GetTimestamp();
            forward.Forward(promptIds, state, logits);
            prefill[rep] = promptIds.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;
            cancel.ThrowIfCancellationRequested();

            start = Stopwatch.GetTimestamp();
            long previous = start;
            for (int i = 0; i < decodeIds.Length; i++)
            {
                forward.Forward(decodeIds.AsSpan(i, 1), state, logits);
                long now = Stopwatch.GetTimestamp();
                tokenSeconds[rep * decodeIds.Length + i] = Stopwatch.GetElapsedTime(previous, now).TotalSeconds;
                previous = now;
            }
            decode[rep] = decodeIds.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;
            cancel.ThrowIfCancellationRequested();
        }

        var memory = ProcessMemory.Read(); // before sorting the token times allocates
        double productsOnly = ProductsOnlyPassesPerSecond(forward, Math.Min(decodeIds.Length, 64), s.Repetitions);
        return new BenchResult
        {
            Threads = threads,
            Kernel = forward.Executor.KernelNames,
            LoadMs = loadMs,
            PrefillTokensPerSecond = Median(prefill),
            DecodeTokensPerSecond = Median(decode),
            DecodeFastDecileMs = 1000 * tokenSeconds.Order().ElementAt((tokenSeconds.Length - 1) / 10),
            Memory = memory,
            AnonymousRssAfterWarmUp = anonAfterWarmUp,
            MappedBytes = edge.File.IsMapped ? edge.File.FileLength : 0,
            DecodeBytesPerToken = DecodeBytesPerToken(forward.Weights),
            ProductsOnlyTokensPerSecond = productsOnly,
        };
    }

    /// <summary>
    /// Decode's ternary work alone: every matrix of the model once per pass, one product each on a fixed int8
    /// vector, through the model's own executor. Against decode tok/s it shows what the rest of the forward pass
    /// costs; against the roofline, how well the kernels stream. Median of the repetitions.
    /// </summary>
    static double ProductsOnlyPassesPerSecond(HgrnBitModel model, int passes, int repetitions)
    {
        var layers = model.Weights.BitLinearLayers.Select(l => l.Layer.Matrix).ToArray();
        var x = new AlignedBuffer<sbyte>(layers.Max(m => m.PaddedColumns)); // aligned as the model's activations
        var random = new Random(TokenSeed);
        for (int i = 0; i < x.Length; i++)
            x.Span[i] = (sbyte)random.Next(-128, 128);
        int[] sums = [0];
        var y = new int[layers.Max(m => m.Rows)];
        var rates = new double[repetitions];
        for (int rep = -1; rep < repetitions; rep++) // -1: untimed, lets the JIT finish tiering this loop
        {
            long start = Stopwatch.GetTimestamp();
            for (int pass = 0; pass < passes; pass++)
                foreach (var m in layers)
                    model.Executor.MatMul(m, x.Span[..m.PaddedColumns], sums, 1, y.AsSpan(0, m.Rows));
            if (rep >= 0)
                rates[rep] = passes / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return Median(rates);
    }

    /// <summary>
    /// What one decoded token must read from memory: every packed ternary matrix once, as the kernels read it (a 1.6-bit
    /// matrix repacked at load counts at its 2-bit size), plus its embedding row.
    /// </summary>
    static long DecodeBytesPerToken(HgrnBitWeights weights) =>
        weights.BitLinearLayers.Sum(l => (long)l.Layer.Matrix.Rows * l.Layer.Matrix.RowBytes) + (long)weights.Config.HiddenSize * sizeof(ushort);

    static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    static string ToJson(List<BenchResult> results) => JsonText.Write(w =>
    {
        w.WriteStartArray();
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteNumber("threads", r.Threads);
            w.WriteString("kernel", r.Kernel);
            w.WriteNumber("load_ms", Math.Round(r.LoadMs, 3));
            w.WriteNumber("prefill_tps", Math.Round(r.PrefillTokensPerSecond, 3));
            w.WriteNumber("decode_tps", Math.Round(r.DecodeTokensPerSecond, 3));
            w.WriteNumber("decode_ms_per_token", Math.Round(r.DecodeMsPerToken, 4));
            w.WriteNumber("decode_ms_per_token_p10", Math.Round(r.DecodeFastDecileMs, 4));
            WriteNullable(w, "peak_rss_bytes", r.Memory.PeakRssBytes);
            WriteNullable(w, "rss_bytes", r.Memory.RssBytes);
            WriteNullable(w, "rss_anon_bytes", r.Memory.AnonymousRssBytes);
            WriteNullable(w, "rss_anon_after_warmup_bytes", r.AnonymousRssAfterWarmUp);
            WriteNullable(w, "huge_pages_bytes", r.Memory.HugePageBytes);
            w.WriteNumber("mapped_bytes", r.MappedBytes);
            w.WriteBoolean("mmap", r.MappedBytes > 0);
            w.WriteNumber("decode_bytes_per_token", r.DecodeBytesPerToken);
            w.WriteNumber("read_bandwidth_gbps", Math.Round(r.ReadBandwidthBytesPerSecond / 1e9, 3));
            w.WriteNumber("roofline_decode_tps", Math.Round(r.RooflineDecodeTokensPerSecond, 3));
            w.WriteNumber("roofline_fraction", r.RooflineFraction);
            w.WriteNumber("products_only_tps", Math.Round(r.ProductsOnlyTokensPerSecond, 3));
            WriteNullable(w, "last_level_cache_bytes", CpuCaches.LastLevelBytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is long v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    static void WriteMarkdown(TextWriter o, BenchSettings s, List<BenchResult> results)
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
    /// depends on where those pages lie (up to 25 % slower on the build machine, docs/PERFORMANCE.md §0d).
    /// </summary>
    internal static string? SmallPagesNote(bool mapped, string? hugePageMode, long mappedBytes, long? hugePageBytes, uint hugePageSize) =>
        mapped && hugePageMode is "always" or "madvise" && hugePageBytes is long huge && mappedBytes >= 2L * hugePageSize && huge < mappedBytes / 2
            ? $"note: only {Mib(huge)} of the {Mib(mappedBytes)} mapped model lie in huge pages (the page cache holds the file in small pages, as after a copy with cp or once it was evicted and read back); --no-mmap copies it into huge pages, which decoded up to 25 % faster on the build machine"
            : null;

    static string Mib(long? bytes) =>
        bytes is long b ? string.Create(CultureInfo.InvariantCulture, $"{b / 1048576.0:F1} MiB") : "n/a";
}
