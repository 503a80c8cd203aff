using System.Threading.Channels;
using Edge.Runtime.Sampling;

namespace Edge.Server.Scheduling;

/// <summary>What one sequence asks of the scheduler: tokens in, how to sample, when to end.</summary>
internal sealed record SequenceRequest
{
    public required int[] PromptTokens { get; init; }

    /// <summary>Tokens to generate at most.</summary>
    public required int MaxTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Strings that end the generation; the text never includes them (matched across token boundaries).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Keep generating past EOS (benchmarks, like llama.cpp's ignore_eos).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>
    /// A prompt position worth caching the state at besides the prompt's end: where a chat's history ends and the
    /// newest message begins, so the next request of the conversation (or another with the same system prompt)
    /// restores it. 0 for none.
    /// </summary>
    public int CheckpointAt { get; init; }
}

/// <summary>Why a sequence ended: the OpenAI finish_reason (stop covers EOS and stop strings), or neither.</summary>
internal enum SequenceEnd { Stop, Length, Cancelled, Failed }

/// <summary>A finished sequence: its tokens, text and timings.</summary>
internal sealed record SequenceResult(
    SequenceEnd Reason,
    int PromptTokens,
    int CachedPromptTokens,
    int[] Tokens,
    string Text,
    string? MatchedStop,
    TimeSpan QueueTime,
    TimeSpan PrefillTime,
    TimeSpan DecodeTime,
    Exception? Error = null)
{
    /// <summary>From submission to the first token's sampling, on the scheduler's clock; null when none was sampled.</summary>
    public TimeSpan? TimeToFirstToken { get; init; }
}

/// <summary>
/// A request the scheduler has accepted. Text arrives on <see cref="Pieces"/> as it is generated (never a partial
/// stop string); <see cref="Completion"/> ends with the result. Cancelling the token given at submission removes
/// the sequence at the next step.
/// </summary>
internal sealed class Sequence
{
    readonly Channel<string> _pieces = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    readonly TaskCompletionSource<SequenceResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _generated;

    internal Sequence(SequenceRequest request, CancellationToken cancellationToken)
    {
        Request = request;
        CancellationToken = cancellationToken;
    }

    public SequenceRequest Request { get; }

    public CancellationToken CancellationToken { get; }

    public ChannelReader<string> Pieces => _pieces.Reader;

    /// <summary>Tokens generated so far (EOS excluded), while it runs.</summary>
    public int GeneratedTokens => Volatile.Read(ref _generated);

    public Task<SequenceResult> Completion => _completion.Task;

    internal void Generated() => Interlocked.Increment(ref _generated);

    internal void Emit(string text)
    {
        if (text.Length > 0)
            _pieces.Writer.TryWrite(text);
    }

    internal CancellationTokenRegistration WakeOnCancel { get; set; }

    internal void Finish(SequenceResult result)
    {
        WakeOnCancel.Dispose();
        _pieces.Writer.TryComplete();
        _completion.TrySetResult(result);
    }
}
