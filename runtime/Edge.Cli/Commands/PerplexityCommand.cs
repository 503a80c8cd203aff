using System.Text.Json;
using System.CommandLine;
using Edge.Runtime.Generation;

namespace Edge.Cli.Commands;

/// <summary><c>edge perplexity</c>: how well the model predicts a text file.</summary>
static class PerplexityCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var common = new CommonOptions();
        var file = new Option<string>("--file", "-f") { Description = "UTF-8 text; every non-empty line is one BOS-prefixed sequence", Required = true };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Score at most this many tokens of the stream" };
        var json = new Option<bool>("--json") { Description = "End stdout with one JSON line: ppl, tokens" };
        var command = new Command("perplexity", "Perplexity of the model on a text file");
        common.AddTo(command);
        command.Options.Add(file);
        command.Options.Add(maxTokens);
        command.Options.Add(json);

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, () =>
        {
            string path = parse.GetValue(file)!;
            if (!File.Exists(path))
                throw new FileNotFoundException($"Text file {path} does not exist.");
            int? limit = parse.GetValue(maxTokens);
            if (limit is < 2)
                throw new ArgumentException("--max-tokens must be at least 2 (one token is context, the rest are scored).");
            using var model = common.Load(parse);
            var stream = Perplexity.Tokenize(model.Tokenizer, Perplexity.ReadLines(path), limit);
            if (stream.Length < 2)
                throw new ArgumentException($"{path} has fewer than 2 tokens of text; nothing to score.");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = Perplexity.Evaluate(model, stream, cancel);
            stderr.WriteLine($"edge: scored {result.Tokens} tokens in {clock.Elapsed.TotalSeconds:F2} s ({result.Tokens / clock.Elapsed.TotalSeconds:F1} tokens/s)");
            stdout.WriteLine($"perplexity: {result.Perplexity:F4} over {result.Tokens} tokens");
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new PerplexityJson(result.Perplexity, result.Tokens), CliJsonContext.Output.PerplexityJson));
            return Task.FromResult(0);
        }));
        return command;
    }
}
