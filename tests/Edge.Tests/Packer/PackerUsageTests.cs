using System.Net.Sockets;
using Edge.Format.Container;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

/// <summary>edge-pack's command line: one-line usage errors, synth's own usage, and outputs it must not replace.</summary>
public sealed class PackerUsageTests : IDisposable
{
    readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void SynthHelpShowsNoCheckpointArgument()
    {
        var run = PackerRun.Invoke("synth", "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains(" synth [options]", run.Stdout);
        Assert.DoesNotContain("checkpoint-dir", run.Stdout);
        Assert.Contains("checkpoint-dir", PackerRun.Invoke("--help").Stdout); // the conversion still takes one
    }

    [Fact]
    public void ParseErrorsAreOneLineOnStderrWithoutTypeNames()
    {
        var run = PackerRun.Invoke("synth", "--hidden", "64", "--layers", "1", "--vocab", "abc", "-o", _temp.File("x.edge"));
        run.AssertError("--vocab takes a whole number", "\"abc\"", "edge-pack synth --help");
        Assert.Equal("", run.Stdout);
        Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("System.", run.Stderr);
        PackerRun.Invoke("synth", "--preset", "370m", "--bogus", "-o", _temp.File("x.edge")).AssertError("--bogus");
    }

    [Fact]
    public void ASynthVocabularySmallerThanThePlaceholderTokenizerSaysWhichVocabToGive()
    {
        PackerRun.Invoke("synth", "--hidden", "64", "--layers", "1", "--vocab", "100", "-o", _temp.File("x.edge"))
            .AssertError("--vocab 100", "give --vocab 512 or more");
        PackerRun.Invoke("synth", "--hidden", "64", "--layers", "0", "--vocab", "512", "-o", _temp.File("x.edge")).AssertError("--layers 0");
        Assert.False(File.Exists(_temp.File("x.edge")));
    }

    [Fact]
    public void AnOutputThatIsNotARegularFileIsRefusedEvenWithForce()
    {
        // A regular file is replaced with --force.
        string file = _temp.File("old.edge");
        File.WriteAllText(file, "old");
        Assert.Equal(0, PackerRun.Invoke("synth", "--hidden", "64", "--layers", "1", "--vocab", "512", "-o", file, "--force").ExitCode);
        Assert.True(new FileInfo(file).Length > 3);

        // A socket stands in for /dev/full: the rename at the end would replace it, whatever it is, with the model.
        string socketPath = _temp.File("not-a-file");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        PackerRun.Invoke("synth", "--hidden", "64", "--layers", "1", "--vocab", "512", "-o", socketPath, "--force")
            .AssertError("is not a regular file");
        Assert.Equal(0, new FileInfo(socketPath).Length); // still the socket, not a model file
        ModelMetadata metadata;
        using (var model = ModelFile.Open(file))
            metadata = model.Metadata;
        Assert.Throws<IOException>(() => ModelFileWriter.Create(socketPath, metadata));
        Assert.Equal(2, Directory.EnumerateFileSystemEntries(_temp.Path).Count()); // no temporary file left
    }
}
