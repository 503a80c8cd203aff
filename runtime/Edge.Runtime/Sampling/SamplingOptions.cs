namespace Edge.Runtime.Sampling;

/// <summary>Sampling settings; the defaults follow llama.cpp's. Temperature 0 means greedy.</summary>
public sealed record SamplingOptions
{
    /// <summary>Softmax temperature; 0 is greedy (always the most likely token).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep the K most likely tokens; 0 disables.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set whose probability reaches P; 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens less likely than MinP × the most likely one; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Divide positive (multiply negative) logits of recently seen tokens; 1 disables.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many recent tokens the repetition penalty looks at (at most 4096); 0 disables.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Random seed; the same seed, model and prompt give the same text. Null picks one at random.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Always the most likely token: deterministic, no seed needed.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentException($"--temp must be a number ≥ 0 (got {Temperature}).");
        if (TopK < 0)
            throw new ArgumentException($"--top-k must be ≥ 0 (got {TopK}).");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentException($"--top-p must be in (0, 1] (got {TopP}).");
        if (!(MinP >= 0 && MinP <= 1))
            throw new ArgumentException($"--min-p must be in [0, 1] (got {MinP}).");
        if (!(RepeatPenalty > 0) || float.IsInfinity(RepeatPenalty))
            throw new ArgumentException($"--repeat-penalty must be > 0 (got {RepeatPenalty}).");
        if (RepeatLastN is < 0 or > 4096)
            throw new ArgumentException($"--repeat-last-n must be in [0, 4096] (got {RepeatLastN}).");
    }
}
