using System.CommandLine;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Kernels;

namespace Edge.Cli.Commands;

/// <summary>Options shared by the commands that load a model; names follow llama.cpp's.</summary>
sealed class CommonOptions
{
    public Option<string?> Model { get; } = new("--model", "-m") { Description = $"Model file (.edge) written by edge-pack (default: ${BundledModel.Variable}, then the bundled {BundledModel.FileName})" };

    public Option<int?> Threads { get; } = new("--threads", "-t") { Description = $"Worker threads, 1 to {Environment.ProcessorCount} (this machine's logical cores; default: one per physical core, {TernaryExecutor.DefaultThreads})" };

    public Option<string?> Kernel { get; } = new("--kernel") { Description = "Force a ternary kernel (see `edge inspect --cpu`); also EDGE_KERNEL" };

    public Option<bool> NoMmap { get; } = new("--no-mmap") { Description = NoMmapDescription };

    public const string NoMmapDescription = "Read the whole model into memory at start-up instead of mapping it: uses RAM equal to the file, no token waits for storage, and on Linux the copy sits in huge pages, which decodes as fast as a fresh page cache or faster";

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Threads);
        command.Options.Add(Kernel);
        command.Options.Add(NoMmap);
    }

    /// <param name="repackFiveTrit">Repack 1.6-bit matrices to 2-bit even where a kernel reads them (for --offload).</param>
    public EdgeModel Load(ParseResult parse, bool repackFiveTrit = false)
    {
        int threads = parse.GetValue(Threads) is int t ? CheckThreads(t) : 0;
        string path = parse.GetValue(Model) ?? BundledModel.Locate();
        return EdgeModel.Load(path, new LoadOptions { Threads = threads, Kernel = parse.GetValue(Kernel), MemoryMap = !parse.GetValue(NoMmap), RepackFiveTrit = repackFiveTrit });
    }

    /// <summary>
    /// More threads than logical cores only makes them wait for each other (and thousands abort the process), and 0
    /// is more likely a slip than a wish for the default, which leaving the flag out gives.
    /// </summary>
    public static int CheckThreads(int threads) =>
        threads >= 1 && threads <= Environment.ProcessorCount
            ? threads
            : throw new ArgumentException($"--threads {threads} is out of range: give 1 to {Environment.ProcessorCount} (the logical cores of this machine), or leave it out for one per physical core.");
}

/// <summary><c>--lookup [k]</c>: prompt-lookup decoding with k drafted tokens per step (default: the library's), off when left out.</summary>
static class LookupOption
{
    public static int DefaultDraftTokens { get; } = new PromptLookupOptions().DraftTokens;

    public static Option<int?> Create(string description) => new("--lookup")
    {
        Description = description,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "k",
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
                return DefaultDraftTokens;
            if (int.TryParse(result.Tokens[0].Value, out int k) && k >= 1)
                return k;
            result.AddError($"--lookup takes the number of tokens to draft, a whole number ≥ 1 (got \"{result.Tokens[0].Value}\").");
            return null;
        },
    };
}
