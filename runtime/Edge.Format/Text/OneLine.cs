namespace Edge.Format.Text;

/// <summary>
/// Error messages are one line on stderr or in a log, yet they may quote text from an untrusted file (a config value,
/// a shard name, a loader's message) that holds line breaks or other control characters.
/// </summary>
internal static class OneLine
{
    /// <summary>The text with each control character shown as '?', cut after <paramref name="maxLength"/> characters with "…".</summary>
    public static string Of(string text, int maxLength = int.MaxValue)
    {
        string line = string.Create(text.Length, text, static (chars, source) =>
        {
            for (int i = 0; i < source.Length; i++)
                chars[i] = char.IsControl(source[i]) ? '?' : source[i];
        });
        return line.Length <= maxLength ? line : line[..maxLength] + "…";
    }
}
