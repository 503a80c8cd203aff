using System.Diagnostics;
using Edge.Runtime.Generation;

namespace Edge.Cli.Commands;

/// <summary>
/// <c>edge generate --prompt-cache FILE</c>: the session after the prompt, saved so that a later prompt starting
/// with the same tokens skips reading them again. The file names the model's fingerprint; another model's is refused.
/// </summary>
static class PromptCache
{
    /// <summary>Restores the cache if there is one, reads the rest of the prompt, saves the cache if it grew.</summary>
    /// <returns>The time this took and how many prompt tokens came from the file.</returns>
    public static (TimeSpan Time, int CachedTokens) Prepare(Generator generator, Session session, GenerationRequest request, string path, TextWriter stderr, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        if (File.Exists(path))
        {
            try
            {
                session.RestoreFromFile(path);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"prompt cache {e.Message} Delete the file or give another --prompt-cache.", e);
            }
        }
        int restored = session.Tokens.Count;
        var usage = generator.Prefill(session, request, cancel);
        if (usage.PromptTokens != restored || usage.CachedPromptTokens == 0)
            session.SaveToFile(path);
        stderr.WriteLine(usage.CachedPromptTokens > 0
            ? $"edge: prompt cache {path}: {usage.CachedPromptTokens} of {usage.PromptTokens} prompt tokens restored"
            : $"edge: prompt cache {path}: saved {usage.PromptTokens} prompt tokens");
        return (clock.Elapsed, usage.CachedPromptTokens);
    }
}
