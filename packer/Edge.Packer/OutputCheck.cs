namespace Edge.Packer;

/// <summary>Checks done before any work, so a long pack cannot fail at the end on an unusable output path.</summary>
internal static class OutputCheck
{
    public static void Ensure(string outputPath, bool force)
    {
        if (Directory.Exists(outputPath))
            throw new PackerException($"Output {outputPath} is a folder; give a file name, e.g. {Path.Combine(outputPath, "model.edge")}.");
        Format.Container.OutputPath.EnsureReplaceable(outputPath);
        if (File.Exists(outputPath) && !force)
            throw new PackerException($"Output {outputPath} already exists; pass --force to overwrite it.");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is not null && !Directory.Exists(folder))
            throw new PackerException($"Output folder {folder} does not exist; create it first.");
    }
}
