using System.Text.Json;
using Edge.Runtime.Generation;
using Edge.Runtime.Sampling;

namespace Edge.Server.Protocol;

/// <summary>
/// The fields of a /v1/completions or /v1/chat/completions body that Edge acts on, read and checked one by one so
/// a wrong type or value gets a 400 that names the field. Fields Edge does not use (user, logit_bias, …) are
/// ignored, as OpenAI-compatible servers do.
/// </summary>
internal sealed record CompletionRequest
{
    public const int MaxStops = 4;

    public string? Model { get; init; }

    /// <summary>The prompt (/v1/completions).</summary>
    public string? Prompt { get; init; }

    /// <summary>The conversation (/v1/chat/completions).</summary>
    public IReadOnlyList<ChatTurn>? Messages { get; init; }

    /// <summary>max_tokens or max_completion_tokens; null when neither is given.</summary>
    public int? MaxTokens { get; init; }

    public required SamplingOptions Sampling { get; init; }

    public IReadOnlyList<string> Stop { get; init; } = [];

    public bool Stream { get; init; }

    /// <summary>stream_options.include_usage: a last chunk with the usage counts.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>llama.cpp's ignore_eos: keep generating past the end-of-sequence token.</summary>
    public bool IgnoreEos { get; init; }

    public static CompletionRequest Parse(JsonElement body, bool chat)
    {
        if (body.ValueKind != JsonValueKind.Object)
            throw ApiError.BadRequest(null, "The request body must be a JSON object.");
        CheckStrings(body, "");
        var defaults = new SamplingOptions();
        int? n = Integer(body, "n");
        if (n is not null and not 1)
            throw ApiError.BadRequest("n", $"n must be 1 (got {n}); run several requests for several completions.");
        int? maxTokens = Integer(body, "max_completion_tokens") ?? Integer(body, "max_tokens");
        if (maxTokens < 0)
            throw ApiError.BadRequest("max_tokens", $"max_tokens must be ≥ 0 (got {maxTokens}).");
        var sampling = new SamplingOptions
        {
            Temperature = Number(body, "temperature") ?? defaults.Temperature,
            TopP = Number(body, "top_p") ?? defaults.TopP,
            TopK = Integer(body, "top_k") ?? defaults.TopK,
            MinP = Number(body, "min_p") ?? defaults.MinP,
            RepeatPenalty = Number(body, "repeat_penalty") ?? defaults.RepeatPenalty,
            RepeatLastN = Integer(body, "repeat_last_n") ?? defaults.RepeatLastN,
            Seed = Seed(body),
        };
        Check(sampling.Temperature >= 0, "temperature", $"temperature must be ≥ 0 (got {sampling.Temperature}); 0 is greedy.");
        Check(sampling.TopP is > 0 and <= 1, "top_p", $"top_p must be in (0, 1] (got {sampling.TopP}).");
        Check(sampling.TopK >= 0, "top_k", $"top_k must be ≥ 0 (got {sampling.TopK}); 0 disables it.");
        Check(sampling.MinP is >= 0 and <= 1, "min_p", $"min_p must be in [0, 1] (got {sampling.MinP}).");
        Check(sampling.RepeatPenalty > 0, "repeat_penalty", $"repeat_penalty must be > 0 (got {sampling.RepeatPenalty}).");
        Check(sampling.RepeatLastN is >= 0 and <= 4096, "repeat_last_n", $"repeat_last_n must be in [0, 4096] (got {sampling.RepeatLastN}).");
        var streamOptions = Property(body, "stream_options", JsonValueKind.Object);
        return new CompletionRequest
        {
            Model = Text(body, "model"),
            Prompt = chat ? null : PromptOf(body),
            Messages = chat ? MessagesOf(body) : null,
            MaxTokens = maxTokens,
            Sampling = sampling,
            Stop = StopsOf(body),
            Stream = Boolean(body, "stream") ?? false,
            IncludeUsage = streamOptions is { } so && (Boolean(so, "include_usage") ?? false),
            IgnoreEos = Boolean(body, "ignore_eos") ?? false,
        };
    }

