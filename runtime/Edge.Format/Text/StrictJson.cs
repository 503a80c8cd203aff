using System.Text.Json;
using System.Text.Unicode;

namespace Edge.Format.Text;

/// <summary>
/// Parses untrusted JSON (model metadata, safetensors headers and indexes, config.json) so that every later read
/// of it is safe: System.Text.Json checks the structure at parse time but a string's UTF-8, or an escaped lone
/// surrogate such as <c>"\ud800"</c>, only when the string is read, and then throws InvalidOperationException.
/// Here all of it is checked once, up front, and every problem is one <see cref="InvalidDataException"/> line.
/// </summary>
internal static class StrictJson
{
    /// <summary>Parses <paramref name="json"/>; <paramref name="what"/> names it in the message ("config.json").</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> json, string what)
    {
        if (!Utf8.IsValid(json.Span))
            throw new InvalidDataException($"{what} is not valid UTF-8 text (at byte {FirstInvalidUtf8(json.Span)}).");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            // Only the position: the exception's own message can quote a long stretch of the input.
            throw new InvalidDataException($"{what} is not valid JSON ({Container.JsonErrorText.Position(e)}).");
        }
        try
        {
            CheckStrings(doc.RootElement, what);
            return doc;
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    static void CheckStrings(JsonElement element, string what)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        CheckStrings(property.Value, what);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                        CheckStrings(item, what);
                    break;
            }
        }
        catch (InvalidOperationException)
        {
            throw new InvalidDataException($"{what} holds a string that is not valid Unicode (an escaped lone surrogate such as \\ud800).");
        }
    }

    static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int good = 0;
        while (good < bytes.Length && System.Text.Rune.DecodeFromUtf8(bytes[good..], out _, out int used) == System.Buffers.OperationStatus.Done)
            good += used;
        return good;
    }
}
