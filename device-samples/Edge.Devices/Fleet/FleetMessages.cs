using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Edge.Devices.Readings;

namespace Edge.Devices.Fleet;

/// <summary>
/// A generation request received from the fleet topic. JSON: <c>{"id": "...", "prompt": "...", "maxTokens": 32}</c>
/// (<c>maxTokens</c> optional). The reply goes to the MQTT 5 response topic when the request has one, else to
/// <c>&lt;prefix&gt;/results</c>; correlation data is echoed.
/// </summary>
public sealed class FleetRequest
{
    public required string Id { get; init; }
    public required string Prompt { get; init; }
    public int? MaxTokens { get; init; }
    public required string ReplyTopic { get; init; }
    public byte[]? CorrelationData { get; init; }

    /// <summary>Acknowledges the newest delivery of this request on the connection it arrived on.</summary>
    internal Func<CancellationToken, Task>? Acknowledge { get; set; }
}

/// <summary>A result as seen by a requester.</summary>
public sealed record FleetReply(string Id, string Worker, string Text);

/// <summary>Reads and writes the fleet's JSON payloads (Utf8JsonWriter/JsonDocument: no reflection, AOT-safe).</summary>
public static class FleetMessages
{
    /// <summary>Parses a request; a payload that is not one returns null and says why.</summary>
    public static FleetRequest? ParseRequest(ReadOnlySequence<byte> payload, string replyTopic, byte[]? correlationData, out string? error)
    {
        error = null;
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "the payload is not a JSON object";
                return null;
            }
            if (!root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(id.GetString()))
            {
                error = "\"id\" (a non-empty string) is missing";
                return null;
            }
            if (!root.TryGetProperty("prompt", out var prompt) || prompt.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(prompt.GetString()))
            {
                error = "\"prompt\" (a non-empty string) is missing";
                return null;
            }
            int? maxTokens = null;
            if (root.TryGetProperty("maxTokens", out var max))
            {
                if (max.ValueKind != JsonValueKind.Number || !max.TryGetInt32(out int value) || value is < 1 or > 4096)
                {
                    error = "\"maxTokens\" must be a whole number 1–4096";
                    return null;
                }
                maxTokens = value;
            }
            return new FleetRequest { Id = id.GetString()!, Prompt = prompt.GetString()!, MaxTokens = maxTokens, ReplyTopic = replyTopic, CorrelationData = correlationData };
        }
        catch (JsonException e)
        {
            error = $"the payload is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})";
            return null;
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json checks a string's UTF-8 (and escaped surrogates) only when it is read.
            error = "a string in the payload is not valid UTF-8 or Unicode";
            return null;
        }
    }

    /// <summary>Escapes only what JSON requires: the default encoder writes quotes and non-ASCII text (°C) as \u escapes meant for HTML.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] WriteRequest(string id, string prompt, int? maxTokens)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("prompt", prompt);
            if (maxTokens is int max)
                json.WriteNumber("maxTokens", max);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A result: the text and the readings that triggered it (also used for local sensor triggers).</summary>
    public static byte[] WriteResult(string? id, string worker, string source, string text, SensorReadings readings, DateTimeOffset at, TimeSpan elapsed, string? error = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            if (id is not null)
                json.WriteString("id", id);
            json.WriteString("worker", worker);
            json.WriteString("trigger", source);
            json.WriteString("at", at);
            json.WriteNumber("elapsedMs", Math.Round(elapsed.TotalMilliseconds));
            json.WriteString("text", text);
            if (error is not null)
                json.WriteString("error", error);
            json.WriteStartObject("readings");
            WriteNumberOrNull(json, "temperatureCelsius", readings.Temperature?.DegreesCelsius);
            WriteNumberOrNull(json, "humidityPercent", readings.Humidity?.Percent);
            WriteNumberOrNull(json, "pressureHectopascals", readings.Pressure?.Hectopascals);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static FleetReply? ParseReply(ReadOnlySequence<byte> payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                && root.TryGetProperty("worker", out var worker) && worker.ValueKind == JsonValueKind.String
                && root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                return new FleetReply(id.GetString()!, worker.GetString()!, text.GetString()!);
            return null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 shows only when a string is read
        {
            return null;
        }
    }

    /// <summary>True for a retained/live status message saying a board is online.</summary>
    public static bool IsOnlineStatus(ReadOnlySequence<byte> payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("state", out var state)
                && state.ValueEquals("online");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // invalid UTF-8 shows only when a string is read
        {
            return false;
        }
    }

    static void WriteNumberOrNull(Utf8JsonWriter json, string name, double? value)
    {
        if (value is double v)
            json.WriteNumber(name, Math.Round(v, 2));
        else
            json.WriteNull(name);
    }
}
