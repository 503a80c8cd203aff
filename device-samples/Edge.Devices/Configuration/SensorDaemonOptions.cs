using Edge.Runtime.Sampling;

namespace Edge.Devices.Configuration;

/// <summary>
/// Everything the sensor daemon reads from appsettings.json (top-level sections) and <c>EDGE_</c> environment
/// variables (<c>EDGE_MODEL__PATH</c> overrides <c>Model:Path</c>). Bound with the configuration binding source
/// generator, so it works under NativeAOT.
/// </summary>
public sealed class SensorDaemonOptions
{
    public ModelSettings Model { get; set; } = new();
    public SamplingSettings Sampling { get; set; } = new();
    public GpioSettings Gpio { get; set; } = new();
    public Bme280Settings Bme280 { get; set; } = new();
    public QueueSettings Queue { get; set; } = new();
    public PromptSettings Prompts { get; set; } = new();
    public LcdSettings Lcd { get; set; } = new();
    public MqttSettings Mqtt { get; set; } = new();

    /// <summary>Every configuration mistake found, each as a sentence saying what to change; empty when valid.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if (Model.MaxTokens is < 1 or > 4096)
            errors.Add($"Model:MaxTokens must be 1–4096 (got {Model.MaxTokens}).");
        if (Model.MinTokens < 0)
            errors.Add($"Model:MinTokens must be ≥ 0, 0 letting the model end the text at once (got {Model.MinTokens}).");
        if (Model.Threads < 0 || Model.Threads > Environment.ProcessorCount)
            errors.Add($"Model:Threads must be 0–{Environment.ProcessorCount} (this machine's logical cores), 0 meaning one per core (got {Model.Threads}).");
        try
        {
            Sampling.ToRuntime().Validate();
        }
        catch (ArgumentException e)
        {
            errors.Add("Sampling: " + e.Message);
        }
        if (Gpio.Chip < 0)
            errors.Add($"Gpio:Chip must be ≥ 0 (got {Gpio.Chip}); on a Pi 5 it is 0 on current kernels, 4 on kernels before 6.6.45.");
        foreach (var (name, pin) in new[] { ("Gpio:ButtonPin", Gpio.ButtonPin), ("Gpio:MotionPin", Gpio.MotionPin) })
            if (pin is < 0 or > 53)
                errors.Add($"{name} must be a BCM GPIO number 0–53 or null to disable (got {pin}).");
        if (Gpio.ButtonPin is not null && Gpio.ButtonPin == Gpio.MotionPin)
            errors.Add("Gpio:ButtonPin and Gpio:MotionPin are the same pin; wire them to different GPIOs.");
        if (Gpio.ButtonDebounceMilliseconds is < 0 or > 500)
            errors.Add($"Gpio:ButtonDebounceMilliseconds must be 0–500 (got {Gpio.ButtonDebounceMilliseconds}).");
        if (Bme280.Enabled)
        {
            if (Bme280.Address is not (0x76 or 0x77))
                errors.Add($"Bme280:Address must be 118 (0x76, SDO to GND) or 119 (0x77, SDO to 3V3) (got {Bme280.Address}).");
            if (Bme280.SampleIntervalMilliseconds < 1)
                errors.Add($"Bme280:SampleIntervalMilliseconds must be ≥ 1 (got {Bme280.SampleIntervalMilliseconds}).");
            if (!(Bme280.HysteresisCelsius > 0))
                errors.Add($"Bme280:HysteresisCelsius must be > 0, or one noisy reading triggers twice (got {Bme280.HysteresisCelsius}).");
            if (Bme280.HighCelsius is double high && Bme280.LowCelsius is double low && low >= high)
                errors.Add($"Bme280:LowCelsius ({low}) must be below Bme280:HighCelsius ({high}).");
            if (Bme280.RateCelsiusPerMinute is double rate && !(rate > 0))
                errors.Add($"Bme280:RateCelsiusPerMinute must be > 0 or null to disable (got {rate}).");
            if (Bme280.RateWindowSeconds < 1)
                errors.Add($"Bme280:RateWindowSeconds must be ≥ 1 (got {Bme280.RateWindowSeconds}).");
        }
        if (Queue.Capacity is < 1 or > 1000)
            errors.Add($"Queue:Capacity must be 1–1000 (got {Queue.Capacity}).");
        if (Queue.DebounceMilliseconds < 0 || Queue.MinIntervalMilliseconds < 0)
            errors.Add("Queue:DebounceMilliseconds and Queue:MinIntervalMilliseconds must be ≥ 0.");
        foreach (var (name, template) in Prompts.All())
            if (PromptTemplate.FindUnknownPlaceholder(template) is string unknown)
                errors.Add($"Prompts:{name} uses {{{unknown}}}, which is not a known value; use one of {string.Join(", ", PromptTemplate.Placeholders.Select(p => "{" + p + "}"))}.");
        if (Lcd.Enabled && Lcd.Address is < 0x03 or > 0x77)
            errors.Add($"Lcd:Address must be a 7-bit I2C address (PCF8574 backpacks use 0x20–0x27, PCF8574A 0x38–0x3F; got {Lcd.Address}).");
        if (Mqtt.Enabled)
        {
            if (string.IsNullOrWhiteSpace(Mqtt.Host))
                errors.Add("Mqtt:Host is empty: set the broker's host name.");
            if (Mqtt.Port is < 1 or > 65535)
                errors.Add($"Mqtt:Port must be 1–65535 (got {Mqtt.Port}).");
            foreach (var (name, value) in new[] { ("Mqtt:Group", Mqtt.Group), ("Mqtt:RequestTopic", Mqtt.RequestTopic), ("Mqtt:TopicPrefix", Mqtt.TopicPrefix) })
                if (string.IsNullOrWhiteSpace(value) || value.AsSpan().IndexOfAny("#+") >= 0)
                    errors.Add($"{name} must be non-empty and contain no MQTT wildcards (got \"{value}\").");
        }
        return errors;
    }
}

