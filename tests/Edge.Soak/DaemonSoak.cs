using System.Device.Gpio;
using System.Diagnostics;
using Edge.Devices.Configuration;
using Edge.Devices.Generation;
using Edge.Devices.Hosting;
using Edge.Devices.Readings;
using Edge.Devices.Simulation;
using Edge.Devices.Triggers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Edge.Soak;

/// <summary>
/// The sensor daemon's service (edge-sensord) on a simulated board — GPIO button and PIR, BME280, LCD — with the
/// real model, its default settings (queue of 4, 2 s debounce, 5 s between generations, 48 tokens), and a fake clock:
/// every step moves the clock 100 ms and presses the button and trips the PIR once, a 10 Hz burst of each, for
/// <c>--minutes</c> simulated minutes. The clock waits for the daemon: a generation takes no simulated time, and
/// when the daemon is due to take a waiting trigger, the next step comes only after it did. Checks: the local queue
/// never holds more than its capacity, every accepted trigger is generated, dropped (counted), still waiting or the
/// one the daemon holds while it waits out the interval, the daemon logs no error, and
/// RSS, sampled every simulated minute, stays flat after the warm-up.
/// </summary>
public static class DaemonSoak
{
    static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);

    public static async Task<int> RunAsync(Options args)
    {
        string model = args.Get("--model", Program.BundledModel);
        int minutes = (int)args.GetLong("--minutes", 60);
        int warmup = (int)args.GetLong("--warmup-minutes", Math.Min(10, minutes / 4));
        long tolerance = args.GetLong("--tolerance-kib", 1024) * 1024;

        var options = new SensorDaemonOptions();
        options.Model.Path = model;
        // GpioButton debounces on the real clock, which a simulated hour does not move; the queue's own debounce
        // (on the simulated clock) stays at its default.
        options.Gpio.ButtonDebounceMilliseconds = 0;
        int button = options.Gpio.ButtonPin ?? throw new InvalidOperationException("No button pin in the defaults.");
        int motion = options.Gpio.MotionPin ?? throw new InvalidOperationException("No motion pin in the defaults.");

        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));
        var board = new SimulatedBoard();
        var queue = new TriggerQueue(options.Queue, time);
        var logs = new CountingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        using var model_ = EdgeTextGenerator.Load(model, options.Model.Threads);
        var generator = new WatchedGenerator(model_, time);
        using var service = new SensorTriggerService(options, board, generator, queue, new LatestReadings(), null, [], time, loggers);
        await service.StartAsync(CancellationToken.None);

        var memory = new MemorySamples(Environment.ProcessId, collect: !args.Has("--no-collect"));
        var minInterval = TimeSpan.FromMilliseconds(options.Queue.MinIntervalMilliseconds);
        int maxWaiting = 0;
        long presses = 0, lateSteps = 0;
        var clock = Stopwatch.StartNew();
        long startedBefore = generator.Started; // the warm-up
        Console.WriteLine($"edge-soak daemon: {Path.GetFileName(model)}, {minutes} simulated minutes, button and PIR at 10 Hz each, queue capacity {options.Queue.Capacity}");
        Console.WriteLine("minute\twaiting\taccepted\tdebounced\tdropped\tgenerated\tRSS MiB\tanonymous MiB\tmanaged MiB");
        int steps = minutes * 600;
        for (int step = 1; step <= steps; step++)
        {
            time.Advance(Step);
            board.Gpio.PressButton(button);
            board.Gpio.SetInput(motion, PinValue.High);
            board.Gpio.SetInput(motion, PinValue.Low);
            presses += 2;
            maxWaiting = Math.Max(maxWaiting, queue.LocalWaitingCount);
            await generator.IdleAsync();
            // Due to take a trigger: let it, before the clock moves on. Where the daemon set its interval timer a step
            // late (the clock moved while it went from one generation to the next), it starts on the next step.
            if (queue.LocalWaitingCount > 0 && (generator.LastStart is not { } last || time.GetUtcNow() - last >= minInterval))
            {
                long started = generator.Started;
                if (await Within(TimeSpan.FromSeconds(1), () => generator.Started > started || queue.LocalWaitingCount == 0))
                    await generator.IdleAsync();
                else
                    lateSteps++;
            }
            maxWaiting = Math.Max(maxWaiting, queue.LocalWaitingCount);
            if (step % 600 == 0)
            {
                var s = memory.Take(step / 600);
                Console.WriteLine($"{step / 600}\t{queue.LocalWaitingCount}\t{queue.AcceptedCount}\t{queue.DebouncedCount}\t{queue.DroppedCount}\t{generator.Started - startedBefore}\t{MemorySamples.Mib(s.RssBytes)}\t{MemorySamples.Mib(s.AnonymousBytes)}\t{MemorySamples.Mib(s.ManagedBytes)}");
            }
        }
        await service.StopAsync(CancellationToken.None);

        long generated = generator.Started - startedBefore, accepted = queue.AcceptedCount, dropped = queue.DroppedCount, waiting = queue.LocalWaitingCount;
        bool bounded = maxWaiting <= options.Queue.Capacity;
        // The daemon may hold one trigger it took from the queue while it waits out the interval between generations.
        long held = accepted - (generated + dropped + waiting);
        bool accounted = held is 0 or 1;
        var (flat, line) = memory.Verdict(warmup, tolerance, "simulated minutes");
        Console.WriteLine($"edge-soak daemon: {minutes} simulated minutes in {clock.Elapsed.TotalSeconds:F0} s; {presses:N0} triggers, {accepted:N0} accepted, " +
            $"{queue.DebouncedCount:N0} debounced, {dropped:N0} dropped ({logs.Warnings:N0} warnings), {generated:N0} generated, {waiting} waiting and {held} taken at the end; " +
            $"queue at most {maxWaiting} of {options.Queue.Capacity}{(bounded ? "" : ": OVER CAPACITY")}; " +
            (accounted ? "every accepted trigger accounted for" : "ACCEPTED TRIGGERS UNACCOUNTED FOR") + $"; {lateSteps} generations started a step late; {line}");
        return bounded && accounted && flat && generated > 0 && logs.Errors == 0 ? 0 : 1;
    }

    static async Task Until(Func<bool> condition, string what)
    {
        if (!await Within(TimeSpan.FromSeconds(60), condition))
            throw new TimeoutException($"Gave up waiting for {what}.");
    }

    static async Task<bool> Within(TimeSpan limit, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit)
                return false;
            await Task.Delay(1);
        }
        return true;
    }

    /// <summary>The real generator, watched: whether a generation runs, how many started, when the last began.</summary>
    sealed class WatchedGenerator(ITextGenerator inner, TimeProvider time) : ITextGenerator
    {
        int _busy;
        long _started;

        public string Description => inner.Description;

        public long Started => Interlocked.Read(ref _started);

        public DateTimeOffset? LastStart { get; private set; }

        public async IAsyncEnumerable<string> GenerateAsync(TextRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Volatile.Write(ref _busy, 1);
            LastStart = time.GetUtcNow();
            Interlocked.Increment(ref _started);
            try
            {
                await foreach (var piece in inner.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
                    yield return piece;
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }

        public Task IdleAsync() => Until(() => Volatile.Read(ref _busy) == 0, "the generation to finish");
    }

    /// <summary>Counts log entries by level and keeps none, so the soak's own bookkeeping cannot grow.</summary>
    sealed class CountingLoggerProvider : ILoggerProvider, ILogger
    {
        long _warnings, _errors;

        public long Warnings => Interlocked.Read(ref _warnings);
        public long Errors => Interlocked.Read(ref _errors);

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
                Interlocked.Increment(ref _warnings);
            else if (logLevel >= LogLevel.Error)
            {
                Interlocked.Increment(ref _errors);
                Console.Error.WriteLine($"edge-soak daemon: the daemon logged an error: {formatter(state, exception)}");
            }
        }

        public void Dispose()
        {
        }
    }
}
