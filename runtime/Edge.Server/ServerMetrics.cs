using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Edge.Server;

/// <summary>
/// Counters of a running server, written out in the Prometheus text format (<c>GET /metrics</c>). The scheduler
/// and the request handlers update them from different threads; each update is one interlocked operation.
/// </summary>
internal sealed class ServerMetrics
{
    long _requests, _rejectedQueueFull, _rejectedInvalid, _cancelled, _failed;
    long _promptTokens, _cachedPromptTokens, _generatedTokens, _decodeSteps;
    long _prefillTicks, _decodeTicks;
    long _queueDepth, _active, _statesAllocated;

    // The last few decode steps, for the current tokens/s: (tokens, ticks) pairs in a ring.
    const int RecentSteps = 64;
    readonly long[] _recentTokens = new long[RecentSteps], _recentTicks = new long[RecentSteps];
    int _recentNext, _recentCount;
    readonly Lock _recentLock = new();

    public void Request() => Interlocked.Increment(ref _requests);
    public void RejectedQueueFull() => Interlocked.Increment(ref _rejectedQueueFull);
    public void RejectedInvalid() => Interlocked.Increment(ref _rejectedInvalid);
    public void Cancelled() => Interlocked.Increment(ref _cancelled);
    public void Failed() => Interlocked.Increment(ref _failed);

    /// <summary>A recurrent state made for a slot because no freed one was there to reuse.</summary>
    public void StateAllocated() => Interlocked.Increment(ref _statesAllocated);

    /// <summary>Recurrent states made so far: at most the slots (--parallel) while freed ones are reused.</summary>
    public long StatesAllocated => Interlocked.Read(ref _statesAllocated);

    public void Prefilled(int tokens, int cachedTokens, long ticks)
    {
        Interlocked.Add(ref _promptTokens, tokens);
        Interlocked.Add(ref _cachedPromptTokens, cachedTokens);
        Interlocked.Add(ref _prefillTicks, ticks);
    }

    /// <summary>Time spent prefilling beyond <see cref="Prefilled"/> (a prompt's later chunks).</summary>
    public void PrefillTime(long ticks) => Interlocked.Add(ref _prefillTicks, ticks);

    public void DecodeStep(int tokens, long ticks)
    {
        Interlocked.Add(ref _generatedTokens, tokens);
        Interlocked.Add(ref _decodeTicks, ticks);
        Interlocked.Increment(ref _decodeSteps);
        lock (_recentLock)
        {
            _recentTokens[_recentNext] = tokens;
            _recentTicks[_recentNext] = ticks;
            _recentNext = (_recentNext + 1) % RecentSteps;
            _recentCount = Math.Min(_recentCount + 1, RecentSteps);
        }
    }

    /// <summary>A token generated outside a decode step (the first, sampled from the prompt's logits).</summary>
    public void FirstToken() => Interlocked.Increment(ref _generatedTokens);

    public void SetQueue(int waiting, int active)
    {
        Volatile.Write(ref _queueDepth, waiting);
        Volatile.Write(ref _active, active);
    }

    public long GeneratedTokens => Interlocked.Read(ref _generatedTokens);
    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long CachedPromptTokens => Interlocked.Read(ref _cachedPromptTokens);

