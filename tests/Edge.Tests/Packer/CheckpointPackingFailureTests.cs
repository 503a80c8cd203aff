using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

/// <summary>
/// What the tests of bad checkpoints share: a tiny checkpoint each test may damage, an output folder that must stay
/// empty, and the assertion that packing fails with one clear error line.
/// </summary>
public abstract class CheckpointPackingFailureTests : IDisposable
{
    protected readonly TempDirectory _temp = new();
    protected readonly TinyCheckpoint _checkpoint;
    protected readonly string _outputFolder;

    protected CheckpointPackingFailureTests()
    {
        _checkpoint = TinyCheckpoint.Create(_temp.Folder("ckpt"), new TinyCheckpointOptions { Hidden = 32, Layers = 2, Vocab = 600 });
        _outputFolder = _temp.Folder("out");
    }

    public void Dispose()
    {
        _temp.Dispose();
        GC.SuppressFinalize(this);
    }

    protected string SafetensorsPath => Path.Combine(_checkpoint.Directory, "model.safetensors");

    protected string Output => Path.Combine(_outputFolder, "model.edge");

    /// <summary>Packs the checkpoint, asserts the error names every fragment, and that nothing was left behind.</summary>
    protected void AssertPackFails(params string[] fragments)
    {
        PackerRun.Invoke(_checkpoint.Directory, "-o", Output).AssertError(fragments);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outputFolder));
    }
}
