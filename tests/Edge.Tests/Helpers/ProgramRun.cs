namespace Edge.Tests.Helpers;

/// <summary>Runs a command-line program through its in-process entry point and captures what it prints.</summary>
static class ProgramRun
{
    /// <param name="run">The program's <c>Program.Run(args, stdout, stderr)</c>.</param>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> Capture(Func<string[], TextWriter, TextWriter, Task<int>> run, string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
