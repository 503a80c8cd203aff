namespace Edge.Tests.Shared;

/// <summary>
/// Files of the repository that tests read (the bundled model, the co-simulation library), found from the test
/// binary's folder upwards: bin/Release/net10.0 lies inside the clone. Linked into each test project that needs it.
/// </summary>
static class RepositoryFile
{
    /// <summary>The path relative to the test binary's folder or to the nearest folder above it that has it; null if none does.</summary>
    public static string? Find(params string[] relativePath)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine([dir.FullName, .. relativePath]);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    /// <summary>The repository's bundled model, models/<see cref="Edge.Runtime.BundledModel.FileName"/>.</summary>
    public static string BundledModel() =>
        Find("models", Edge.Runtime.BundledModel.FileName)
        ?? throw new FileNotFoundException($"models/{Edge.Runtime.BundledModel.FileName} was not found above the test binary.");
}
