using System.Text;
using System.Text.Json;

namespace Edge.Cli.Commands;

/// <summary>Compact one-line JSON for machine-readable output, written without reflection (AOT-safe).</summary>
static class JsonText
{
    public static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
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