    static string PromptOf(JsonElement body)
    {
        if (!body.TryGetProperty("prompt", out var p))
            throw ApiError.BadRequest("prompt", "prompt is required.");
        if (p.ValueKind == JsonValueKind.String)
            return p.GetString()!;
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String)
            return p[0].GetString()!;
        throw ApiError.BadRequest("prompt", "prompt must be a string (or an array of one string).");
    }

    static List<ChatTurn> MessagesOf(JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var m) || m.ValueKind != JsonValueKind.Array || m.GetArrayLength() == 0)
            throw ApiError.BadRequest("messages", "messages must be a non-empty array of {role, content}.");
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var message in m.EnumerateArray())
        {
            string param = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object)
                throw ApiError.BadRequest(param, $"{param} must be an object with role and content.");
            string role = Text(message, "role", param + ".role") ?? throw ApiError.BadRequest(param + ".role", $"{param}.role is required.");
            role = role switch
            {
                "system" or "developer" => "system",
                "user" or "assistant" => role,
                _ => throw ApiError.BadRequest(param + ".role", $"{param}.role must be system, developer, user or assistant (got {ApiError.Quote(role)})."),
            };
            turns.Add(new ChatTurn(role, ContentOf(message, param + ".content")));
        }
        return turns;
    }

    /// <summary>A string, or an array of parts of which only text parts are accepted.</summary>
    static string ContentOf(JsonElement message, string param)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null)
            return "";
        if (c.ValueKind == JsonValueKind.String)
            return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array)
            throw ApiError.BadRequest(param, $"{param} must be a string or an array of text parts.");
        var text = new System.Text.StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || Text(part, "type", param) != "text" || Text(part, "text", param) is not { } t)
                throw ApiError.BadRequest(param, $"{param} may hold only {{\"type\":\"text\",\"text\":…}} parts; this model reads text.");
            text.Append(t);
        }
        return text.ToString();
    }

    static List<string> StopsOf(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var s) || s.ValueKind == JsonValueKind.Null)
            return [];
        List<string> stops;
        if (s.ValueKind == JsonValueKind.String)
            stops = [s.GetString()!];
        else if (s.ValueKind == JsonValueKind.Array && s.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            stops = [.. s.EnumerateArray().Select(e => e.GetString()!)];
        else
            throw ApiError.BadRequest("stop", "stop must be a string or an array of strings.");
        if (stops.Count > MaxStops)
            throw ApiError.BadRequest("stop", $"stop takes at most {MaxStops} strings (got {stops.Count}).");
        if (stops.Any(x => x.Length == 0))
            throw ApiError.BadRequest("stop", "stop strings must not be empty.");
        return stops;
    }

    /// <summary>
    /// Reads every property name and string of the body once. System.Text.Json checks a string's UTF-8, and escapes
    /// such as a lone <c>\ud800</c>, only when it is read (a property name also when TryGetProperty compares it), and
    /// then throws InvalidOperationException, which would be a 500: here it is the client's 400, naming where.
    /// </summary>
    static void CheckStrings(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                Read(() => element.GetString(), path);
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name = Read(() => property.Name, path.Length == 0 ? "a property name" : $"a property name in {path}")!;
                    // A name that is not a plain identifier is quoted, so the message stays one short line.
                    if (name.Length > 40 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
                        name = ApiError.Quote(name);
                    CheckStrings(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray())
                    CheckStrings(item, $"{path}[{i++}]");
                break;
        }

        static string? Read(Func<string?> read, string where)
        {
            try
            {
                return read();
            }
            catch (InvalidOperationException)
            {
                string param = where.Length > 60 ? where[..60] + "…" : where;
                throw ApiError.BadRequest(param, $"{param} is not valid Unicode text (invalid UTF-8, or an escaped lone surrogate such as \\ud800).");
            }
        }
    }

    static void Check(bool ok, string field, string message)
    {
        if (!ok)
            throw ApiError.BadRequest(field, message);
    }

    static JsonElement? Property(JsonElement o, string name, JsonValueKind kind)
    {
        if (!o.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        if (p.ValueKind != kind)
            throw ApiError.BadRequest(name, $"{name} must be {KindName(kind)} (got {KindName(p.ValueKind)}).");
        return p;
    }

    static string? Text(JsonElement o, string name, string? param = null)
    {
        if (!o.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        if (p.ValueKind != JsonValueKind.String)
            throw ApiError.BadRequest(param ?? name, $"{param ?? name} must be a string (got {KindName(p.ValueKind)}).");
        return p.GetString();
    }

    static bool? Boolean(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null)
            return null;
        return p.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.BadRequest(name, $"{name} must be true or false (got {KindName(p.ValueKind)})."),
        };
    }

    static float? Number(JsonElement o, string name)
    {
        if (Property(o, name, JsonValueKind.Number) is not { } p)
            return null;
        double d = p.GetDouble();
        if (!double.IsFinite(d) || Math.Abs(d) > float.MaxValue)
            throw ApiError.BadRequest(name, $"{name} is out of range.");
        return (float)d;
    }

    static int? Integer(JsonElement o, string name)
    {
        if (Property(o, name, JsonValueKind.Number) is not { } p)
            return null;
        if (!p.TryGetInt32(out int v))
            throw ApiError.BadRequest(name, $"{name} must be an integer in [{int.MinValue}, {int.MaxValue}] (got {ApiError.Quote(p.GetRawText())}).");
        return v;
    }

    static ulong? Seed(JsonElement o)
    {
        if (Property(o, "seed", JsonValueKind.Number) is not { } p)
            return null;
        if (p.TryGetInt64(out long signed))
            return unchecked((ulong)signed);
        if (p.TryGetUInt64(out ulong unsigned))
            return unsigned;
        throw ApiError.BadRequest("seed", $"seed must be an integer (got {ApiError.Quote(p.GetRawText())}).");
    }

    static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
