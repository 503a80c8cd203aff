namespace Edge.Server.Protocol;

/// <summary>
/// A request the server refuses, answered in the OpenAI error shape
/// <c>{"error":{"message","type","param","code"}}</c> with its HTTP status.
/// </summary>
internal sealed class ApiError(int status, string type, string? code, string? param, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Code { get; } = code;
    public string? Param { get; } = param;

    /// <summary>Seconds the client should wait before retrying (429, 503); null for none.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The body the server answers with: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public ErrorResponse Response => new(new ErrorBody(Message, Type, Param, Code));

    public static ApiError BadRequest(string? param, string message) => new(400, "invalid_request_error", "invalid_value", param, message);

    public static ApiError Unauthorized() =>
        new(401, "authentication_error", "invalid_api_key", null, "Missing or wrong API key: send the header `Authorization: Bearer <key>` with the key given to `edge serve --api-key`.");

    public static ApiError ModelNotFound(string requested, string served) =>
        new(404, "invalid_request_error", "model_not_found", "model", $"The model {Quote(requested)} does not exist here; this server runs `{served}` (GET /v1/models).");

    /// <summary>
    /// A client's value as an error message may quote it: in double quotes, at most 40 characters (then "…"),
    /// control characters and quotes escaped as in JSON, so the message stays one short line whatever was sent.
    /// </summary>
    public static string Quote(string value)
    {
        const int Most = 40;
        var s = new System.Text.StringBuilder("\"");
        foreach (char c in value.Length > Most ? value[..Most] : value)
        {
            if (c == '"' || c == '\\')
                s.Append('\\').Append(c);
            else if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
                s.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else
                s.Append(c);
        }
        return s.Append(value.Length > Most ? "…\"" : "\"").ToString();
    }

    public static ApiError NotFound(string path) => new(404, "invalid_request_error", "not_found", null, $"No endpoint {path}; see /v1/models, /v1/completions, /v1/chat/completions, /health, /metrics.");

    public static ApiError PromptTooLong(int tokens, int context) =>
        new(413, "invalid_request_error", "context_length_exceeded", "prompt", $"The prompt is {tokens} tokens; this server takes at most {context} (edge serve --ctx-size).");

    public static ApiError BodyTooLarge(long limit) =>
        new(413, "invalid_request_error", "request_too_large", null, $"The request body is larger than {limit} bytes.");

    public static ApiError QueueFull(int retryAfter) =>
        new(429, "rate_limit_error", "queue_full", null, "Every slot is busy and the queue is full; retry later (edge serve --parallel, --queue).") { RetryAfterSeconds = retryAfter };

    public static ApiError Stopping() =>
        new(503, "server_error", "unavailable", null, "The server is shutting down.") { RetryAfterSeconds = 5 };

    public static ApiError Internal(string message) => new(500, "server_error", "internal_error", null, message);
}
