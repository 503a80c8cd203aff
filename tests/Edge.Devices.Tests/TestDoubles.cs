using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Edge.Devices.Generation;
using Edge.Devices.Sinks;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Tests;

/// <summary>A generator that records prompts and answers "reply to: &lt;prompt&gt;" word by word.</summary>
sealed class RecordingGenerator(TimeSpan delayPerRequest = default) : ITextGenerator
{
    public const string WarmupPrompt = "warm-up";

    public ConcurrentQueue<string> Prompts { get; } = new();

    /// <summary>Prompts other than the start-up warm-up, in order.</summary>
    public string[] TriggerPrompts => [.. Prompts.Where(p => p != WarmupPrompt)];

    /// <summary>When set, each generation waits on it (with the cancellation token) before answering.</summary>
    public TaskCompletionSource? Gate { get; set; }

    public int CancelledCount;

    public string Description => "recording fake";

    public static string ReplyTo(string prompt) => "reply to: " + prompt;

    public async IAsyncEnumerable<string> GenerateAsync(TextRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Prompts.Enqueue(request.Prompt);
        try
        {
            if (delayPerRequest > TimeSpan.Zero)
                await Task.Delay(delayPerRequest, cancellationToken);
            if (Gate is { } gate && request.Prompt != WarmupPrompt)
                await gate.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref CancelledCount);
            throw;
        }
        foreach (var word in ReplyTo(request.Prompt).Split(' '))
            yield return word + " ";
    }
}

/// <summary>A sink that keeps every outcome and lets a test wait for a number of them.</summary>
sealed class RecordingSink : IGenerationSink
{
    readonly List<GenerationOutcome> _outcomes = [];
    readonly Lock _lock = new();
    TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name => "recording";

    public GenerationOutcome[] Outcomes
    {
        get
        {
            lock (_lock)
                return [.. _outcomes];
        }
    }

    public Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _outcomes.Add(outcome);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>Waits until at least <paramref name="count"/> outcomes arrived (the timeout only guards against a hang).</summary>
    public async Task<GenerationOutcome[]> WaitForAsync(int count)
    {
        using var guard = new CancellationTokenSource(TestTimeouts.Hang);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_outcomes.Count >= count)
                    return [.. _outcomes];
                changed = _changed.Task;
            }
            await changed.WaitAsync(guard.Token);
        }
    }
}

static class TestTimeouts
{
    /// <summary>Only a guard against hanging forever; no test depends on anything finishing within it.</summary>
    public static readonly TimeSpan Hang = TimeSpan.FromSeconds(90);

    /// <summary>Polls a condition until it holds (or the hang guard fires).</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        using var guard = new CancellationTokenSource(Hang);
        while (!condition())
        {
            if (guard.IsCancellationRequested)
                throw new TimeoutException($"Gave up waiting for: {what}");
            await Task.Delay(10);
        }
    }
}

/// <summary>A clock the test moves by hand.</summary>
sealed class ManualTimeProvider : TimeProvider
{
    long _ticks = TimeSpan.FromDays(1).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero).AddTicks(GetTimestamp());

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>Keeps log messages so tests can check that a fault was reported.</summary>
sealed class ListLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public void Dispose()
    {
    }

    sealed class ListLogger(ListLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}
