using System.Text.Json;

namespace Edge.Packer;

/// <summary>What the packer takes from a checkpoint's optional tokenizer_config.json: its chat template.</summary>
static class TokenizerConfig
{
    public const string FileName = "tokenizer_config.json";

    /// <summary>
    /// The Jinja chat template, or null when the file or the key is absent. HF stores either one string or a list of
    /// named templates; from a list Edge keeps the one named "default" (else the first).
    /// </summary>
    public static string? ChatTemplate(string checkpointDirectory)
    {
        string path = Path.Combine(checkpointDirectory, FileName);
        if (!File.Exists(path))
            return null;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new PackerException($"{path} is not valid JSON ({e.Message}); fix or remove it.");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("chat_template", out var template))
                return null;
            switch (template.ValueKind)
            {
                case JsonValueKind.Null:
                    return null;
                case JsonValueKind.String:
                    return template.GetString();
                case JsonValueKind.Array:
                    var named = template.EnumerateArray()
                        .Where(t => t.ValueKind == JsonValueKind.Object && t.TryGetProperty("template", out var s) && s.ValueKind == JsonValueKind.String)
                        .ToList();
                    var chosen = named.FirstOrDefault(t => t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String && n.GetString() == "default");
                    if (chosen.ValueKind == JsonValueKind.Undefined && named.Count > 0)
                        chosen = named[0];
                    return chosen.ValueKind == JsonValueKind.Undefined ? null : chosen.GetProperty("template").GetString();
                default:
                    throw new PackerException($"{path}: \"chat_template\" is a {template.ValueKind}; a string or a list of {{name, template}} was expected.");
            }
        }
    }
}
