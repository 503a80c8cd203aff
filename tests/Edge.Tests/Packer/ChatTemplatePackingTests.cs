using Edge.Format.Container;
using Edge.Tests.Helpers;

namespace Edge.Tests.Packer;

public class ChatTemplatePackingTests
{
    const string ChatMl = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}";

    static string? PackWith(string? tokenizerConfigJson)
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Layers = 1 });
        if (tokenizerConfigJson is not null)
            File.WriteAllText(Path.Combine(checkpoint.Directory, "tokenizer_config.json"), tokenizerConfigJson);
        string output = temp.File("tiny.edge");
        var run = PackerRun.Invoke(checkpoint.Directory, "-o", output);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var file = ModelFile.Open(output);
        return file.Metadata.ChatTemplate;
    }

    [Fact]
    public void TheCheckpointsChatTemplateIsStored() =>
        Assert.Equal(ChatMl, PackWith($$"""{"bos_token": "<s>", "chat_template": {{System.Text.Json.JsonSerializer.Serialize(ChatMl)}}}"""));

    [Fact]
    public void FromANamedListTheDefaultTemplateIsStored() =>
        Assert.Equal("B", PackWith("""{"chat_template": [{"name": "tool_use", "template": "A"}, {"name": "default", "template": "B"}]}"""));

    [Fact]
    public void WithoutATemplateNoneIsStored()
    {
        Assert.Null(PackWith(null));
        Assert.Null(PackWith("""{"bos_token": "<s>"}"""));
    }

    [Fact]
    public void ABrokenTokenizerConfigIsAClearError()
    {
        using var temp = new TempDirectory();
        var checkpoint = TinyCheckpoint.Create(temp.Folder("ckpt"), new TinyCheckpointOptions { Layers = 1 });
        File.WriteAllText(Path.Combine(checkpoint.Directory, "tokenizer_config.json"), "{ not json");
        string output = temp.File("tiny.edge");
        var run = PackerRun.Invoke(checkpoint.Directory, "-o", output);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("tokenizer_config.json is not valid JSON", run.Stderr);
        Assert.False(File.Exists(output));
    }
}
