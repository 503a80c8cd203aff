namespace Edge.Cli.Commands;

/// <summary>Turns the exceptions a user can cause into one line on stderr and exit code 1; bugs still crash loudly.</summary>
static class CliErrors
{
    public static async Task<int> Guard(TextWriter stderr, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            stderr.WriteLine($"edge: error: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("edge: cancelled");
            return 130;
        }
    }

    static bool IsUserError(Exception e) =>
        e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
            or ArgumentException or IOException or NotSupportedException;
}
