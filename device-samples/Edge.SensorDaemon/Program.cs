using Edge.Runtime;
using Edge.Devices.Configuration;
using Edge.Devices.Devices;
using Edge.Devices.Fleet;
using Edge.Devices.Generation;
using Edge.Devices.Hosting;
using Edge.Devices.Readings;
using Edge.Devices.Simulation;
using Edge.Devices.Sinks;
using Edge.Devices.Triggers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        edge-sensord: turns button presses, motion, temperature changes and MQTT requests into generated text.

        Usage: edge-sensord [--simulate] [-m FILE] [--Section:Key=value ...]

          --simulate          run on a PC with simulated GPIO, BME280 and LCD; keys b/m/t/T/q fire triggers.
          -m, --model FILE    the model, the same as --Model:Path=FILE or EDGE_MODEL__PATH=FILE (default:
                              $EDGE_MODEL, then the bundled kjv-brown-36m.edge in ./models or beside the executable);
                              any appsettings.json key can be set like --Model:Path.

        Settings: appsettings.json next to the executable; see device-samples/README.md.
        """);
    return 0;
}

bool simulate = args.Contains("--simulate");
string[] hostArgs;
try
{
    hostArgs = ModelFlag.ToConfiguration([.. args.Where(a => a != "--simulate")]);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"edge-sensord: {e.Message}");
    return 2;
}
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = hostArgs, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddEnvironmentVariables("EDGE_");
builder.Configuration.AddCommandLine(hostArgs); // the command line wins over EDGE_ variables

var options = new SensorDaemonOptions();
builder.Configuration.Bind(options);
var errors = options.Validate();
if (errors.Count > 0)
{
    Console.Error.WriteLine("edge-sensord: the configuration has problems:");
    foreach (var error in errors)
        Console.Error.WriteLine("  - " + error);
    return 2;
}

ITextGenerator generator;
try
{
    string modelPath = string.IsNullOrWhiteSpace(options.Model.Path) ? LocateBundledModel() : options.Model.Path;
    generator = EdgeTextGenerator.Load(modelPath, options.Model.Threads);
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"edge-sensord: cannot load the model: {e.Message}");
    return 1;
}

builder.Services.AddSystemd();
builder.Services.AddSingleton(options);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(generator);
builder.Services.AddSingleton<LatestReadings>();
builder.Services.AddSingleton(sp => new TriggerQueue(options.Queue, sp.GetRequiredService<TimeProvider>()));
SimulatedBoard? simulatedBoard = simulate ? new SimulatedBoard(options.Bme280.Address, options.Lcd.Address) : null;
builder.Services.AddSingleton<IDeviceBoard>(simulatedBoard ?? (IDeviceBoard)new HardwareBoard(options.Gpio.Chip));
builder.Services.AddHostedService(sp => new SensorTriggerService(
    options,
    sp.GetRequiredService<IDeviceBoard>(),
    generator,
    sp.GetRequiredService<TriggerQueue>(),
    sp.GetRequiredService<LatestReadings>(),
    options.Mqtt.Enabled ? new MqttLink(options.Mqtt, options.Mqtt.ResolvedClientId, sp.GetRequiredService<ILoggerFactory>().CreateLogger<MqttLink>()) : null,
    Array.Empty<IGenerationSink>(),
    sp.GetRequiredService<TimeProvider>(),
    sp.GetRequiredService<ILoggerFactory>()));
if (simulatedBoard is not null)
{
    builder.Services.AddSingleton(simulatedBoard);
    builder.Services.AddHostedService<KeyboardTriggers>();
    builder.Services.AddHostedService(_ => new TerminalLcdRenderer(simulatedBoard.Lcd, Console.Out));
}

using var host = builder.Build();
try
{
    await host.RunAsync();
    return 0;
}
catch (Exception e) when (e is not OperationCanceledException)
{
    // Start-up failures (the model's warm-up generation, for example) end here; the journal gets one clear line.
    Console.Error.WriteLine($"edge-sensord: stopped: {e.Message}");
    return 1;
}
finally
{
    (generator as IDisposable)?.Dispose();
}

static string LocateBundledModel()
{
    try
    {
        return BundledModel.Locate();
    }
    catch (FileNotFoundException)
    {
        throw new FileNotFoundException(
            $"No model given and the bundled {BundledModel.FileName} is neither in ./models nor beside the executable. " +
            $"Pass -m <file.edge>, set Model:Path in appsettings.json or {BundledModel.Variable}, or copy models/{BundledModel.FileName} next to edge-sensord.");
    }
}