public sealed class ModelSettings
{
    /// <summary>Path to a packed model file.</summary>
    public string Path { get; set; } = "";

    /// <summary>Threads for the matrix products; 0 = one per core.</summary>
    public int Threads { get; set; }

    public int MaxTokens { get; set; } = 48;

    /// <summary>
    /// End-of-text is not sampled before this many tokens: with the default prompts the bundled model ended the text
    /// at once for 4 of 20 seeds, which left the LCD blank. 0 lets the model end anytime; a request's smaller
    /// MaxTokens wins.
    /// </summary>
    public int MinTokens { get; set; } = 8;

    /// <summary>Generated once at start-up so the first real trigger does not pay for page faults.</summary>
    public string WarmupPrompt { get; set; } = "Hello";
}

/// <summary>The library's sampling defaults (one place: <see cref="SamplingOptions"/>), but a repetition penalty of 1.1.</summary>
public sealed class SamplingSettings
{
    static readonly SamplingOptions LibraryDefaults = new();

    public float Temperature { get; set; } = LibraryDefaults.Temperature;
    public int TopK { get; set; } = LibraryDefaults.TopK;
    public float TopP { get; set; } = LibraryDefaults.TopP;
    public float MinP { get; set; } = LibraryDefaults.MinP;
    public float RepeatPenalty { get; set; } = 1.1f;

    /// <summary>Null picks a new seed per generation.</summary>
    public ulong? Seed { get; set; }

    public SamplingOptions ToRuntime() => new()
    {
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        MinP = MinP,
        RepeatPenalty = RepeatPenalty,
        Seed = Seed,
    };
}

public sealed class GpioSettings
{
    /// <summary>
    /// The gpiochip the header pins belong to: 0 on Pi 1–4, and on a Pi 5 with kernel 6.6.45 or newer (Pi OS images
    /// from 2024-10 on); 4 on a Pi 5 with older kernels.
    /// </summary>
    public int Chip { get; set; }

    /// <summary>BCM number of a push button to ground (internal pull-up); null disables it.</summary>
    public int? ButtonPin { get; set; } = 17;

    public int ButtonDebounceMilliseconds { get; set; } = 50;

    /// <summary>BCM number of an HC-SR501 PIR output; null disables it.</summary>
    public int? MotionPin { get; set; } = 27;
}

public sealed class Bme280Settings
{
    public bool Enabled { get; set; } = true;
    public int Bus { get; set; } = 1;
    public int Address { get; set; } = 0x76;
    public int SampleIntervalMilliseconds { get; set; } = 2000;

