using Edge.Runtime;
using Edge.Runtime.Model;
using Edge.Tests.Shared;

namespace Edge.Tests.Generation;

public class RecurrentStateTests
{
    const string Fingerprint = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    static RecurrentState Filled(string fingerprint = Fingerprint)
    {
        var state = new RecurrentState(3, 5, fingerprint);
        for (int l = 0; l < 3; l++)
            for (int i = 0; i < 5; i++)
                state.Hidden[l][i] = l * 10 + i + 0.25f;
        state.Position = 42;
        return state;
    }

    [Fact]
    public void SavedBytesRestoreTheSameState()
    {
        var state = Filled();
        byte[] saved = state.Save();
        Assert.Equal(state.SavedBytes, saved.Length);
        var restored = new RecurrentState(3, 5, Fingerprint);
        restored.Restore(saved);
        Assert.Equal(42, restored.Position);
        for (int l = 0; l < 3; l++)
            Assert.Equal(state.Hidden[l], restored.Hidden[l]);

        using var stream = new MemoryStream();
        state.Save(stream);
        stream.WriteByte(7);
        stream.Position = 0;
        var fromStream = new RecurrentState(3, 5, Fingerprint);
        fromStream.Restore(stream);
        Assert.Equal(state.Hidden[2], fromStream.Hidden[2]);
        Assert.Equal(7, stream.ReadByte());
    }

    [Fact]
    public void CloneIsIndependent()
    {
        var state = Filled();
        var clone = state.Clone();
        clone.Hidden[0][0] = 99;
        Assert.Equal(0.25f, state.Hidden[0][0]);
        Assert.Equal(42, clone.Position);
        Assert.Equal(Fingerprint, clone.ModelFingerprint);
    }

    [Fact]
    public void AnotherModelsStateIsRefusedAndLeavesTheTargetUnchanged()
    {
        byte[] saved = Filled().Save();
        var other = new RecurrentState(3, 5, "ff" + Fingerprint[2..]);
        var e = Assert.Throws<InvalidDataException>(() => other.Restore(saved));
        Assert.Contains("belongs to another model (fingerprint 001122334455", e.Message);
        Assert.Equal(0, other.Position);
        Assert.Throws<InvalidDataException>(() => other.CopyFrom(Filled()));
        Assert.Contains("shape 3×5", Assert.Throws<InvalidDataException>(() => new RecurrentState(2, 5, Fingerprint).Restore(saved)).Message);
    }

    [Fact]
    public void DamagedOrTruncatedBytesAreRefused()
    {
        byte[] saved = Filled().Save();
        var target = new RecurrentState(3, 5, Fingerprint);
        saved[70] ^= 1;
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => target.Restore(saved)).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => target.Restore(Filled().Save().AsSpan(0, 80))).Message);
        Assert.Contains("not a saved Edge state", Assert.Throws<InvalidDataException>(() => target.Restore("hello"u8)).Message);
        Assert.Equal(0, target.Position);
    }

    [Fact]
    public void AModelsStatesCarryItsFileFingerprint()
    {
        using var model = EdgeModel.Load(RepositoryFile.BundledModel());
        Assert.Matches("^[0-9a-f]{64}$", model.File.Fingerprint);
        Assert.Equal(model.File.Fingerprint, model.Model.CreateState().ModelFingerprint);
        using var again = EdgeModel.Load(RepositoryFile.BundledModel(), new LoadOptions { MemoryMap = false });
        Assert.Equal(model.File.Fingerprint, again.File.Fingerprint);
    }
}
