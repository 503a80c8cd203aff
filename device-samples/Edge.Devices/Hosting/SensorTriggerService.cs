using System.Device.Gpio;
using System.Diagnostics;
using System.Text;
using Edge.Devices.Configuration;
using Edge.Devices.Devices;
using Edge.Devices.Fleet;
using Edge.Devices.Generation;
using Edge.Devices.Readings;
using Edge.Devices.Sinks;
using Edge.Devices.Triggers;
using Iot.Device.Bmxx80;
using Iot.Device.Bmxx80.PowerMode;
using Iot.Device.Button;
using Iot.Device.CharacterLcd;
using Iot.Device.Hcsr501;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Hosting;

/// <summary>
/// The daemon: warms the model, watches the button, the PIR sensor, the BME280 and the fleet topic, and runs one
/// generation at a time from the <see cref="TriggerQueue"/>, handing each result to the sinks (log, LCD, MQTT).
/// A device that is missing or stops answering is logged (and the BME280 retried with back-off); the other
/// triggers keep working. Stopping the host cancels the generation in progress.
/// </summary>
public sealed partial class SensorTriggerService : BackgroundService
{
    readonly SensorDaemonOptions _options;
    readonly IDeviceBoard _board;
    readonly ITextGenerator _generator;
    readonly TriggerQueue _queue;
    readonly LatestReadings _readings;
    readonly FleetWorker? _fleet;
    readonly MqttLink? _link;
    readonly TimeProvider _time;
    readonly ILoggerFactory _loggerFactory;
    readonly ILogger _logger;
    readonly List<IGenerationSink> _sinks;
    readonly IGenerationSink[] _extraSinks;
    readonly List<IDisposable> _devices = [];
    long _completed;

    public SensorTriggerService(SensorDaemonOptions options, IDeviceBoard board, ITextGenerator generator, TriggerQueue queue,
        LatestReadings readings, MqttLink? link, IEnumerable<IGenerationSink> extraSinks, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _options = options;
        _board = board;
        _generator = generator;
        _queue = queue;
        _readings = readings;
        _link = link;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<SensorTriggerService>();
        _sinks = [new LogSink(loggerFactory.CreateLogger<LogSink>())];
        _extraSinks = [.. extraSinks];
        if (link is not null)
        {
            _fleet = new FleetWorker(link, options.Mqtt, queue, readings, time, loggerFactory.CreateLogger<FleetWorker>());
            _sinks.Add(new MqttResultSink(link, options.Mqtt.TopicPrefix, loggerFactory.CreateLogger<MqttResultSink>()));
            link.StatusDetail = generator.Description;
        }
        queue.Dropped += dropped => LogTriggerDropped(dropped.Source.ToString(), queue.DroppedCount);
    }

    /// <summary>Generations finished (including failed ones), for tests and diagnostics.</summary>
    public long CompletedCount => Interlocked.Read(ref _completed);

