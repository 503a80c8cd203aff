using System.CommandLine;
using Edge.Cli.Commands;
using Edge.CommandLine;

namespace Edge.Cli;

public static class Program
{
    public static Task<int> Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given streams (tests call this directly).</summary>
    public static async Task<int> Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Edge: run MatMul-free (HGRN-Bit) language models on small devices.")
        {
            GenerateCommand.Create(stdout, stderr),
            ChatCommand.Create(stdout, stderr),
            PerplexityCommand.Create(stdout, stderr),
            InspectCommand.Create(stdout, stderr),
            BenchCommand.Create(stdout, stderr),
            FpgaCommand.Create(stdout, stderr),
            ServeCommand.Create(stdout, stderr),
        };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
            return ParseErrorText.Report(parse, "edge", stderr);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return await parse.InvokeAsync(config);
    }
}
