using System.Text.Json.Serialization;

namespace Edge.Server.Protocol;

// The OpenAI response shapes (https://platform.openai.com/docs/api-reference), snake_case on the wire.

internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails);

/// <summary>cached_tokens: prompt tokens whose state came from the prefix-state cache instead of being prefilled.</summary>
internal sealed record PromptTokensDetails(int CachedTokens);

internal sealed record CompletionChoice(int Index, string Text, string? Logprobs, string? FinishReason);

internal sealed record CompletionResponse(string Id, string Object, long Created, string Model, CompletionChoice[] Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record AssistantMessage(string Role, string Content);

internal sealed record ChatChoice(int Index, AssistantMessage Message, string? Logprobs, string? FinishReason);

internal sealed record ChatCompletionResponse(string Id, string Object, long Created, string Model, ChatChoice[] Choices, Usage Usage);

internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, string? Logprobs, string? FinishReason);

internal sealed record ChatCompletionChunk(string Id, string Object, long Created, string Model, ChatChunkChoice[] Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record ModelInfo(string Id, string Object, long Created, string OwnedBy);

internal sealed record ModelList(string Object, ModelInfo[] Data);

internal sealed record ErrorBody(string Message, string Type, string? Param, string? Code);

internal sealed record ErrorResponse(ErrorBody Error);

internal sealed record HealthResponse(string Status, int SlotsIdle, int SlotsProcessing, int Queue);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class ServeJson : JsonSerializerContext;
