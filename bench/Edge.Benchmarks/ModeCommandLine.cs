using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Edge.CommandLine;

namespace Edge.Benchmarks;

/// <summary>
/// The command line of the compare, peak and interleave modes, parsed by System.CommandLine as edge's is: a mistake is
/// one line on stderr (<see cref="ParseErrorText"/>, shared with edge and edge-pack), nothing on stdout, exit code 1.
/// Also the options more than one mode takes, so that each rule (thread lists, shape sets, numbers, model files) is
/// written once.
/// </summary>
static class ModeCommandLine
{
    const string ProgramName = "Edge.Benchmarks";

    static RootCommand Root() => new()
    {
        CompareMode.CreateCommand(),
        PeakMode.CreateCommand(),
        InterleaveMode.CreateCommand(),
    };

    public static bool IsMode(string word) => Root().Subcommands.Any(c => c.Name == word);

    public static int Run(string[] args)
    {
        var parse = Root().Parse(args);
        if (parse.Errors.Count > 0)
            return ParseErrorText.Report(parse, ProgramName, Console.Error);
        return parse.Invoke();
    }

    /// <summary>Every mode's help, one after another (the program's own --help, before BenchmarkDotNet's).</summary>
    public static void PrintHelp()
    {
        var root = Root();
        foreach (var mode in root.Subcommands)
        {
            root.Parse([mode.Name, "--help"]).Invoke();
            Console.WriteLine();
        }
    }

    // The list options state their default in the description and the modes apply it (ValueOr): System.CommandLine's
    // own default would print in the help through ToString, e.g. "1|2" for 1,2 and type names for a list of kernels.

    /// <summary>The option's value, or <paramref name="fallback"/> where the command line leaves it out.</summary>
    /// <remarks>Not GetValue(...) ?? fallback: an array option left out reads as an empty array, not null.</remarks>
    public static T ValueOr<T>(this ParseResult parse, Option<T> option, T fallback) =>
        parse.GetResult(option) is null ? fallback : parse.GetValue(option)!;

    public static readonly int[] DefaultThreads = [1, 2];

    public static Option<int[]> Threads() => new("--threads")
    {
        Description = $"Comma-separated thread counts [default: {string.Join(",", DefaultThreads)}]",
        HelpName = "n,n",
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = result => ParseList(result, "--threads",
            t => int.TryParse(t, out int n) && n >= 1 ? n : throw new ArgumentException($"--threads takes whole numbers ≥ 1 (got \"{t}\").")),
    };

    /// <param name="withNone">Whether "none" (no shape: skip what is measured per shape) is a choice.</param>
    public static Option<IReadOnlyList<GemvShape>> Shapes(string defaultName, bool withNone)
    {
        string choices = withNone ? "370m, 2.7b, all or none" : "370m, 2.7b or all";
        return new("--shapes")
        {
            Description = $"MMfreeLM GEMV shapes: {choices} [default: {defaultName}]",
            HelpName = withNone ? "370m|2.7b|all|none" : "370m|2.7b|all",
            CustomParser = result => ParseOrReport(result, () =>
            {
                string which = result.Tokens[0].Value.ToLowerInvariant();
                return which switch
                {
                    "all" => GemvShape.All,
                    "none" when withNone => [],
                    _ => ShapesNamed(which) is { Count: > 0 } picked ? picked : throw new ArgumentException($"--shapes takes {choices} (got \"{which}\")."),
                };
            }),
        };
    }

    public static IReadOnlyList<GemvShape> ShapesNamed(string model) =>
        model == "all" ? GemvShape.All : [.. GemvShape.All.Where(s => s.Model.Equals(model, StringComparison.OrdinalIgnoreCase))];

    public static Option<int> WholeNumber(string name, int defaultValue, string description) => new(name)
    {
        Description = description,
        HelpName = "n",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseOrReport(result,
            () => int.TryParse(result.Tokens[0].Value, out int n) && n >= 1 ? n : throw new ArgumentException($"{name} takes a whole number ≥ 1.")),
    };

    public static Option<double> PositiveNumber(string name, double defaultValue, string description) => new(name)
    {
        Description = description,
        HelpName = "x",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseOrReport(result,
            () => double.TryParse(result.Tokens[0].Value, CultureInfo.InvariantCulture, out double x) && x > 0 ? x : throw new ArgumentException($"{name} takes a positive number.")),
    };

    /// <summary>Whether <paramref name="path"/> names a file; if not, a parse error that says how to make one.</summary>
    public static bool CheckModelExists(SymbolResult result, string path)
    {
        if (File.Exists(path))
            return true;
        result.AddError($"The model file {path} does not exist (create one with `edge-pack synth --preset 370m -o {path}`).");
        return false;
    }

    /// <summary>Every comma-separated item of the option's value or values, read by <paramref name="item"/>; at least one.</summary>
    public static T[] ParseList<T>(ArgumentResult result, string name, Func<string, T> item) => ParseOrReport(result, () =>
    {
        var items = result.Tokens
            .SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Select(item)
            .ToArray();
        return items.Length > 0 ? items : throw new ArgumentException($"{name} needs at least one value.");
    }) ?? [];

    /// <summary>
    /// Runs <paramref name="parse"/>, the mode's own reading of an option's text; the message of the
    /// <see cref="ArgumentException"/> it throws for text that is not a value becomes a parse error.
    /// </summary>
    public static T? ParseOrReport<T>(ArgumentResult result, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e)
        {
            result.AddError(e.Message);
            return default;
        }
    }
}
