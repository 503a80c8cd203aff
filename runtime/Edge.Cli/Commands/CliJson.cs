using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Generation;

namespace Edge.Cli.Commands;

/// <summary><c>edge generate --json</c>: the prompt's and the reply's token ids and the reply.</summary>
sealed record GenerateJson(int[] PromptTokens, int[] Tokens, string Text);

/// <summary><c>edge perplexity --json</c>.</summary>
sealed record PerplexityJson(double Ppl, int Tokens);

/// <summary>What <c>edge chat /save</c> writes after the saved session: the conversation as text.</summary>
sealed record ChatTranscript(string Read, string? LastPrompt, string LastReply, ChatTurn[] Turns);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(GenerateJson))]
[JsonSerializable(typeof(PerplexityJson))]
[JsonSerializable(typeof(ChatTranscript))]
[JsonSerializable(typeof(BenchmarkResult[]))]
[JsonSerializable(typeof(LookupBenchmarkResult[]))]
partial class CliJsonContext : JsonSerializerContext
{
    /// <summary>
    /// One-line JSON, source-generated (no reflection, AOT-safe), escaping only what JSON requires: the default
    /// encoder also turns quotes, apostrophes, '&lt;' and non-ASCII text into \u escapes meant for HTML pages.
    /// </summary>
    public static CliJsonContext Output { get; } = new(new JsonSerializerOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    });
}
