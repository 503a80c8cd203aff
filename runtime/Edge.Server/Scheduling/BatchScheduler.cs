using System.Diagnostics;
using System.Text;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Model;
using Edge.Runtime.Sampling;
using Edge.Runtime.Tokenization;

namespace Edge.Server.Scheduling;

/// <summary>How many sequences run and wait, and how much the prefix-state cache may hold.</summary>
internal sealed record SchedulerOptions
{
    /// <summary>Sequences that decode together, each in its own state slot.</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Requests that may wait for a slot; one more is refused (HTTP 429).</summary>
    public int Queue { get; init; } = 64;

    /// <summary>Bytes of recurrent states the prefix-state cache keeps; 0 turns it off.</summary>
    public long PrefixCacheBytes { get; init; } = 64L << 20;
}

/// <summary>Why <see cref="BatchScheduler.TrySubmit"/> refused a request.</summary>
internal enum SubmitStatus { Accepted, QueueFull, Stopping }

/// <summary>
/// Continuous batching over one model. A single thread owns the model and loops: admit waiting requests into free
/// slots (restoring a cached prefix state when one matches), run one prefill chunk of the oldest prompt still
/// prefilling, then one decode step that feeds the last token of every decoding sequence through
/// <see cref="HgrnBitModel.ForwardSequences"/>, so every weight is read once per step whatever the number of
/// sequences. A request that arrives mid-generation joins at the next step; one that finishes, or whose
/// cancellation token fires (a client that disconnected), leaves at the next step and its slot's state is reused.
/// Each sequence samples with its own sampler, so its tokens are those it would get running alone.
/// </summary>
internal sealed class BatchScheduler : IDisposable
{
    /// <summary>A sequence holding a slot.</summary>
    sealed class Running(Sequence sequence, RecurrentState state, Sampler sampler, EdgeTokenizer tokenizer)
    {
        public Sequence Sequence { get; } = sequence;
        public RecurrentState State { get; } = state;
        public Sampler Sampler { get; } = sampler;
        public EdgeTokenizer.StreamingDecoder Decoder { get; } = new(tokenizer, sequence.Request.PromptTokens[^1]);
        public StopSequenceMatcher Stop { get; } = new(sequence.Request.Stop);
        public List<int> Generated { get; } = [];
        public StringBuilder Text { get; } = new();
        public int Prefilled { get; set; }
        public int Cached { get; set; }
        /// <summary>The last sampled token, emitted but not yet fed; -1 while prefilling.</summary>
        public int Pending { get; set; } = -1;
        public long QueuedTicks { get; set; }
        public long EnqueuedAt { get; init; }
        public long FirstTokenAt { get; set; }
        public long PrefillTicks { get; set; }
        public long DecodeTicks { get; set; }
        public int[] Prompt => Sequence.Request.PromptTokens;
    }

    readonly EdgeModel _model;
    readonly HgrnBitModel _forward;
    readonly EdgeModel.GenerationLease _lease;
    readonly ServerMetrics _metrics;
    readonly Thread _thread;
    readonly Lock _gate = new();
    readonly Queue<(Sequence Sequence, long EnqueuedAt)> _waiting = new();
    readonly List<Running> _running = [];
    int _admitting; // 1 while Admit holds a sequence taken off the queue and not yet running: it still takes a place
    readonly Stack<RecurrentState> _freeStates = new();
    readonly ManualResetEventSlim _wake = new(false);
    readonly float[] _prefillLogits;
    readonly float[] _stepLogits;     // (Parallel, V)
    readonly int[] _stepTokens;
    readonly RecurrentState[] _stepStates;
    readonly Running[] _stepRows;
    volatile bool _stopping;