    /// <summary>Time spent in batched decode steps, all sequences together.</summary>
    public TimeSpan DecodeTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _decodeTicks));

    /// <summary>Aggregate decode tokens/s over the last <see cref="RecentSteps"/> steps (all sequences together).</summary>
    public double RecentDecodeTokensPerSecond
    {
        get
        {
            lock (_recentLock)
            {
                long tokens = 0, ticks = 0;
                for (int i = 0; i < _recentCount; i++)
                {
                    tokens += _recentTokens[i];
                    ticks += _recentTicks[i];
                }
                return ticks > 0 ? tokens * (double)Stopwatch.Frequency / ticks : 0;
            }
        }
    }

    public string ToPrometheus(long cacheBytes, int cacheEntries, int slots)
    {
        var s = new StringBuilder();
        Counter(s, "edge_requests_total", "Completion requests accepted.", Interlocked.Read(ref _requests));
        s.Append("# HELP edge_requests_rejected_total Completion requests refused, by reason.\n# TYPE edge_requests_rejected_total counter\n");
        s.Append(CultureInfo.InvariantCulture, $"edge_requests_rejected_total{{reason=\"queue_full\"}} {Interlocked.Read(ref _rejectedQueueFull)}\n");
        s.Append(CultureInfo.InvariantCulture, $"edge_requests_rejected_total{{reason=\"invalid\"}} {Interlocked.Read(ref _rejectedInvalid)}\n");
        Counter(s, "edge_requests_cancelled_total", "Requests whose client went away before the end.", Interlocked.Read(ref _cancelled));
        Counter(s, "edge_requests_failed_total", "Requests ended by an internal error.", Interlocked.Read(ref _failed));
        Counter(s, "edge_prompt_tokens_total", "Prompt tokens of started requests (tokens in), cached ones included.", Interlocked.Read(ref _promptTokens));
        Counter(s, "edge_prompt_tokens_cached_total", "Prompt tokens restored from the prefix-state cache instead of prefilled.", Interlocked.Read(ref _cachedPromptTokens));
        Counter(s, "edge_generated_tokens_total", "Tokens generated (tokens out).", Interlocked.Read(ref _generatedTokens));
        Counter(s, "edge_decode_steps_total", "Batched decode steps (one token of every active sequence each).", Interlocked.Read(ref _decodeSteps));
        Seconds(s, "edge_prefill_seconds_total", "Time spent prefilling prompts.", Interlocked.Read(ref _prefillTicks));
        Seconds(s, "edge_decode_seconds_total", "Time spent in batched decode steps.", Interlocked.Read(ref _decodeTicks));
        Gauge(s, "edge_decode_tokens_per_second", "Aggregate decode tokens/s over the last 64 steps.", RecentDecodeTokensPerSecond);
        Gauge(s, "edge_queue_depth", "Requests waiting for a slot.", Volatile.Read(ref _queueDepth));
        Gauge(s, "edge_active_sequences", "Sequences holding a slot (prefilling or decoding).", Volatile.Read(ref _active));
        Gauge(s, "edge_slots", "Sequences that can decode together (--parallel).", slots);
        Gauge(s, "edge_slot_states_allocated", "Recurrent states made for slots; at most edge_slots while freed slots' states are reused.", Interlocked.Read(ref _statesAllocated));
        Gauge(s, "edge_prefix_cache_bytes", "Bytes of recurrent states held by the prefix-state cache.", cacheBytes);
        Gauge(s, "edge_prefix_cache_entries", "States held by the prefix-state cache.", cacheEntries);
        AppendProcessMemory(s);
        return s.ToString();
    }

    // The names Prometheus' own client libraries use, so existing dashboards and alerts apply unchanged.
    static void AppendProcessMemory(StringBuilder s)
    {
        var gc = GC.GetGCMemoryInfo();
        Gauge(s, "process_resident_memory_bytes", "Resident memory of the process (the mapped model's resident pages included).", Environment.WorkingSet);
        Gauge(s, "dotnet_gc_heap_size_bytes", "Managed heap size at the end of the last garbage collection.", gc.HeapSizeBytes);
        Gauge(s, "dotnet_gc_committed_bytes", "Memory the garbage collector holds committed.", gc.TotalCommittedBytes);
        Counter(s, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap.", GC.GetTotalAllocatedBytes());
        s.Append("# HELP dotnet_gc_collections_total Garbage collections, by generation.\n# TYPE dotnet_gc_collections_total counter\n");
        for (int generation = 0; generation <= GC.MaxGeneration; generation++)
            s.Append(CultureInfo.InvariantCulture, $"dotnet_gc_collections_total{{generation=\"{generation}\"}} {GC.CollectionCount(generation)}\n");
    }

    static void Counter(StringBuilder s, string name, string help, long value) =>
        s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");

    static void Seconds(StringBuilder s, string name, string help, long ticks) =>
        s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {ticks / (double)Stopwatch.Frequency:R}\n");

    static void Gauge(StringBuilder s, string name, string help, double value) =>
        s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value:R}\n");
}
