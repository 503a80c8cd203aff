using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

/// <summary>Runs edge-pack in-process and captures what it prints.</summary>
public sealed record PackerRun(int ExitCode, string Stdout, string Stderr)
{
    public static PackerRun Invoke(params string[] args)
    {
        var (code, stdout, stderr) = ProgramRun.Capture(Edge.Packer.Program.Run, args).GetAwaiter().GetResult();
        return new PackerRun(code, stdout, stderr);
    }

    /// <summary>Asserts a user error: exit 1, one "edge-pack: error:" line containing every fragment, no stack trace.</summary>
    public void AssertError(params string[] fragments)
    {
        Assert.Equal(1, ExitCode);
        string error = Stderr.Split('\n').Single(l => l.StartsWith("edge-pack: error: ", StringComparison.Ordinal));
        foreach (string fragment in fragments)
            Assert.Contains(fragment, error);
        Assert.DoesNotContain("   at ", Stderr);
    }
}