    public BatchScheduler(EdgeModel model, SchedulerOptions options, ServerMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (options.Parallel < 1 || options.Parallel > model.Model.MaxBatch)
            throw new ArgumentException($"--parallel must be between 1 and {model.Model.MaxBatch} (got {options.Parallel}).");
        if (options.Queue < 0)
            throw new ArgumentException($"--queue must be ≥ 0 (got {options.Queue}).");
        // The forward pass runs on the model's own buffers: while the scheduler lives, a Generator on the same
        // model is refused instead of corrupting the batch.
        _lease = model.EnterGeneration();
        _model = model;
        _forward = model.Model;
        Options = options;
        _metrics = metrics ?? new ServerMetrics();
        Cache = options.PrefixCacheBytes > 0 ? new PrefixStateCache(options.PrefixCacheBytes) : null;
        int v = model.Config.VocabSize;
        _prefillLogits = new float[v];
        _stepLogits = new float[options.Parallel * v];
        _stepTokens = new int[options.Parallel];
        _stepStates = new RecurrentState[options.Parallel];
        _stepRows = new Running[options.Parallel];
        _thread = new Thread(Loop) { Name = "edge-scheduler", IsBackground = true };
        _thread.Start();
    }

    public SchedulerOptions Options { get; }

    public ServerMetrics Metrics => _metrics;

    /// <summary>The prefix-state cache; null when turned off.</summary>
    public PrefixStateCache? Cache { get; }

    public int Waiting { get { lock (_gate) return _waiting.Count; } }

    public int Active { get { lock (_gate) return _running.Count + _admitting; } }

    public bool IsStopping => _stopping;

