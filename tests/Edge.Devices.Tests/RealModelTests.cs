using System.Device.Gpio;
using Edge.Devices.Generation;
using Edge.Packer;
using Edge.Runtime.Sampling;

namespace Edge.Devices.Tests;

/// <summary>
/// The production adapter over a real (tiny, synthetic) model written by the packer: random weights, so the text is
/// gibberish, but it goes through the real tokenizer, forward pass, sampler and streaming decoder.
/// </summary>
public sealed class RealModelTests : IDisposable
{
    readonly string _directory = Directory.CreateTempSubdirectory("edge-devices-model-").FullName;
    readonly string _modelPath;

    public RealModelTests()
    {
        _modelPath = Path.Combine(_directory, "tiny.edge");
        new SyntheticModel(TextWriter.Null).Write(new SyntheticShape("tiny", Hidden: 64, Layers: 2, Vocab: 640, Intermediate: 256), seed: 7, _modelPath, name: null, force: true);
    }

    static TextRequest Greedy(string prompt, int maxTokens) => new(prompt, maxTokens, SamplingOptions.Greedy);

    static async Task<string> CollectAsync(ITextGenerator generator, TextRequest request)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var piece in generator.GenerateAsync(request, TestContext.Current.CancellationToken))
            text.Append(piece);
        return text.ToString();
    }

    [Fact]
    public async Task The_adapter_streams_what_the_generator_records_and_is_repeatable()
    {
        using var generator = EdgeTextGenerator.Load(_modelPath, threads: 1);

        string first = await CollectAsync(generator, Greedy("The room is at 25.1 °C", 6));
        var result = generator.LastResult!;
        string second = await CollectAsync(generator, Greedy("The room is at 25.1 °C", 6));

        Assert.Equal(result.Text, first);
        Assert.InRange(result.Tokens.Length, result.StoppedAtEos ? 0 : 6, 6);
        Assert.NotEmpty(result.PromptTokens);
        Assert.Equal(first, second);
        Assert.Contains("64 hidden, 2 layers", generator.Description);
    }

    [Fact]
    public async Task A_PIR_trigger_in_the_service_generates_with_the_real_model()
    {
        using var generator = EdgeTextGenerator.Load(_modelPath, threads: 1);
        var options = DaemonHarness.TestOptions();
        options.Sampling.Temperature = 0; // greedy, so the expected text can be computed directly
        options.Model.MaxTokens = 5;
        await using var daemon = await DaemonHarness.StartAsync(options, generator);
        await daemon.FirstReadingAsync();

        daemon.Board.Gpio.SetInput(options.Gpio.MotionPin!.Value, PinValue.High);
        var outcome = (await daemon.Sink.WaitForAsync(1))[0];

        Assert.Contains("25.1 °C", outcome.Trigger.Prompt);
        Assert.Null(outcome.Error);
        Assert.Equal(await CollectAsync(generator, Greedy(outcome.Trigger.Prompt, 5)), outcome.Text);
    }

    [Fact]
    public void A_missing_model_file_says_what_to_set()
    {
        var e = Assert.Throws<FileNotFoundException>(() => EdgeTextGenerator.Load(Path.Combine(_directory, "nope.edge"), 1));

        Assert.Contains("Model:Path", e.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
