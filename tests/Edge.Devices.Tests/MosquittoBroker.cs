using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Edge.Devices.Tests;

/// <summary>
/// A real Mosquitto broker for one test, listening on 127.0.0.1 only, with anonymous access. Persistence is off
/// unless asked for (so a restart forgets every session and queued message: the fleet's guarantees must hold without
/// it); with it, the broker writes its database to the test's temp folder on every change, so a kill loses nothing
/// it had acknowledged.
/// Needs the Debian package: <c>apt-get install -y mosquitto</c>.
/// </summary>
sealed class MosquittoBroker : IDisposable
{
    readonly string _directory;
    readonly string _configPath;
    readonly StringBuilder _log = new();
    Process? _process;

    MosquittoBroker(string executable, int port, bool persistent)
    {
        Executable = executable;
        Port = port;
        _directory = Directory.CreateTempSubdirectory("edge-mosquitto-").FullName;
        _configPath = Path.Combine(_directory, "mosquitto.conf");
        File.WriteAllText(_configPath, $"""
            listener {port} 127.0.0.1
            allow_anonymous true
            {(persistent ? $"persistence true\npersistence_location {_directory}/\nautosave_on_changes true\nautosave_interval 1" : "persistence false")}
            max_queued_messages 10000
            log_dest stderr
            log_type error
            log_type warning
            """);
    }

    public string Executable { get; }
    public int Port { get; }

    /// <summary>
    /// Starts a broker on a free loopback port. Without Mosquitto the test is skipped with install instructions on a
    /// developer machine, but fails under CI (CI=true), where .ci/run installs it and a skip would hide a broken setup.
    /// </summary>
    public static async Task<MosquittoBroker> StartAsync(bool persistent = false)
    {
        const string missing = "Mosquitto is not installed, and the MQTT fleet tests need a real broker: run `apt-get install -y mosquitto` " +
            "(Debian/Ubuntu; .ci/run installs it in CI). The tests look for /usr/sbin/mosquitto or mosquitto on PATH.";
        string? executable = Find();
        if (executable is null)
        {
            if (Environment.GetEnvironmentVariable("CI") == "true")
                throw new InvalidOperationException(missing);
            Assert.Skip(missing);
        }
        // Another test may take the free port between the probe and the broker's bind; then try a new one.
        for (int attempt = 1; ; attempt++)
        {
            var broker = new MosquittoBroker(executable, FreeLoopbackPort(), persistent);
            try
            {
                await broker.LaunchAsync();
                return broker;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                broker.Dispose();
            }
        }
    }

    /// <summary>Broker processes started so far (restarts included).</summary>
    public int Launches { get; private set; }

    /// <summary>Kills the broker (SIGKILL, as a crash would) and starts a new one on the same port.</summary>
    public async Task RestartAsync()
    {
        Kill();
        await LaunchAsync();
    }

    static string? Find()
    {
        if (File.Exists("/usr/sbin/mosquitto"))
            return "/usr/sbin/mosquitto";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "mosquitto")))
                return Path.Combine(dir, "mosquitto");
        return null;
    }

    static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    async Task LaunchAsync()
    {
        var start = new ProcessStartInfo(Executable, ["-c", _configPath])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Executable}.");
        process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        Launches++;
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"Mosquitto exited with code {process.ExitCode} on port {Port}: {Log}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port, guard.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(20, guard.Token);
            }
        }
    }

    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            process.WaitForExit();
        }
        _process?.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        Kill();
        Directory.Delete(_directory, recursive: true);
    }
}
