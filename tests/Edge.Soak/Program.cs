using System.Globalization;

namespace Edge.Soak;

/// <summary>
/// <c>edge-soak library [--tokens N] [--per-generation N] [--sample-every N] [--warmup N] [--tolerance-kib N] [--model F] [--no-collect]</c>
/// , <c>edge-soak daemon [--minutes N] [--warmup-minutes N] [--tolerance-kib N] [--model F] [--no-collect]</c>
/// and <c>edge-soak serve [--minutes M | --tokens N] [--clients N] [--sample-every N] [--warmup N] [--tolerance-kib N]
/// [--parallel N] [--queue N] [--edge FILE] [--model F] [--no-collect]</c>: see <see cref="LibrarySoak"/>,
/// <see cref="DaemonSoak"/> and <see cref="ServeSoak"/>. Each prints its samples and one verdict line; exit 0
/// when everything held, 1 when not, 2 for a usage error.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        const string usage = "usage: edge-soak library|daemon|serve [options] (see docs/RELIABILITY.md)";
        if (args.Length == 0)
        {
            Console.Error.WriteLine(usage);
            return 2;
        }
        try
        {
            var options = new Options(args[1..]);
            return args[0] switch
            {
                "library" => await LibrarySoak.RunAsync(options),
                "daemon" => await DaemonSoak.RunAsync(options),
                "serve" => await ServeSoak.RunAsync(options),
                _ => throw new ArgumentException($"unknown soak \"{args[0]}\"; {usage}"),
            };
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException)
        {
            Console.Error.WriteLine($"edge-soak: error: {e.Message}");
            return 2;
        }
        catch (TimeoutException e)
        {
            Console.Error.WriteLine($"edge-soak: FAILED: {e.Message}");
            return 1;
        }
    }

    /// <summary>The bundled model (models/*.edge), looked for upwards from the tool's folder and the working folder.</summary>
    public static string BundledModel()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "models")) && Directory.GetFiles(Path.Combine(dir.FullName, "models"), "*.edge") is [var model, ..])
                    return model;
        throw new FileNotFoundException("No models/*.edge found above the working folder; pass --model FILE.");
    }
}

/// <summary><c>--name value</c> pairs.</summary>
public sealed class Options
{
    readonly Dictionary<string, string> _values = [];

    public Options(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"expected an --option, got \"{args[i]}\"");
            bool flag = i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal);
            _values[args[i]] = flag ? "" : args[++i];
        }
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string Get(string name, Func<string> fallback) => _values.TryGetValue(name, out var v) ? v : fallback();

    public string Get(string name, string fallback) => _values.GetValueOrDefault(name, fallback);

    public long GetLong(string name, long fallback) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0 ? n
        : throw new ArgumentException($"{name} must be a positive whole number, not \"{v}\"");
}
