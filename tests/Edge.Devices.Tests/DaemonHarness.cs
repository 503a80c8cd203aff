using Edge.Devices.Configuration;
using Edge.Devices.Fleet;
using Edge.Devices.Generation;
using Edge.Devices.Hosting;
using Edge.Devices.Readings;
using Edge.Devices.Simulation;
using Edge.Devices.Triggers;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Tests;

/// <summary>The daemon's service running on a simulated board with a recording generator and sink.</summary>
sealed class DaemonHarness : IAsyncDisposable
{
    DaemonHarness(SensorDaemonOptions options, ITextGenerator generator, MqttLink? link)
    {
        Options = options;
        TextGenerator = generator;
        Link = link;
        Logs = new ListLoggerProvider();
        LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Debug));
        Board = new SimulatedBoard();
        Queue = new TriggerQueue(options.Queue, TimeProvider.System);
        Readings = new LatestReadings();
        Service = new SensorTriggerService(options, Board, generator, Queue, Readings, link, [Sink], TimeProvider.System, LoggerFactory);
    }

    public SensorDaemonOptions Options { get; }
    public ITextGenerator TextGenerator { get; }

    /// <summary>The generator, for tests that run with the recording fake.</summary>
    public RecordingGenerator Generator => (RecordingGenerator)TextGenerator;
    public MqttLink? Link { get; }
    public ListLoggerProvider Logs { get; }
    public ILoggerFactory LoggerFactory { get; }
    public SimulatedBoard Board { get; }
    public TriggerQueue Queue { get; }
    public LatestReadings Readings { get; }
    public RecordingSink Sink { get; } = new();
    public SensorTriggerService Service { get; }

    /// <summary>Options for tests: no waiting between generations, quick sampling, no debounce.</summary>
    public static SensorDaemonOptions TestOptions()
    {
        var options = new SensorDaemonOptions();
        options.Model.WarmupPrompt = RecordingGenerator.WarmupPrompt;
        options.Model.MaxTokens = 16;
        options.Queue.MinIntervalMilliseconds = 0;
        options.Queue.DebounceMilliseconds = 0;
        options.Gpio.ButtonDebounceMilliseconds = 0;
        options.Bme280.SampleIntervalMilliseconds = 5;
        options.Bme280.MaxRetryDelaySeconds = 1;
        options.Bme280.RateCelsiusPerMinute = null;
        options.Lcd.PageMilliseconds = 60_000;
        return options;
    }

    public static async Task<DaemonHarness> StartAsync(SensorDaemonOptions options, ITextGenerator? generator = null, MqttLink? link = null)
    {
        var harness = new DaemonHarness(options, generator ?? new RecordingGenerator(), link);
        await harness.Service.StartAsync(TestContext.Current.CancellationToken);
        return harness;
    }

    /// <summary>Waits for the first BME280 sample, so prompts quote real readings.</summary>
    public Task FirstReadingAsync() => TestTimeouts.UntilAsync(() => Readings.Current.Temperature is not null, "the first BME280 reading");

    public async ValueTask DisposeAsync()
    {
        await Service.StopAsync(CancellationToken.None);
        Service.Dispose();
        LoggerFactory.Dispose();
    }
}
