using Edge.Runtime;
using Edge.Runtime.Kernels;
using Edge.Tests.Helpers;
using Edge.Tests.Packer;

namespace Edge.Tests.Cli;

/// <summary>Mistakes a new user makes on the command line: each is one line on stderr in users' words, nothing on stdout.</summary>
public sealed class CliUsageErrorTests() : TinyModelTests(temp => TestModels.PackTinyCheckpoint(temp, seed: 5))
{
    static void AssertOneLine(CliRun run, params string[] fragments)
    {
        run.AssertError(fragments);
        Assert.Equal("", run.Stdout); // no help text on stdout: a --json pipe stays clean
        string line = Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("edge: error: ", line);
        Assert.DoesNotContain("System.", line);
        Assert.DoesNotContain("`1", line);
    }

    [Fact]
    public void AValueOfTheWrongTypeNamesTheFlagAndWhatItTakes()
    {
        AssertOneLine(CliRun.Invoke("generate", "-m", _model, "-p", "x", "--temp", "abc", "--json"), "--temp takes a number", "\"abc\"", "edge generate --help");
        AssertOneLine(CliRun.Invoke("generate", "-m", _model, "-p", "x", "--seed", "-1"), "--seed takes a whole number ≥ 0", "\"-1\"");
        AssertOneLine(CliRun.Invoke("perplexity", "-m", _model, "-f", "x.txt", "--max-tokens", "many"), "--max-tokens takes a whole number");
    }

    [Fact]
    public void AnUnknownWordIsReportedBeforeWhatItsMisspellingLeftOut()
    {
        AssertOneLine(CliRun.Invoke("generate", "-m", _model, "--promt", "x"), "--promt");
        AssertOneLine(CliRun.Invoke("frobnicate"), "frobnicate", "edge --help");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("999")]
    [InlineData("20000")]
    public void ThreadCountsOutsideOneToTheCoresAreRefused(string threads)
    {
        AssertOneLine(CliRun.Invoke("generate", "-m", _model, "-p", "x", "-n", "1", "-t", threads), $"--threads {threads} is out of range", $"1 to {Environment.ProcessorCount}");
        AssertOneLine(CliRun.Invoke("bench", "-m", _model, "-t", $"1,{threads}"), $"--threads {threads} is out of range");
    }

    [Fact]
    public void TheLibraryRefusesThousandsOfThreadsInsteadOfAborting()
    {
        var e = Assert.Throws<ArgumentException>(() => EdgeModel.Load(_model, new LoadOptions { Threads = 20000 }));
        Assert.Contains($"1 to {TernaryExecutor.MaxThreads}", e.Message);
        Assert.Throws<ArgumentException>(() => new TernaryExecutor(KernelFactory.Available[0], TernaryExecutor.MaxThreads + 1));
    }

    [Fact]
    public void AFolderGivenAsTheModelIsCalledAFolder()
    {
        AssertOneLine(CliRun.Invoke("generate", "-m", _temp.Folder("models"), "-p", "x"), "is a folder", ".edge file");
        AssertOneLine(CliRun.Invoke("inspect", "-m", _temp.Folder("models")), "is a folder");
        AssertOneLine(CliRun.Invoke("bench", "-m", _temp.Folder("models")), "is a folder");
    }

    [Fact]
    public void AnUnknownKernelFromTheFlagDoesNotBlameTheEnvironmentVariable()
    {
        var run = CliRun.Invoke("generate", "-m", _model, "-p", "x", "--kernel", "bogus");
        AssertOneLine(run, "\"bogus\"", "Available: ");
        Assert.DoesNotContain(KernelFactory.OverrideVariable, run.Stderr);
    }

    [Fact]
    public void JsonOutputKeepsQuotesAndNonAsciiTextReadable()
    {
        string json = System.Text.Json.JsonSerializer.Serialize(new Edge.Cli.Commands.GenerateJson([1], [2], "He said \"yes\" at 25 °C & left"), Edge.Cli.Commands.CliJsonContext.Output.GenerateJson);
        Assert.Equal("{\"prompt_tokens\":[1],\"tokens\":[2],\"text\":\"He said \\\"yes\\\" at 25 °C & left\"}", json);
    }
}