    /// <summary>Trigger when the temperature rises to this value; null disables.</summary>
    public double? HighCelsius { get; set; } = 28;

    /// <summary>Trigger when the temperature falls to this value; null disables.</summary>
    public double? LowCelsius { get; set; } = 16;

    /// <summary>How far back past a threshold the value must go before the same threshold can trigger again.</summary>
    public double HysteresisCelsius { get; set; } = 0.5;

    /// <summary>Trigger when the temperature changes at least this fast (either direction); null disables.</summary>
    public double? RateCelsiusPerMinute { get; set; } = 2;

    /// <summary>The time span the rate of change is measured over.</summary>
    public int RateWindowSeconds { get; set; } = 60;

    /// <summary>Longest wait between retries of a sensor that stopped answering.</summary>
    public int MaxRetryDelaySeconds { get; set; } = 60;
}

public sealed class QueueSettings
{
    /// <summary>Local triggers waiting for the generator; when full the oldest is dropped and counted.</summary>
    public int Capacity { get; set; } = 4;

    /// <summary>A trigger from the same source within this time of the last accepted one is ignored.</summary>
    public int DebounceMilliseconds { get; set; } = 2000;

    /// <summary>Least time between the starts of two generations (keeps a fanless Pi cool).</summary>
    public int MinIntervalMilliseconds { get; set; } = 5000;
}

public sealed class PromptSettings
{
    public string Button { get; set; } = "Someone pressed the button at {time}. Indoors it is {temperature}, {humidity} humidity, pressure {pressure}. Write one friendly sentence about the weather inside:";
    public string Motion { get; set; } = "Motion was detected at {time}. The room is at {temperature} and {humidity} humidity. Write a short greeting for whoever walked in:";
    public string TemperatureHigh { get; set; } = "The temperature rose above {threshold}: it is now {temperature} ({humidity} humidity). Give one short tip to cool the room:";
    public string TemperatureLow { get; set; } = "The temperature fell below {threshold}: it is now {temperature} ({humidity} humidity). Give one short tip to keep warm:";
    public string TemperatureRate { get; set; } = "The temperature is changing fast ({rate}); it is now {temperature}. Say in one sentence what might be happening:";

    public IEnumerable<(string Name, string Template)> All() =>
    [
        (nameof(Button), Button), (nameof(Motion), Motion), (nameof(TemperatureHigh), TemperatureHigh),
        (nameof(TemperatureLow), TemperatureLow), (nameof(TemperatureRate), TemperatureRate),
    ];
}

public sealed class LcdSettings
{
    public bool Enabled { get; set; } = true;
    public int Bus { get; set; } = 1;

    /// <summary>PCF8574 backpack address: 0x27 (39) is the common default, 0x3F (63) for PCF8574A.</summary>
    public int Address { get; set; } = 0x27;

    /// <summary>Long text is shown two lines at a time, one page per this many milliseconds.</summary>
    public int PageMilliseconds { get; set; } = 3000;
}

public sealed class MqttSettings
{
    public bool Enabled { get; set; }
    public string Host { get; set; } = "localhost";
    public int Port { get; set; } = 1883;
    public string? Username { get; set; }
    public string? Password { get; set; }

    /// <summary>This board's name: MQTT client id and status topic; defaults to the host name.</summary>
    public string? ClientId { get; set; }

    /// <summary>Shared-subscription group: boards in one group split the requests between them.</summary>
    public string Group { get; set; } = "edge-workers";

    public string RequestTopic { get; set; } = "edge/requests";

    /// <summary>Status (<c>&lt;prefix&gt;/status/&lt;id&gt;</c>), sensor results and default replies go under this.</summary>
    public string TopicPrefix { get; set; } = "edge";

    /// <summary>How long the broker keeps this board's session (and its unacknowledged requests) while it is away.</summary>
    public uint SessionExpirySeconds { get; set; } = 3600;

    /// <summary>Requests the broker may hand this board before it acknowledges one (MQTT 5 receive maximum).</summary>
    public ushort MaxInFlightRequests { get; set; } = 1;

    public int MaxReconnectDelaySeconds { get; set; } = 30;

    public string ResolvedClientId => string.IsNullOrWhiteSpace(ClientId) ? Environment.MachineName : ClientId;
}
