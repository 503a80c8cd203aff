using Edge.Extensions.AI;
using Edge.Runtime;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;
using Microsoft.Extensions.AI;

// Usage: PackageConsumer MODEL.edge. Prints the reply, then one line per check; exits 1 if a check fails.
using var model = EdgeModel.Load(args[0], new LoadOptions { Threads = 1 });
var generator = new Generator(model);
var session = new Session(model);
var request = new GenerationRequest { Prompt = "In the beginning", MaxTokens = 12, MinTokens = 12, Sampling = SamplingOptions.Greedy };

GenerationResult? result = null;
await foreach (var piece in generator.GenerateAsync(session, request))
{
    Console.Write(piece.Text);
    result = piece.Result ?? result;
}
Console.WriteLine();

int failed = 0;
void Check(bool ok, string what)
{
    Console.WriteLine($"{(ok ? "ok" : "FAILED")}: {what}");
    if (!ok)
        failed++;
}

Check(result is { FinishReason: FinishReason.Length, Usage.CompletionTokens: 12 } && result.Text.Length > 0, $"12 tokens of text ({result?.FinishReason}, {result?.Usage.CompletionTokens})");

// A saved session continues exactly as the live one.
byte[] saved = session.Save();
var next = new GenerationRequest { Prompt = " and", AppendToSession = true, MaxTokens = 6, Sampling = SamplingOptions.Greedy };
var live = await generator.CompleteAsync(session, next);
var restored = new Session(model);
restored.Restore(saved);
var again = await generator.CompleteAsync(restored, next);
Check(live.Text == again.Text, $"a restored session continues the same (\"{live.Text}\")");

// One generation at a time per model: a second one is refused, not corrupted.
bool refused = false;
await using (var running = generator.GenerateAsync(request).GetAsyncEnumerator())
{
    await running.MoveNextAsync();
    try
    {
        await new Generator(model).CompleteAsync(request);
    }
    catch (InvalidOperationException)
    {
        refused = true;
    }
}
Check(refused, "a second concurrent generation on the model throws InvalidOperationException");

// The same model behind Microsoft.Extensions.AI.
IChatClient chat = new EdgeChatClient(model);
var response = await chat.GetResponseAsync("Who made the light?", new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
Check(response.Text.Length > 0 && response.Usage?.OutputTokenCount is > 0, $"IChatClient answers ({response.Usage?.OutputTokenCount} tokens)");
Check(model.Fingerprint.Length == 64 && model.Config.HiddenSize > 0, $"model {model.Metadata.Name}: {model.Config.HiddenSize} hidden, fingerprint {model.Fingerprint[..12]}");
return failed == 0 ? 0 : 1;
