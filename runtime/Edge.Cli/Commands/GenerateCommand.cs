using System.Text.Json;
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
        var stop = new Option<string[]>("--stop") { Description = "Stop when the text contains this string (repeatable); the string itself is not printed", AllowMultipleArgumentsPerToken = false };
        var lookup = LookupOption.Create($"Prompt-lookup decoding: draft k tokens (default {LookupOption.DefaultDraftTokens}) from earlier text and verify them in one batch; the same text, faster where it repeats what came before");
        var promptCache = new Option<string?>("--prompt-cache") { Description = "Save the state after the prompt to FILE, and restore it when the next prompt starts with the same tokens (only for this model)" };

        var command = new Command("generate", "Generate text from a prompt, streaming it as it is produced");
        common.AddTo(command);
        offloadOptions.AddTo(command);
        foreach (var o in new Option[] { prompt, tokens, temp, topK, topP, minP, repeatPenalty, repeatLastN, seed, json, stop, promptCache, lookup })
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
            var session = new Session(model);
            var request = new GenerationRequest
            {
                Prompt = parse.GetValue(prompt)!,
                MaxTokens = n,
                Sampling = sampling,
                Stop = parse.GetValue(stop) ?? [],
                PromptLookup = parse.GetValue(lookup) is int draft ? new PromptLookupOptions { DraftTokens = draft } : null,
            };
            string? cacheFile = parse.GetValue(promptCache);
            var (cacheTime, cached) = cacheFile is null ? default : PromptCache.Prepare(generator, session, request, cacheFile, stderr, cancel);
            GenerationResult? r = null;
            await foreach (var piece in generator.GenerateAsync(session, request, cancel))
            {
                stdout.Write(piece.Text);
                stdout.Flush();
                r = piece.Result ?? r;
            }
            stdout.WriteLine();
            if (r!.FinishReason == FinishReason.Cancelled)
                stderr.WriteLine("edge: cancelled");
            var prefillTime = r.PrefillTime + cacheTime;
            stderr.WriteLine(
                $"edge: prompt {r.PromptTokens.Length} tokens ({(cacheFile is null ? r.Usage.CachedPromptTokens : cached)} from the prompt cache) in {prefillTime.TotalMilliseconds:F1} ms, " +
                $"generated {r.Tokens.Length} tokens in {r.DecodeTime.TotalMilliseconds:F1} ms " +
                $"({(r.Tokens.Length > 0 ? r.Tokens.Length / r.DecodeTime.TotalSeconds : 0):F1} tokens/s), kernel {model.Model.Executor.KernelNames}, seed {r.Seed}, finish {FinishName(r.FinishReason)}");
            if (request.PromptLookup is not null)
                stderr.WriteLine($"edge: prompt lookup: {r.PromptLookup.AcceptedTokens} of {r.PromptLookup.DraftedTokens} drafted tokens accepted ({r.PromptLookup.AcceptanceRate:P0}) in {r.PromptLookup.Batches} verification batches");
            if (offload is not null)
                stderr.WriteLine($"edge: {offload.Summary()}");
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new GenerateJson(r.PromptTokens, r.Tokens, r.Text), CliJsonContext.Output.GenerateJson));
            }
            return r.FinishReason == FinishReason.Cancelled ? 130 : 0;
        }));
        return command;
    }

    /// <summary>The OpenAI names of finish reasons, as edge serve reports them.</summary>
    public static string FinishName(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        FinishReason.EndOfSequence => "eos",
        _ => "cancelled",
    };
}
