using Edge.Tests.Helpers;

namespace Edge.Tests.Cli;

/// <summary>Runs the edge CLI in-process and captures what it prints.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public static CliRun Invoke(params string[] args) => InvokeAsync(args).GetAwaiter().GetResult();

    public static async Task<CliRun> InvokeAsync(params string[] args)
    {
        var (code, stdout, stderr) = await ProgramRun.Capture(Edge.Cli.Program.Run, args);
        return new CliRun(code, stdout, stderr);
    }

    public string LastLine => Stdout.TrimEnd('\n').Split('\n')[^1];

    /// <summary>Asserts a user error: non-zero exit, a readable message containing every fragment, no stack trace.</summary>
    public void AssertError(params string[] fragments)
    {
        Assert.NotEqual(0, ExitCode);
        foreach (string fragment in fragments)
            Assert.Contains(fragment, Stderr);
        Assert.DoesNotContain("   at ", Stderr);
    }
}
