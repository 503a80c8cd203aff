using System.CommandLine;
using System.CommandLine.Parsing;

namespace Edge.CommandLine;

/// <summary>
/// One line on stderr for a command line that does not parse, in place of System.CommandLine's default (every error,
/// then the whole help on stdout, which breaks a <c>--json</c> pipe, and .NET type names such as "System.Single").
/// Shared by <c>edge</c>, <c>edge-pack</c> and the modes of bench/Edge.Benchmarks.
/// </summary>
static class ParseErrorText
{
    /// <summary>Writes the first error and where to find the usage; returns the exit code for a usage error.</summary>
    public static int Report(ParseResult parse, string program, TextWriter stderr)
    {
        // A word the parser did not know explains the rest ("--prompt is required" after a misspelt --prompt).
        var first = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
        stderr.WriteLine($"{program}: error: {Describe(first)} Run '{CommandPath(parse.CommandResult.Command, program)} --help' for the usage.");
        return 1;
    }

    static string Describe(ParseError error)
    {
        var option = error.SymbolResult switch
        {
            OptionResult o => o,
            ArgumentResult { Parent: OptionResult o } => o,
            _ => null,
        };
        if (option is not null && error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal))
        {
            string given = string.Join(" ", option.Tokens.Select(t => t.Value));
            return $"{option.Option.Name} takes {Expected(option.Option.ValueType)}; \"{given}\" is not one.";
        }
        string message = error.Message.Trim();
        return message.EndsWith('.') ? message : message + ".";
    }

    static string Expected(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(int) || t == typeof(long) => "a whole number",
        var t when t == typeof(uint) || t == typeof(ulong) => "a whole number ≥ 0",
        var t when t == typeof(float) || t == typeof(double) => "a number (e.g. 0.8)",
        var t when t == typeof(bool) => "true or false",
        _ => "a different value",
    };

    /// <summary>"edge generate": the root is named after the program, not after the process (a test host, say).</summary>
    static string CommandPath(Command command, string program)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is not null; s = s.Parents.FirstOrDefault())
            names.Add(s is RootCommand ? program : s.Name);
        names.Reverse();
        return string.Join(" ", names);
    }
}
