namespace Edge.Tests.Helpers;

/// <summary>
/// Tests that run commands on a tiny model of their own (made anew for each test, in a temp folder deleted after it).
/// </summary>
public abstract class TinyModelTests : IDisposable
{
    protected readonly TempDirectory _temp = new();
    protected readonly string _model;

    /// <param name="makeModel">Writes the model into the temp folder and returns its path (see <see cref="TestModels"/>).</param>
    protected TinyModelTests(Func<TempDirectory, string> makeModel) => _model = makeModel(_temp);

    public void Dispose()
    {
        _temp.Dispose();
        GC.SuppressFinalize(this);
    }
}
