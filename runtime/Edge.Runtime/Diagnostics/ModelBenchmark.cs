using System.Diagnostics;
using System.Text.Json.Serialization;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Runtime.Diagnostics;

/// <summary>What <see cref="ModelBenchmark.Run"/> measures.</summary>
/// <param name="ModelPath">The model file.</param>
/// <param name="PromptTokens">Prompt tokens of the prefill test (random ids, read in batches).</param>
/// <param name="DecodeTokens">Tokens of the decode test (one forward pass each).</param>
/// <param name="Threads">The thread counts, one run each.</param>
/// <param name="Kernel">A forced kernel, or null for the default.</param>
/// <param name="Repetitions">Timed runs per test; the median is reported.</param>
/// <param name="BandwidthBufferBytes">The buffer of the read-bandwidth measurement (larger than the last-level cache).</param>
/// <param name="MemoryMap">Map the model (else read it into memory).</param>
internal sealed record BenchmarkSettings(string ModelPath, int PromptTokens, int DecodeTokens, int[] Threads, string? Kernel, int Repetitions, long BandwidthBufferBytes, bool MemoryMap);

/// <summary>One thread count's figures; serialized as <c>edge bench -o json</c> prints them.</summary>
internal sealed record BenchmarkResult
{
    [JsonPropertyName("threads")] public required int Threads { get; init; }
    [JsonPropertyName("kernel")] public required string Kernel { get; init; }
    [JsonPropertyName("load_ms")] public required double LoadMs { get; init; }
    [JsonPropertyName("prefill_tps")] public required double PrefillTokensPerSecond { get; init; }
    [JsonPropertyName("decode_tps")] public required double DecodeTokensPerSecond { get; init; }
    [JsonPropertyName("decode_ms_per_token")] public double DecodeMsPerToken => 1000 / DecodeTokensPerSecond;

    /// <summary>The fastest tenth of single tokens: on a shared machine, the undisturbed speed.</summary>
    [JsonPropertyName("decode_ms_per_token_p10")] public required double DecodeFastDecileMs { get; init; }

    [JsonIgnore] public ProcessMemory Memory { get; init; } = new(null, null, null, null);
    [JsonPropertyName("peak_rss_bytes")] public long? PeakRssBytes => Memory.PeakRssBytes;
    [JsonPropertyName("rss_bytes")] public long? RssBytes => Memory.RssBytes;
    [JsonPropertyName("rss_anon_bytes")] public long? AnonymousRssBytes => Memory.AnonymousRssBytes;
    [JsonPropertyName("rss_anon_after_warmup_bytes")] public required long? AnonymousRssAfterWarmUp { get; init; }
    [JsonPropertyName("huge_pages_bytes")] public long? HugePageBytes => Memory.HugePageBytes;
    [JsonPropertyName("mapped_bytes")] public required long MappedBytes { get; init; }
    [JsonPropertyName("mmap")] public bool IsMapped => MappedBytes > 0;

    /// <summary>Packed ternary weights as the kernels read them, plus one embedding row.</summary>
    [JsonPropertyName("decode_bytes_per_token")] public required long DecodeBytesPerToken { get; init; }

    [JsonPropertyName("read_bandwidth_gbps")] public double ReadBandwidthGigabytesPerSecond => ReadBandwidthBytesPerSecond / 1e9;
    [JsonIgnore] public double ReadBandwidthBytesPerSecond { get; init; }
    [JsonPropertyName("roofline_decode_tps")] public double RooflineDecodeTokensPerSecond => ReadBandwidthBytesPerSecond / DecodeBytesPerToken;
    [JsonPropertyName("roofline_fraction")] public double RooflineFraction => DecodeTokensPerSecond / RooflineDecodeTokensPerSecond;

    /// <summary>Every ternary matrix once per token on a fixed vector: the kernels' own decode ceiling.</summary>
    [JsonPropertyName("products_only_tps")] public required double ProductsOnlyTokensPerSecond { get; init; }

    [JsonPropertyName("last_level_cache_bytes")] public long? LastLevelCacheBytes { get; init; } = CpuCaches.LastLevelBytes;
}

/// <summary>
/// Prefill and decode speed, load time and memory of a model per thread count, next to the memory-bandwidth roofline
/// of decoding measured on the same machine in the same run (like llama-bench). <c>edge bench</c> prints it.
/// </summary>
internal static class ModelBenchmark
{
    /// <summary>Fixed so two runs feed the same token ids.</summary>
    const int TokenSeed = 20240611;

    /// <summary>
    /// 1 GiB, or four times the last-level cache where that is larger (AMD's stacked-cache parts have up to 1.1 GiB of
    /// L3); at most a quarter of the memory in whole MiB, so a Pi Zero 2 W (512 MB) or a 1 GB Pi 3 can run it with the
    /// defaults: their caches are 1 MiB or less, and 100-200 MiB is still far beyond them.
    /// </summary>
    public static long DefaultBandwidthBufferBytes(long memoryBytes, long? lastLevelCacheBytes) =>
        Math.Min(Math.Max(ReadBandwidth.DefaultBufferBytes, 4 * (lastLevelCacheBytes ?? 0)), memoryBytes / 4 >> 20 << 20);

    /// <summary>Memory this process may use: the machine's, or its container's limit.</summary>
    public static long AvailableMemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>One result per thread count, in the order given; <paramref name="log"/> hears what runs.</summary>
    public static BenchmarkResult[] Run(BenchmarkSettings settings, Action<string> log, CancellationToken cancel)
    {
        var results = new List<BenchmarkResult>();
        foreach (int threads in settings.Threads)
        {
            cancel.ThrowIfCancellationRequested();
            log($"{threads} thread(s): loading, warming up, {settings.Repetitions} × (prefill {settings.PromptTokens} + decode {settings.DecodeTokens})");
            results.Add(RunOne(settings, threads, cancel));
        }
        // Measured after every model run, so the large buffer never shows up in a run's peak RSS.
        for (int i = 0; i < results.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            log($"read bandwidth, {results[i].Threads} thread(s), {settings.BandwidthBufferBytes >> 20} MiB");
            results[i] = results[i] with { ReadBandwidthBytesPerSecond = ReadBandwidth.Measure(results[i].Threads, settings.BandwidthBufferBytes) };
        }
        return [.. results];
    }

    static BenchmarkResult RunOne(BenchmarkSettings s, int threads, CancellationToken cancel)
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
        return new BenchmarkResult
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
}
