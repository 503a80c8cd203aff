using Edge.Devices.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Devices.Simulation;

/// <summary>
/// <c>--simulate</c>: fires the simulated devices from the keyboard — b = button, m = motion, t/T = temperature
/// up/down by 1.5 °C, q = quit. Keys act on the simulated pins and registers, so the real bindings see them.
/// With stdin redirected, keys are read from it as characters; when it ends (or there is none, as in CI) keyboard
/// control stops and the daemon keeps running until it is stopped.
/// </summary>
public sealed partial class KeyboardTriggers(SimulatedBoard board, SensorDaemonOptions options, IHostApplicationLifetime lifetime, ILogger<KeyboardTriggers> logger) : BackgroundService
{
    public const double TemperatureStep = 1.5;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Keys pressed before the daemon has opened its devices would go nowhere.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        LogKeys();
        // Console.ReadKey blocks without a cancellation token, so it gets a thread of its own.
        var thread = new Thread(() => ReadKeys(stoppingToken)) { IsBackground = true, Name = "keyboard" };
        thread.Start();
    }

    void ReadKeys(CancellationToken stoppingToken)
    {
        if (Console.IsInputRedirected && !StandardInputIsPipeOrDevice())
        {
            LogNoKeyboard("standard input is closed, or is neither a terminal nor a pipe");
            return;
        }
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                char key;
                if (Console.IsInputRedirected)
                {
                    int c = Console.In.Read();
                    if (c < 0)
                        break;
                    key = (char)c;
                }
                else
                {
                    key = Console.ReadKey(intercept: true).KeyChar;
                }
                if (!Handle(key))
                    return;
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            LogNoKeyboard(e.Message);
            return;
        }
        LogStdinClosed();
    }

    /// <summary>
    /// When a parent closes stdin, descriptor 0 goes to the next file or pipe the process opens (the runtime's own
    /// signal pipe, appsettings.json…), and reading "keys" from it would steal signals or replay that file. So keys
    /// are read only from a terminal, /dev/null, or a pipe whose write end is not held by this process.
    /// </summary>
    static bool StandardInputIsPipeOrDevice()
    {
        const string descriptors = "/proc/self/fd";
        if (!Directory.Exists(descriptors))
            return true; // cannot tell without /proc; trust the redirection
        try
        {
            string? target = new FileInfo(descriptors + "/0").LinkTarget;
            if (target is null)
                return false;
            // Not any device: the runtime may hold /dev/urandom open, which would be a stream of random "keys".
            if (target == "/dev/null" || target.StartsWith("/dev/pts/", StringComparison.Ordinal) || target.StartsWith("/dev/tty", StringComparison.Ordinal))
                return true;
            if (!target.StartsWith("pipe:", StringComparison.Ordinal))
                return false;
            // The runtime's own pipes have their write end open here too; a pipe from a parent does not.
            foreach (var entry in new DirectoryInfo(descriptors).EnumerateFileSystemInfos())
                if (entry.Name != "0" && entry.LinkTarget == target && IsOpenForWriting(entry.Name))
                    return false;
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Reads the access mode from /proc/self/fdinfo ("flags:" is octal; the low two bits are O_WRONLY/O_RDWR).</summary>
    static bool IsOpenForWriting(string descriptor)
    {
        foreach (var line in File.ReadLines("/proc/self/fdinfo/" + descriptor))
            if (line.StartsWith("flags:", StringComparison.Ordinal))
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & 3) != 0;
        return false;
    }

    /// <summary>Acts on one key; false after q.</summary>
    public bool Handle(char key)
    {
        switch (key)
        {
            case 'b' when options.Gpio.ButtonPin is int pin:
                LogKey("button press", pin);
                board.Gpio.PressButton(pin);
                break;
            case 'm' when options.Gpio.MotionPin is int pin:
                LogKey("motion", pin);
                board.Gpio.SetInput(pin, System.Device.Gpio.PinValue.High);
                board.Gpio.SetInput(pin, System.Device.Gpio.PinValue.Low);
                break;
            case 't' or 'T':
                double celsius = board.Bme280.Temperature + (key == 't' ? TemperatureStep : -TemperatureStep);
                board.Bme280.SetTemperature(celsius);
                LogTemperature(celsius);
                break;
            case 'q':
                lifetime.StopApplication();
                return false;
        }
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Simulation keys: b = button, m = motion, t/T = temperature up/down, q = quit")]
    partial void LogKeys();

    [LoggerMessage(Level = LogLevel.Information, Message = "Simulated {What} on GPIO {Pin}")]
    partial void LogKey(string what, int pin);

    [LoggerMessage(Level = LogLevel.Information, Message = "Simulated BME280 now reads {Celsius:0.0} °C")]
    partial void LogTemperature(double celsius);

    [LoggerMessage(Level = LogLevel.Information, Message = "Standard input ended: keyboard triggers are off; stop with Ctrl+C or SIGTERM")]
    partial void LogStdinClosed();

    [LoggerMessage(Level = LogLevel.Warning, Message = "No keyboard available ({Message}): keyboard triggers are off")]
    partial void LogNoKeyboard(string message);
}
