using System.CommandLine;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Cli.Commands;

/// <summary><c>edge generate</c>: stream a continuation of a prompt.</summary>
static class GenerateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var common = new CommonOptions();
        var offloadOptions = new OffloadCliOptions();
        var defaults = new SamplingOptions();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var tokens = new Option<int>("--n-predict", "-n") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 128 };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 is greedy", DefaultValueFactory = _ => defaults.Temperature };
        var topK = new Option<int>("--top-k") { Description = "Top-k sampling; 0 disables", DefaultValueFactory = _ => defaults.TopK };
        var topP = new Option<float>("--top-p") { Description = "Top-p (nucleus) sampling; 1 disables", DefaultValueFactory = _ => defaults.TopP };
        var minP = new Option<float>("--min-p") { Description = "Min-p sampling; 0 disables", DefaultValueFactory = _ => defaults.MinP };
        var repeatPenalty = new Option<float>("--repeat-penalty") { Description = "Repetition penalty; 1 disables", DefaultValueFactory = _ => defaults.RepeatPenalty };
        var repeatLastN = new Option<int>("--repeat-last-n") { Description = "Tokens the repetition penalty looks back over", DefaultValueFactory = _ => defaults.RepeatLastN };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed (default: random)" };
        var json = new Option<bool>("--json") { Description = "End stdout with one JSON line: prompt_tokens, tokens, text" };

        var command = new Command("generate", "Generate text from a prompt, streaming it as it is produced");
        common.AddTo(command);
        offloadOptions.AddTo(command);
        foreach (var o in new Option[] { prompt, tokens, temp, topK, topP, minP, repeatPenalty, repeatLastN, seed, json })
            command.Options.Add(o);

        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, async () =>
        {
            int n = parse.GetValue(tokens);
            if (n < 0)
                throw new ArgumentException($"--n-predict must be ≥ 0 (got {n}).");
            var sampling = new SamplingOptions
            {
                Temperature = parse.GetValue(temp),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepeatPenalty = parse.GetValue(repeatPenalty),
                RepeatLastN = parse.GetValue(repeatLastN),
                Seed = parse.GetValue(seed),
            };
            sampling.Validate();
            using var model = common.Load(parse, repackFiveTrit: offloadOptions.Requested(parse));
            using var offload = offloadOptions.Attach(parse, model, stderr);
            var generator = new Generator(model);
            var request = new GenerationRequest { Prompt = parse.GetValue(prompt)!, MaxTokens = n, Sampling = sampling };
            await foreach (var piece in generator.GenerateAsync(request, cancel))
            {
                stdout.Write(piece.Text);
                stdout.Flush();
            }
            stdout.WriteLine();
            var r = generator.LastResult!;
            stderr.WriteLine(
                $"edge: prompt {r.PromptTokens.Length} tokens in {r.PrefillTime.TotalMilliseconds:F1} ms, " +
                $"generated {r.Tokens.Length} tokens in {r.DecodeTime.TotalMilliseconds:F1} ms " +
                $"({(r.Tokens.Length > 0 ? r.Tokens.Length / r.DecodeTime.TotalSeconds : 0):F1} tokens/s), kernel {model.Model.Executor.KernelNames}, seed {r.Seed}");
            if (offload is not null)
                stderr.WriteLine($"edge: {offload.Summary()}");
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonText.Write(w =>
                {
                    w.WriteStartObject();
                    JsonText.WriteArray(w, "prompt_tokens", r.PromptTokens);
                    JsonText.WriteArray(w, "tokens", r.Tokens);
                    w.WriteString("text", r.Text);
                    w.WriteEndObject();
                }));
            }
            return 0;
        }));
        return command;
    }
}
