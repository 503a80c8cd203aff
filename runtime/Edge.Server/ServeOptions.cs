namespace Edge.Server;

/// <summary>What <c>edge serve</c> listens on and how much it takes at once.</summary>
internal sealed record ServeOptions
{
    /// <summary>Address to bind: an IP (127.0.0.1, 0.0.0.0, ::) or "localhost".</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 takes a free one (see <see cref="EdgeServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>When set, /v1/* requires <c>Authorization: Bearer KEY</c>; /health and /metrics stay open.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The model id of /v1/models, which a request's <c>model</c> must name (or leave out).</summary>
    public required string ModelId { get; init; }

    /// <summary>Sequences that decode together.</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Requests that may wait for a slot before the server answers 429.</summary>
    public int Queue { get; init; } = 64;

    /// <summary>Most tokens a sequence may hold, prompt and completion together; a longer prompt gets 413.</summary>
    public int ContextSize { get; init; } = 8192;

    /// <summary>Tokens generated when a request gives no max_tokens.</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>Bytes of per-conversation prefix states kept (LRU); 0 turns the cache off.</summary>
    public long PrefixCacheBytes { get; init; } = 64L << 20;

    /// <summary>Largest request body accepted; a larger one gets 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 4L << 20;

    public void Validate()
    {
        if (Port is < 0 or > 65535)
            throw new ArgumentException($"--port must be in [0, 65535] (got {Port}).");
        if (Parallel < 1)
            throw new ArgumentException($"--parallel must be ≥ 1 (got {Parallel}).");
        if (Queue < 0)
            throw new ArgumentException($"--queue must be ≥ 0 (got {Queue}).");
        if (ContextSize < 1)
            throw new ArgumentException($"--ctx-size must be ≥ 1 (got {ContextSize}).");
        if (DefaultMaxTokens < 0)
            throw new ArgumentException($"--n-predict must be ≥ 0 (got {DefaultMaxTokens}).");
        if (PrefixCacheBytes < 0)
            throw new ArgumentException($"--cache-mb must be ≥ 0 (got {PrefixCacheBytes >> 20}).");
        if (ApiKey is { Length: 0 })
            throw new ArgumentException("--api-key must not be empty.");
    }
}
