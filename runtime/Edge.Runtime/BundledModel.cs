namespace Edge.Runtime;

/// <summary>
/// Finds the model to use when no <c>-m</c> is given: <c>$EDGE_MODEL</c>, else the small model that ships in the
/// repository's models/ folder (docs/MODEL.md), looked for under the working directory and beside the executable,
/// so both <c>dotnet run</c> from a clone and a copied binary with its models/ folder find it. Used by every
/// program that takes an optional model path (the <c>edge</c> CLI, the sensor daemon).
/// </summary>
public static class BundledModel
{
    /// <summary>The environment variable that names the default model file.</summary>
    public const string Variable = "EDGE_MODEL";
    /// <summary>The file name of the small model bundled in the repository's <c>models/</c> folder.</summary>
    public const string FileName = "kjv-brown-36m.edge";

    /// <summary>The default model: <see cref="Variable"/> if set, else the bundled file under the current folder or beside the executable; throws <see cref="FileNotFoundException"/> saying how to give one.</summary>
    public static string Locate()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } fromEnvironment)
            return fromEnvironment;
        string[] candidates =
        [
            Path.Combine(Environment.CurrentDirectory, "models", FileName),
            Path.Combine(AppContext.BaseDirectory, "models", FileName),
            Path.Combine(AppContext.BaseDirectory, FileName),
        ];
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"No model given. Pass -m <file.edge>, set {Variable}, or run from the repository root where models/{FileName} is bundled.");
    }
}
