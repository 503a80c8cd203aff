namespace Edge.Tests.Cli;

/// <summary>Runs the edge CLI in-process and captures what it prints.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public static CliRun Invoke(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Edge.Cli.Program.Run(args, stdout, stderr).GetAwaiter().GetResult();
        return new CliRun(code, stdout.ToString(), stderr.ToString());
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
