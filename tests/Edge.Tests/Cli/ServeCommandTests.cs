using Edge.Tests.Helpers;

namespace Edge.Tests.Cli;

/// <summary>`edge serve` and `edge serve bench` at the command line: one-line errors, and the bench end to end.</summary>
public sealed class ServeCommandTests() : TinyModelTests(temp => TestModels.WriteSynthetic(temp.File("tiny.edge"), seed: 3))
{
    [Theory]
    [InlineData(new[] { "--port", "abc" }, "--port", "edge serve --help")]
    [InlineData(new[] { "--port", "70000" }, "--port must be in [0, 65535]")]
    [InlineData(new[] { "--parallel", "0" }, "--parallel must be ≥ 1")]
    [InlineData(new[] { "--parallel", "65" }, "--parallel must be ≤ 64")]
    [InlineData(new[] { "--queue", "-1" }, "--queue must be ≥ 0")]
    [InlineData(new[] { "--api-key", "" }, "--api-key must not be empty")]
    [InlineData(new[] { "--host", "not-an-address", "--port", "0" }, "--host must be an IP address or localhost")]
    public void BadServeOptionsGetOneLine(string[] extra, params string[] fragments)
    {
        var run = CliRun.Invoke(["serve", "-m", _model, .. extra]);
        run.AssertError(fragments);
        Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void AMissingModelIsOneLine() =>
        CliRun.Invoke("serve", "-m", _temp.File("missing.edge")).AssertError("missing.edge");

    [Theory]
    [InlineData(new[] { "-N", "0" }, "--streams")]
    [InlineData(new[] { "-N", "1,x" }, "--streams")]
    [InlineData(new[] { "-N", "65" }, "--streams must be ≤ 64")]
    [InlineData(new[] { "--rounds", "0" }, "--rounds must be at least 1")]
    [InlineData(new[] { "--system-tokens", "-5" }, "--system-tokens must be ≥ 0")]
    public void BadBenchOptionsGetOneLine(string[] extra, string fragment) =>
        CliRun.Invoke(["serve", "bench", "-m", _model, .. extra]).AssertError(fragment);

    [Fact]
    public void TheBenchReportsEveryStreamCountTheCeilingAndThePrefixCache()
    {
        var run = CliRun.Invoke("serve", "bench", "-m", _model, "-N", "1,2,3", "-n", "4", "-p", "3", "-r", "2", "--system-tokens", "40", "-t", "1");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("median of 2 round(s)", run.Stdout);
        Assert.Matches(@"Batched-product ceiling: prefill of 512 tokens .* tok/s = [0-9.]+× 1-stream decode", run.Stdout);
        foreach (int n in new[] { 1, 2, 3 })
            Assert.Matches($@"(?m)^\| {n} \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$", run.Stdout);
        Assert.Contains("without cache: prefill", run.Stdout);
        Assert.Contains("(0 tokens cached)", run.Stdout);
        Assert.Contains("(40 tokens cached)", run.Stdout);
    }
}
