using System.Text;

namespace Edge.Devices;

/// <summary>
/// Fills <c>{name}</c> placeholders in a configured prompt with readings and units. Unknown names are rejected when
/// the configuration is validated, so a typo is reported at start-up rather than sent to the model.
/// </summary>
public static class PromptTemplate
{
    public static IReadOnlyList<string> Placeholders { get; } = ["time", "temperature", "humidity", "pressure", "threshold", "rate", "source"];

    /// <summary>The first placeholder name that is not in <see cref="Placeholders"/>, or null.</summary>
    public static string? FindUnknownPlaceholder(string template)
    {
        foreach (var name in Names(template))
            if (!Placeholders.Contains(name))
                return name;
        return null;
    }

    public static string Fill(string template, IReadOnlyDictionary<string, string> values)
    {
        var result = new StringBuilder(template.Length + 64);
        int i = 0;
        while (i < template.Length)
        {
            int open = template.IndexOf('{', i);
            int close = open < 0 ? -1 : template.IndexOf('}', open + 1);
            if (close < 0)
            {
                result.Append(template, i, template.Length - i);
                break;
            }
            result.Append(template, i, open - i);
            string name = template[(open + 1)..close];
            result.Append(values.TryGetValue(name, out var value) ? value : "unknown");
            i = close + 1;
        }
        return result.ToString();
    }

    static IEnumerable<string> Names(string template)
    {
        int i = 0;
        while (true)
        {
            int open = template.IndexOf('{', i);
            if (open < 0)
                yield break;
            int close = template.IndexOf('}', open + 1);
            if (close < 0)
                yield break;
            yield return template[(open + 1)..close];
            i = close + 1;
        }
    }
}