    /// <summary>
    /// Queues a request. Refused when every slot is busy and <see cref="SchedulerOptions.Queue"/> requests already
    /// wait, or when the scheduler is stopping.
    /// </summary>
    public SubmitStatus TrySubmit(SequenceRequest request, CancellationToken cancellationToken, out Sequence? sequence)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens.Length == 0)
            throw new ArgumentException("The prompt has no tokens.");
        ArgumentOutOfRangeException.ThrowIfNegative(request.MaxTokens);
        request.Sampling.Validate();
        sequence = null;
        lock (_gate)
        {
            if (_stopping)
                return SubmitStatus.Stopping;
            if (_running.Count + _admitting + _waiting.Count >= Options.Parallel + Options.Queue)
            {
                _metrics.RejectedQueueFull();
                return SubmitStatus.QueueFull;
            }
            sequence = new Sequence(request, cancellationToken);
            // A cancelled request wakes an idle scheduler so it leaves at once; the sequence drops this when it ends.
            sequence.WakeOnCancel = cancellationToken.UnsafeRegister(static s => ((ManualResetEventSlim)s!).Set(), _wake);
            _waiting.Enqueue((sequence, Stopwatch.GetTimestamp()));
            _metrics.Request();
            _metrics.SetQueue(_waiting.Count, _running.Count + _admitting);
        }
        _wake.Set();
        return SubmitStatus.Accepted;
    }

    /// <summary>Stops taking requests, ends every running and waiting one as cancelled, and stops the thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping)
                return;
            _stopping = true;
        }
        _wake.Set();
        _thread.Join();
        _wake.Dispose();
        _lease.Dispose();
    }

    void Loop()
    {
        while (!_stopping)
        {
            _wake.Reset();
            try
            {
                Admit();
                RemoveCancelled();
                if (_running.Count == 0)
                {
                    _wake.Wait();
                    continue;
                }
                PrefillStep();
                DecodeStep();
            }
            catch (Exception e)
            {
                // A fault outside the forward pass (the prefix cache, a sampler) ends the running requests with
                // an error rather than the thread, which would leave every waiting client hanging.
                foreach (var r in _running.ToArray())
                    Fail(r, e);
            }
            lock (_gate)
                _metrics.SetQueue(_waiting.Count, _running.Count);
        }
        var stopped = new List<Sequence>();
        lock (_gate)
            while (_waiting.TryDequeue(out var w))
                stopped.Add(w.Sequence);
        foreach (var r in _running.ToArray())
            Finish(r, SequenceEnd.Cancelled);
        foreach (var s in stopped)
            s.Finish(Empty(s, SequenceEnd.Cancelled, 0));
    }

    void Admit()
    {
        while (true)
        {
            Sequence sequence;
            long enqueuedAt;
            lock (_gate)
            {
                if (_running.Count >= Options.Parallel || !_waiting.TryDequeue(out var next))
                    return;
                (sequence, enqueuedAt) = next;
                _admitting = 1;
            }
            try
            {
                AdmitOne(sequence, enqueuedAt);
            }
            finally
            {
                // Also on the paths that end the sequence instead of running it.
                lock (_gate)
                    _admitting = 0;
            }
        }
    }

    void AdmitOne(Sequence sequence, long enqueuedAt)
    {
        long queued = Stopwatch.GetTimestamp() - enqueuedAt;
        if (sequence.CancellationToken.IsCancellationRequested)
        {
            _metrics.Cancelled();
            sequence.Finish(Empty(sequence, SequenceEnd.Cancelled, queued));
            return;
        }
        if (!_freeStates.TryPop(out var state))
        {
            state = _forward.CreateState();
            _metrics.StateAllocated();
        }
        state.Reset();
        var request = sequence.Request;
        Running running;
        try
        {
            var sampler = new Sampler(request.Sampling, _model.Config.VocabSize);
            foreach (int t in request.PromptTokens)
                sampler.Accept(t);
            running = new Running(sequence, state, sampler, _model.Tokenizer) { QueuedTicks = queued, EnqueuedAt = enqueuedAt };
            running.Cached = running.Prefilled = Cache?.Restore(request.PromptTokens, state) ?? 0;
        }
        catch (Exception e)
        {
            _metrics.Failed();
            _freeStates.Push(state);
            sequence.Finish(Empty(sequence, SequenceEnd.Failed, queued) with { Error = e });
            return;
        }
        _metrics.Prefilled(request.PromptTokens.Length, running.Cached, 0);
        lock (_gate)
        {
            _running.Add(running);
            _admitting = 0;
        }
    }

    void RemoveCancelled()
    {
        for (int i = _running.Count - 1; i >= 0; i--)
            if (_running[i].Sequence.CancellationToken.IsCancellationRequested)
            {
                _metrics.Cancelled();
                Finish(_running[i], SequenceEnd.Cancelled);
            }
    }

    /// <summary>One chunk (up to a batch) of the oldest prompt still prefilling; its first token when it ends.</summary>
    void PrefillStep()
    {
        var r = _running.Find(x => x.Prefilled < x.Prompt.Length);
        if (r is null)
            return;
        var prompt = r.Prompt;
        int start = r.Prefilled, end = Math.Min(start + _forward.MaxBatch, prompt.Length);
        int checkpoint = r.Sequence.Request.CheckpointAt;
        if (checkpoint > start && checkpoint < end)
            end = checkpoint;
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            _forward.Forward(prompt.AsSpan(start, end - start), r.State, _prefillLogits);
        }
        catch (Exception e)
        {
            Fail(r, e);
            return;
        }
        r.Prefilled = end;
        if (end == checkpoint || end == prompt.Length)
            Cache?.Store(prompt.AsSpan(0, end), r.State);
        if (end < prompt.Length)
        {
            Charge(r, t0);
            return;
        }
        if (r.Sequence.Request.MaxTokens == 0)
        {
            Charge(r, t0);
            Finish(r, SequenceEnd.Length);
            return;
        }
        int first = r.Sampler.Sample(_prefillLogits);
        Charge(r, t0);
        r.FirstTokenAt = Stopwatch.GetTimestamp();
        _metrics.FirstToken();
        Accept(r, first);
    }

    void Charge(Running r, long start)
    {
        long ticks = Stopwatch.GetTimestamp() - start;
        r.PrefillTicks += ticks;
        _metrics.PrefillTime(ticks);
    }

    /// <summary>Feeds every decoding sequence's pending token as one batch and samples each one's next.</summary>
    void DecodeStep()
    {
        int n = 0;
        foreach (var r in _running)
            if (r.Pending >= 0)
            {
                _stepRows[n] = r;
                _stepTokens[n] = r.Pending;
                _stepStates[n] = r.State;
                n++;
            }
        if (n == 0)
            return;
        long t0 = Stopwatch.GetTimestamp();
        int v = _model.Config.VocabSize;
        try
        {
            _forward.ForwardSequences(_stepTokens.AsSpan(0, n), _stepStates.AsSpan(0, n), _stepLogits);
        }
        catch (Exception e)
        {
            for (int i = 0; i < n; i++)
                Fail(_stepRows[i], e);
            return;
        }
        for (int i = 0; i < n; i++)
        {
            var r = _stepRows[i];
            Accept(r, r.Sampler.Sample(_stepLogits.AsSpan(i * v, v)));
        }
        long ticks = Stopwatch.GetTimestamp() - t0;
        for (int i = 0; i < n; i++)
        {
            _stepRows[i].DecodeTicks += ticks;
            _stepRows[i] = null!;
            _stepStates[i] = null!;
        }
        _metrics.DecodeStep(n, ticks);
    }

    /// <summary>Takes a sampled token: end at EOS, else emit its text (stop strings held back) and go on or end.</summary>
    void Accept(Running r, int token)
    {
        var request = r.Sequence.Request;
        if (token == _model.Tokenizer.EosId && !request.IgnoreEos)
        {
            Finish(r, SequenceEnd.Stop);
            return;
        }
        r.Generated.Add(token);
        r.Sequence.Generated();
        r.Sampler.Accept(token);
        Emit(r, r.Stop.Push(r.Decoder.Push(token)));
        if (r.Stop.IsStopped)
            Finish(r, SequenceEnd.Stop);
        else if (r.Generated.Count >= request.MaxTokens)
            Finish(r, SequenceEnd.Length);
        else
            r.Pending = token;
    }

    static void Emit(Running r, string text)
    {
        r.Text.Append(text);
        r.Sequence.Emit(text);
    }

    void Finish(Running r, SequenceEnd reason)
    {
        if (reason is SequenceEnd.Stop or SequenceEnd.Length && !r.Stop.IsStopped)
        {
            Emit(r, r.Stop.Push(r.Decoder.Flush()));
            if (!r.Stop.IsStopped)
                Emit(r, r.Stop.Flush());
        }
        int fed = r.State.Position - r.Prompt.Length;
        if (reason != SequenceEnd.Failed && r.Prefilled == r.Prompt.Length && fed > 0 && Cache is { } cache)
            cache.Store([.. r.Prompt, .. r.Generated.Take(fed)], r.State);
        Release(r);
        r.Sequence.Finish(ResultOf(r, reason, null));
    }

    void Fail(Running r, Exception e)
    {
        _metrics.Failed();
        Release(r);
        r.Sequence.Finish(ResultOf(r, SequenceEnd.Failed, e));
    }

    /// <summary>Takes a sequence out of the batch and frees its state slot, once.</summary>
    void Release(Running r)
    {
        bool removed;
        lock (_gate)
            removed = _running.Remove(r);
        if (removed)
            _freeStates.Push(r.State);
    }

    static SequenceResult ResultOf(Running r, SequenceEnd reason, Exception? error) => new(
        reason, r.Prompt.Length, r.Cached, [.. r.Generated], r.Text.ToString(), r.Stop.MatchedStop,
        Stopwatch.GetElapsedTime(0, r.QueuedTicks), Stopwatch.GetElapsedTime(0, r.PrefillTicks), Stopwatch.GetElapsedTime(0, r.DecodeTicks), error)
    {
        TimeToFirstToken = r.FirstTokenAt > 0 ? Stopwatch.GetElapsedTime(r.EnqueuedAt, r.FirstTokenAt) : null,
    };

    static SequenceResult Empty(Sequence s, SequenceEnd reason, long queuedTicks) =>
        new(reason, s.Request.PromptTokens.Length, 0, [], "", null, Stopwatch.GetElapsedTime(0, queuedTicks), TimeSpan.Zero, TimeSpan.Zero);
}
