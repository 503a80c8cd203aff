using System.Text.Json.Serialization;

namespace Edge.Server.Protocol;

// The OpenAI response shapes (https://platform.openai.com/docs/api-reference), snake_case on the wire.

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails);

/// <summary>cached_tokens: prompt tokens whose state came from the prefix-state cache instead of being prefilled.</summary>
public sealed record PromptTokensDetails(int CachedTokens);

public sealed record CompletionChoice(int Index, string Text, string? Logprobs, string? FinishReason);

public sealed record CompletionResponse(string Id, string Object, long Created, string Model, CompletionChoice[] Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

public sealed record AssistantMessage(string Role, string Content);

public sealed record ChatChoice(int Index, AssistantMessage Message, string? Logprobs, string? FinishReason);

public sealed record ChatCompletionResponse(string Id, string Object, long Created, string Model, ChatChoice[] Choices, Usage Usage);

public sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

public sealed record ChatChunkChoice(int Index, ChatDelta Delta, string? Logprobs, string? FinishReason);

public sealed record ChatCompletionChunk(string Id, string Object, long Created, string Model, ChatChunkChoice[] Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

public sealed record ModelInfo(string Id, string Object, long Created, string OwnedBy);

public sealed record ModelList(string Object, ModelInfo[] Data);

public sealed record ErrorBody(string Message, string Type, string? Param, string? Code);

public sealed record ErrorResponse(ErrorBody Error);

public sealed record HealthResponse(string Status, int SlotsIdle, int SlotsProcessing, int Queue);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelInfo))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
public sealed partial class ServeJson : JsonSerializerContext;
