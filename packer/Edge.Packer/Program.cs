using System.CommandLine;
using Edge.CommandLine;
using Edge.Packer.Safetensors;

namespace Edge.Packer;

internal static class Program
{
    public static Task<int> Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs edge-pack with the given streams: progress goes to <paramref name="stderr"/>, the summary to <paramref name="stdout"/>.</summary>
    public static async Task<int> Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var checkpoint = new Argument<string>("checkpoint-dir") { Description = "HuggingFace checkpoint folder (config.json, tokenizer.model, model.safetensors or shards + index)" };
        var output = OutputOption();
        var name = NameOption();
        var force = ForceOption();
        var packing = PackingOption();
        const string about = "edge-pack: convert a MatMul-free LM (HGRN-Bit) checkpoint into an Edge model file.";
        var root = new RootCommand(about)
        {
            checkpoint, output, name, force, packing,
            SynthCommand(stdout, stderr),
        };
        root.SetAction((parse, cancel) => Guard(stdout, stderr, () =>
            new CheckpointPacker(stderr) { Packing = Packings[parse.GetValue(packing)!] }.Pack(parse.GetValue(checkpoint)!, parse.GetValue(output)!, parse.GetValue(name), parse.GetValue(force), cancel)));
        // `synth` is parsed under a root without the checkpoint argument: System.CommandLine shows a parent's
        // arguments in a subcommand's usage, and synth takes no checkpoint.
        if (args.Length > 0 && args[0] == "synth")
            root = new RootCommand(about) { SynthCommand(stdout, stderr) };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
            return ParseErrorText.Report(parse, "edge-pack", stderr);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return await parse.InvokeAsync(config);
    }

    static Command SynthCommand(TextWriter stdout, TextWriter stderr)
    {
        var preset = new Option<string?>("--preset") { Description = "Official model size" };
        preset.AcceptOnlyFromAmong([.. SyntheticShape.Presets.Keys]);
        var hidden = new Option<int?>("--hidden") { Description = "Custom hidden size H" };
        var layers = new Option<int?>("--layers") { Description = "Custom number of layers L" };
        var vocab = new Option<int?>("--vocab") { Description = "Custom vocabulary size V (at least the placeholder tokenizer's 512 pieces)" };
        var intermediate = new Option<int?>("--intermediate") { Description = "Custom MLP width I (default: the official rule from H)" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed gives the same file", DefaultValueFactory = _ => 1 };
        var output = OutputOption();
        var name = NameOption();
        var force = ForceOption();
        var packing = PackingOption();
        var command = new Command("synth", "Write a model of the official shapes with random weights (for benchmarks; its tokenizer is a placeholder)")
        {
            preset, hidden, layers, vocab, intermediate, seed, output, name, force, packing,
        };
        command.SetAction((parse, cancel) => Guard(stdout, stderr, () =>
        {
            var shape = SyntheticShapeFrom(parse.GetValue(preset), parse.GetValue(hidden), parse.GetValue(layers), parse.GetValue(vocab), parse.GetValue(intermediate));
            return new SyntheticModel(stderr) { Packing = Packings[parse.GetValue(packing)!] }.Write(shape, parse.GetValue(seed), parse.GetValue(output)!, parse.GetValue(name), parse.GetValue(force), cancel);
        }));
        return command;
    }

    static SyntheticShape SyntheticShapeFrom(string? preset, int? hidden, int? layers, int? vocab, int? intermediate)
    {
        bool custom = hidden is not null || layers is not null || vocab is not null || intermediate is not null;
        if (preset is not null)
            return custom
                ? throw new PackerException("Give either --preset or custom dimensions (--hidden, --layers, --vocab, --intermediate), not both.")
                : SyntheticShape.Presets[preset];
        if (hidden is not int h || layers is not int l || vocab is not int v)
            throw new PackerException("Give --preset 370m|1.3b|2.7b, or all of --hidden, --layers and --vocab.");
        if (h <= 0)
            throw new PackerException($"--hidden {h} must be positive.");
        if (l <= 0)
            throw new PackerException($"--layers {l} must be positive.");
        int pieces = SyntheticModel.PlaceholderTokenizer().PieceCount;
        if (v < pieces)
            throw new PackerException($"--vocab {v} is smaller than the {pieces} pieces of the placeholder tokenizer every synthetic model carries; give --vocab {pieces} or more.");
        if (intermediate is <= 0)
            throw new PackerException($"--intermediate {intermediate} must be positive.");
        return new SyntheticShape($"{h}x{l}", h, l, v, intermediate ?? Format.Container.HgrnBitConfig.DefaultIntermediateSize(h, 4));
    }

    static Option<string> OutputOption() => new("--output", "-o") { Description = "Model file to write", Required = true };

    static Option<string?> NameOption() => new("--name") { Description = "Model name stored in the metadata" };

    /// <summary>The <c>--packing</c> values and the tensor types they write.</summary>
    static readonly Dictionary<string, Format.Container.TensorType> Packings = new()
    {
        ["2bit"] = Format.Container.TensorType.Ternary2,
        ["1.6bit"] = Format.Container.TensorType.TernaryFiveTrit,
    };

    static Option<string> PackingOption()
    {
        var option = new Option<string>("--packing")
        {
            Description = "Ternary weight layout: 2bit (every CPU) or 1.6bit (five weights per byte, 19-20 % smaller; read directly by x86 CPUs with AVX-512 VBMI, repacked to 2-bit at load elsewhere)",
            DefaultValueFactory = _ => "2bit",
        };
        option.AcceptOnlyFromAmong([.. Packings.Keys]);
        return option;
    }

    static Option<bool> ForceOption() => new("--force") { Description = "Overwrite the output file if it exists" };

    /// <summary>
    /// Runs a pack on the thread pool, turning user errors into one line on stderr and exit code 1. The work must
    /// not run on the invoking thread: System.CommandLine hooks Ctrl+C/SIGTERM only once the action has returned
    /// its task, and the hook is what cancels the pack so the temporary file is deleted.
    /// </summary>
    static Task<int> Guard(TextWriter stdout, TextWriter stderr, Func<PackSummary> body) => Task.Run(() =>
    {
        try
        {
            var summary = body();
            stdout.WriteLine($"edge-pack: wrote {summary.OutputPath}: {summary.TensorCount} tensors, {Edge.Format.Text.ByteSize.Format(summary.Bytes)} ({summary.Bytes} bytes) in {summary.Elapsed.TotalSeconds:F1} s");
            return 0;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("edge-pack: cancelled; no output was written.");
            return 130;
        }
        catch (Exception e) when (e is PackerException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            stderr.WriteLine($"edge-pack: error: {e.Message}");
            return 1;
        }
    }, CancellationToken.None);
}
