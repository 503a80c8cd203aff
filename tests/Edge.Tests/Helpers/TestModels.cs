using Edge.Packer;
using Edge.Tests.Packer;

namespace Edge.Tests.Helpers;

/// <summary>Model files for the tests that run a command end to end: small enough to load and run in a moment.</summary>
static class TestModels
{
    /// <summary>The shape <see cref="WriteSynthetic"/> writes unless a test needs another.</summary>
    public static readonly SyntheticShape TinyShape = new("tiny", Hidden: 64, Layers: 2, Vocab: 600, Intermediate: 96);

    /// <summary>Writes the model edge-pack synth would (random weights, placeholder tokenizer); returns <paramref name="path"/>.</summary>
    public static string WriteSynthetic(string path, ulong seed, SyntheticShape? shape = null)
    {
        new SyntheticModel(TextWriter.Null).Write(shape ?? TinyShape, seed, path, name: null, force: false, TestContext.Current.CancellationToken);
        return path;
    }

    /// <summary>A <see cref="TinyCheckpoint"/> with the given seed, packed by edge-pack into tiny.edge in <paramref name="temp"/>; returns its path.</summary>
    public static string PackTinyCheckpoint(TempDirectory temp, int seed)
    {
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Seed = seed });
        string model = temp.File("tiny.edge");
        var run = PackerRun.Invoke(checkpoint.Directory, "-o", model);
        Assert.True(run.ExitCode == 0, run.Stderr);
        return model;
    }
}
