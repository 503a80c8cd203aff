using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Edge.Cli.Commands;

/// <summary>Compact one-line JSON for machine-readable output, written without reflection (AOT-safe).</summary>
static class JsonText
{
    /// <summary>
    /// Escapes only what JSON requires (quotes, backslashes, control characters): the default encoder also turns
    /// quotes, apostrophes, '&lt;' and non-ASCII text into \u escapes meant for HTML pages, which no reader here needs.
    /// </summary>
    public static readonly JsonWriterOptions Options = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, Options))
            body(w);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<int> values)
    {
        w.WriteStartArray(name);
        foreach (int v in values)
            w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