    public FleetWorker? Fleet => _fleet;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        LogModel(_generator.Description);
        var clock = Stopwatch.StartNew();
        var warmup = new TextRequest(_options.Model.WarmupPrompt, 2, _options.Sampling.ToRuntime());
        await foreach (var _ in _generator.GenerateAsync(warmup, cancellationToken).ConfigureAwait(false))
        {
        }
        LogWarm(clock.Elapsed.TotalMilliseconds);
        OpenLcd();
        _sinks.AddRange(_extraSinks);
        OpenGpioTriggers();
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var background = new List<Task>();
        if (_options.Bme280.Enabled)
            background.Add(WatchBme280Async(stoppingToken));
        if (_link is not null)
            background.Add(_link.RunAsync(stoppingToken));
        try
        {
            await ServeAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(background).ConfigureAwait(false);
        }
    }

    async Task ServeAsync(CancellationToken stoppingToken)
    {
        var minInterval = TimeSpan.FromMilliseconds(_options.Queue.MinIntervalMilliseconds);
        long? lastStart = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            Trigger trigger;
            try
            {
                trigger = await _queue.ReadAsync(stoppingToken).ConfigureAwait(false);
                if (lastStart is long last && _time.GetElapsedTime(last) is var since && since < minInterval)
                    await Task.Delay(minInterval - since, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            lastStart = _time.GetTimestamp();
            var outcome = await GenerateAsync(trigger, stoppingToken).ConfigureAwait(false);
            if (!outcome.Cancelled)
                await DeliverAsync(outcome, stoppingToken).ConfigureAwait(false);
            if (trigger.Request is not null && _fleet is not null)
                await _fleet.CompleteAsync(outcome, stoppingToken).ConfigureAwait(false);
            Interlocked.Increment(ref _completed);
        }
    }

    async Task<GenerationOutcome> GenerateAsync(Trigger trigger, CancellationToken stoppingToken)
    {
        var text = new StringBuilder();
        var clock = Stopwatch.StartNew();
        int maxTokens = trigger.Request?.MaxTokens ?? _options.Model.MaxTokens;
        try
        {
            await foreach (var piece in _generator.GenerateAsync(new TextRequest(trigger.Prompt, maxTokens, _options.Sampling.ToRuntime(), _options.Model.MinTokens), stoppingToken).ConfigureAwait(false))
                text.Append(piece);
            return new GenerationOutcome(trigger, text.ToString(), clock.Elapsed, Cancelled: false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            LogCancelled(trigger.Source.ToString());
            return new GenerationOutcome(trigger, text.ToString(), clock.Elapsed, Cancelled: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException)
        {
            LogGenerationFailed(trigger.Source.ToString(), e.Message);
            return new GenerationOutcome(trigger, "", clock.Elapsed, Cancelled: false) { Error = e.Message };
        }
    }

    async Task DeliverAsync(GenerationOutcome outcome, CancellationToken stoppingToken)
    {
        foreach (var sink in _sinks)
        {
            try
            {
                await sink.WriteAsync(outcome, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One broken output (an unplugged LCD) must not silence the others.
                LogSinkFailed(sink.Name, e.Message);
            }
        }
    }

    void OpenLcd()
    {
        if (!_options.Lcd.Enabled)
            return;
        try
        {
            var lcd = new Lcd1602(LcdInterface.CreateI2c(_board.OpenI2c(_options.Lcd.Bus, _options.Lcd.Address), uses8Bit: false));
            _devices.Add(lcd);
            var sink = new LcdSink(lcd, TimeSpan.FromMilliseconds(_options.Lcd.PageMilliseconds), _time, _loggerFactory.CreateLogger<LcdSink>());
            _devices.Add(sink);
            _sinks.Add(sink);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            LogDeviceMissing($"LCD (I2C bus {_options.Lcd.Bus}, address 0x{_options.Lcd.Address:X2})", e.Message);
        }
    }

    void OpenGpioTriggers()
    {
        var gpio = _options.Gpio;
        if (gpio.ButtonPin is null && gpio.MotionPin is null)
            return;
        GpioController controller;
        try
        {
            controller = _board.OpenGpio();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Thrown types vary by driver (GpiodException, IOException, PlatformNotSupportedException…).
            LogDeviceMissing($"GPIO (gpiochip{gpio.Chip})", e.Message);
            return;
        }
        _devices.Add(controller);
        if (gpio.ButtonPin is int buttonPin)
        {
            var button = new GpioButton(buttonPin, isPullUp: true, hasExternalResistor: false, controller, shouldDispose: false,
                TimeSpan.FromMilliseconds(gpio.ButtonDebounceMilliseconds));
            button.Press += (_, _) => OfferLocal(TriggerSource.Button, _options.Prompts.Button);
            _devices.Add(button);
        }
        if (gpio.MotionPin is int motionPin)
        {
            var pir = new Hcsr501(motionPin, controller, shouldDispose: false);
            pir.Hcsr501ValueChanged += (_, e) =>
            {
                if (e.PinValue == PinValue.High)
                    OfferLocal(TriggerSource.Motion, _options.Prompts.Motion);
            };
            _devices.Add(pir);
        }
    }

    void OfferLocal(TriggerSource source, string template, double? threshold = null, double? rate = null)
    {
        var trigger = Trigger.FromTemplate(source, template, _readings.Current, _time.GetUtcNow(), threshold, rate);
        if (_queue.Offer(trigger) == OfferResult.Debounced)
            LogDebounced(source.ToString());
    }

    /// <summary>
    /// Samples the BME280 and feeds the temperature rules. When the sensor stops answering the error is logged, the
    /// binding dropped, and it is opened again after 1 s, 2 s, 4 s … (capped at Bme280:MaxRetryDelaySeconds).
    /// </summary>
    async Task WatchBme280Async(CancellationToken stoppingToken)
    {
        var settings = _options.Bme280;
        var watch = new TemperatureWatch(settings);
        var interval = TimeSpan.FromMilliseconds(settings.SampleIntervalMilliseconds);
        var maxDelay = TimeSpan.FromSeconds(settings.MaxRetryDelaySeconds);
        Bme280? sensor = null;
        int failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var delay = interval;
            try
            {
                sensor ??= OpenBme280(settings);
                var result = await sensor.ReadAsync().ConfigureAwait(false);
                var readings = new SensorReadings(result.Temperature, result.Pressure, result.Humidity, _time.GetUtcNow());
                if (failures > 0)
                    LogSensorBack("BME280", failures); // before the reading is published: whoever sees it sees the log
                failures = 0;
                _readings.Current = readings;
                if (result.Temperature is { } temperature)
                    foreach (var e in watch.Observe(readings.TakenAt!.Value, temperature.DegreesCelsius))
                        OfferLocal(e.Source, TemplateFor(e.Source), e.ThresholdCelsius, e.RateCelsiusPerMinute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                failures++;
                sensor?.Dispose();
                sensor = null;
                delay = Backoff.Delay(failures, maxDelay);
                LogSensorFailed("BME280", e.Message, failures, delay.TotalSeconds);
                _readings.Current = SensorReadings.None;
            }
            try
            {
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        sensor?.Dispose();
    }

    Bme280 OpenBme280(Bme280Settings settings)
    {
        var sensor = new Bme280(_board.OpenI2c(settings.Bus, settings.Address))
        {
            TemperatureSampling = Sampling.UltraLowPower,
            PressureSampling = Sampling.UltraLowPower,
            HumiditySampling = Sampling.UltraLowPower,
        };
        sensor.SetPowerMode(Bmx280PowerMode.Forced);
        return sensor;
    }

    string TemplateFor(TriggerSource source) => source switch
    {
        TriggerSource.TemperatureHigh => _options.Prompts.TemperatureHigh,
        TriggerSource.TemperatureLow => _options.Prompts.TemperatureLow,
        _ => _options.Prompts.TemperatureRate,
    };

    public override void Dispose()
    {
        for (int i = _devices.Count - 1; i >= 0; i--)
            _devices[i].Dispose();
        _devices.Clear();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model: {Description}")]
    partial void LogModel(string description);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model warmed up in {Milliseconds:0} ms; waiting for triggers")]
    partial void LogWarm(double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Trigger queue full: dropped the oldest waiting trigger ({Source}); {Total} dropped so far")]
    partial void LogTriggerDropped(string source, long total);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Source} triggered again within the debounce time; ignored")]
    partial void LogDebounced(string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: cancelled the generation for {Source}")]
    partial void LogCancelled(string source);

    [LoggerMessage(Level = LogLevel.Error, Message = "Generation for {Source} failed: {Message}")]
    partial void LogGenerationFailed(string source, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Output {Sink} failed: {Message}")]
    partial void LogSinkFailed(string sink, string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Device} is not available ({Message}); running without it. Check the wiring, the address and that the user is in the gpio/i2c groups.")]
    partial void LogDeviceMissing(string device, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Sensor} does not answer ({Message}); failure {Failures}, retrying in {Seconds:0} s")]
    partial void LogSensorFailed(string sensor, string message, int failures, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Sensor} answers again after {Failures} failed attempt(s)")]
    partial void LogSensorBack(string sensor, int failures);
}
