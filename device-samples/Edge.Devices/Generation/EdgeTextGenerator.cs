using System.Runtime.CompilerServices;
using Edge.Runtime;
using Edge.Runtime.Generation;

namespace Edge.Devices.Generation;

/// <summary>
/// <see cref="ITextGenerator"/> over an Edge model: loads the file once and keeps one <see cref="Generator"/>.
/// Requests are serialised, since a model runs one generation at a time.
/// </summary>
public sealed class EdgeTextGenerator : ITextGenerator, IDisposable
{
    readonly EdgeModel _model;
    readonly Generator _generator;
    readonly SemaphoreSlim _oneAtATime = new(1, 1);

    EdgeTextGenerator(EdgeModel model, string path)
    {
        _model = model;
        _generator = new Generator(model);
        Description = $"{Path.GetFileName(path)} ({model.Config.HiddenSize} hidden, {model.Config.NumHiddenLayers} layers, vocabulary {model.Config.VocabSize})";
    }

    public string Description { get; }

    /// <summary>The last finished generation's tokens and timings.</summary>
    public GenerationResult? LastResult { get; private set; }

    /// <summary>Loads a model; a missing or damaged file throws with a message that says what to do.</summary>
    public static EdgeTextGenerator Load(string path, int threads)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file \"{path}\" does not exist: set Model:Path (or EDGE_MODEL__PATH) to a packed model made with edge-pack.", path);
        return new EdgeTextGenerator(EdgeModel.Load(path, new LoadOptions { Threads = threads }), path);
    }

    public async IAsyncEnumerable<string> GenerateAsync(TextRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var generation = new GenerationRequest { Prompt = request.Prompt, MaxTokens = request.MaxTokens, Sampling = request.Sampling };
            await foreach (var piece in _generator.GenerateAsync(generation, cancellationToken).ConfigureAwait(false))
            {
                if (piece.Result is not null)
                    LastResult = piece.Result;
                if (piece.Text.Length > 0)
                    yield return piece.Text;
            }
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose()
    {
        _model.Dispose();
        _oneAtATime.Dispose();
    }
}
