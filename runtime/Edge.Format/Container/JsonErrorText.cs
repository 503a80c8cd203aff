using System.Text.Json;

namespace Edge.Format.Container;

/// <summary>
/// Where a JSON text is broken, in users' words: a <see cref="JsonException"/>'s message speaks of reader options
/// and, in builds without resource strings, is a bare key such as "ExpectedStartOfPropertyNotFound".
/// </summary>
internal static class JsonErrorText
{
    /// <summary>"line 3, byte 14" (both counted from 1), or "" when the reader did not say.</summary>
    public static string Position(JsonException e) =>
        e.LineNumber is long line && e.BytePositionInLine is long column ? $"line {line + 1}, byte {column + 1}" : "";
}
