using System.Diagnostics;
using Edge.Tests.Helpers;
using Edge.Tests.Shared;

namespace Edge.Tests.Cli;

public class ChatAndPromptCacheTests
{
    static readonly string Model = RepositoryFile.BundledModel();

    [Fact]
    public void GenerateWithLookupPrintsThePlainTextAndTheAcceptanceRate()
    {
        string[] args = ["generate", "-m", Model, "-p", "1:1 In the beginning God created the heaven and the earth. 1:1 In the beginning", "-n", "32", "--temp", "0", "--json"];
        var plain = CliRun.Invoke(args);
        var lookup = CliRun.Invoke([.. args, "--lookup", "4"]);
        Assert.Equal(0, plain.ExitCode);
        Assert.Equal(0, lookup.ExitCode);
        Assert.Equal(plain.Stdout, lookup.Stdout);
        Assert.DoesNotContain("prompt lookup", plain.Stderr);
        Assert.Matches(@"prompt lookup: \d+ of \d+ drafted tokens accepted", lookup.Stderr);
    }

    [Fact]
    public void GenerateStopsAtAStopStringWithoutPrintingIt()
    {
        var free = CliRun.Invoke("generate", "-m", Model, "-p", "And the LORD said unto Moses", "-n", "24", "--temp", "0", "--json");
        string text = free.Stdout.Split('\n')[0];
        string stop = text.Substring(8, 3);
        var cut = CliRun.Invoke("generate", "-m", Model, "-p", "And the LORD said unto Moses", "-n", "24", "--temp", "0", "--stop", "zzz", "--stop", stop);
        Assert.Equal(0, cut.ExitCode);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], cut.Stdout.TrimEnd('\n'));
        Assert.Contains("finish stop", cut.Stderr);
        CliRun.Invoke("generate", "-m", Model, "-p", "x", "--stop", "").AssertError("Stop sequence 1 is empty");
    }

    [Fact]
    public void ThePromptCacheIsRestoredForTheSamePromptAndRefusedForAnotherModel()
    {
        using var temp = new TempDirectory();
        string cache = temp.File("prompt.cache");
        string[] args = ["generate", "-m", Model, "-p", "In the beginning God created the heaven and the earth.", "-n", "8", "--temp", "0", "--prompt-cache", cache];
        var first = CliRun.Invoke(args);
        Assert.Equal(0, first.ExitCode);
        Assert.Matches(@"saved (\d+) prompt tokens", first.Stderr);
        int tokens = int.Parse(System.Text.RegularExpressions.Regex.Match(first.Stderr, @"saved (\d+) prompt tokens").Groups[1].Value);
        var second = CliRun.Invoke(args);
        Assert.Contains($"{tokens - 1} of {tokens} prompt tokens restored", second.Stderr);
        Assert.Equal(first.Stdout, second.Stdout);
        Assert.Equal(CliRun.Invoke(args[..^2]).Stdout, second.Stdout);

        // A different prompt starts over and replaces the cache.
        var other = CliRun.Invoke(["generate", "-m", Model, "-p", "Blessed are the meek", "-n", "2", "--prompt-cache", cache]);
        Assert.Contains("saved", other.Stderr);

        // The cache names the model: change one byte of the state's fingerprint (after the 16-byte header and the ids).
        var bytes = File.ReadAllBytes(cache);
        int count = BitConverter.ToInt32(bytes, 12);
        bytes[16 + 4 * count + 32] ^= 1;
        File.WriteAllBytes(cache, bytes);
        CliRun.Invoke(args).AssertError("belongs to another model", "--prompt-cache");
    }

    [Fact]
    public async Task ChatKeepsHistoryInTheStateSavesLoadsAndExitsAtEndOfInput()
    {
        using var temp = new TempDirectory();
        string saved = temp.File("talk.chat");
        var run = await Edge("chat", "-m", Model, "--system", "Answer briefly.", "--temp", "0", "-n", "12", "--timings")
            .Input($"Who made the light?\n/help\nAnd then?\n/save {saved}\n/nonsense\n/load {temp.File("missing")}\n");
        Assert.Equal(0, run.ExitCode);
        var reads = System.Text.RegularExpressions.Regex.Matches(run.Stderr, @"\(read (\d+) new tokens of (\d+)");
        Assert.Equal(2, reads.Count);
        Assert.Equal(reads[0].Groups[2].Value, reads[0].Groups[1].Value);
        Assert.True(int.Parse(reads[1].Groups[1].Value) < 20, run.Stderr);
        Assert.True(int.Parse(reads[1].Groups[2].Value) > 40, run.Stderr);
        Assert.Contains("/reset", run.Stderr);
        Assert.Contains("Unknown command /nonsense", run.Stderr);
        Assert.Contains("edge: error:", run.Stderr);
        Assert.True(File.Exists(saved));

        // The saved conversation continues exactly as the live one would have.
        var live = await Edge("chat", "-m", Model, "--system", "Answer briefly.", "--temp", "0", "-n", "12")
            .Input("Who made the light?\nAnd then?\nWhy?\n");
        var loaded = await Edge("chat", "-m", Model, "--temp", "0", "-n", "12").Input($"/load {saved}\nWhy?\n");
        Assert.Contains("(loaded 5 turns", loaded.Stderr);
        string lastLive = live.Stdout.Split("> ")[^2];
        Assert.Equal(lastLive, loaded.Stdout.Split("> ")[^2]);
    }

    [Fact]
    public async Task CtrlCStopsTheReplyNotTheProgram()
    {
        var process = Edge("chat", "-m", Model, "--temp", "0", "-n", "100000");
        process.Start();
        // Start-up and model load take seconds on a busy machine: send the message once the REPL is up.
        await process.WaitForStderrAsync("edge chat: ", TimeSpan.FromSeconds(60));
        await process.Stdin.WriteLineAsync("Tell me everything.");
        await process.Stdin.FlushAsync(TestContext.Current.CancellationToken);
        await Task.Delay(2000, TestContext.Current.CancellationToken);
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        await process.Stdin.WriteLineAsync("/exit");
        var run = await process.Finish();
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("(stopped)", run.Stderr);
    }

    static EdgeProcess Edge(params string[] args) => new(args);

    sealed class EdgeProcess(string[] args)
    {
        readonly Process _process = new()
        {
            StartInfo = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "edge.dll"), .. args])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            },
        };
        readonly System.Text.StringBuilder _stdout = new();
        readonly System.Text.StringBuilder _stderr = new();

        public int Id => _process.Id;

        public StreamWriter Stdin => _process.StandardInput;

        public void Start()
        {
            _process.OutputDataReceived += (_, e) => { lock (_stdout) _stdout.Append(e.Data).Append('\n'); };
            _process.ErrorDataReceived += (_, e) => { lock (_stderr) _stderr.Append(e.Data).Append('\n'); };
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public async Task WaitForStderrAsync(string text, TimeSpan timeout)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                lock (_stderr)
                    if (_stderr.ToString().Contains(text, StringComparison.Ordinal))
                        return;
                if (clock.Elapsed > timeout || _process.HasExited)
                    throw new TimeoutException($"edge did not print \"{text}\" within {timeout.TotalSeconds} s; stderr: {_stderr}");
                await Task.Delay(50);
            }
        }

        public async Task<CliRun> Input(string text)
        {
            Start();
            await Stdin.WriteAsync(text);
            return await Finish();
        }

        public async Task<CliRun> Finish()
        {
            Stdin.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await _process.WaitForExitAsync(timeout.Token);
            _process.WaitForExit();
            return new CliRun(_process.ExitCode, _stdout.ToString(), _stderr.ToString());
        }
    }
}
