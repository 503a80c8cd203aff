using Edge.Format.Container;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;
using Edge.Runtime.Tokenization;

namespace Edge.Runtime;

/// <summary>Options for loading a model.</summary>
public sealed record LoadOptions
{
    /// <summary>Kernel name (see <see cref="KernelFactory"/>); null picks <c>EDGE_KERNEL</c> or the fastest.</summary>
    public string? Kernel { get; init; }

    /// <summary>Worker threads for the matrix products, at most <see cref="TernaryExecutor.MaxThreads"/>; 0 means one per physical core.</summary>
    public int Threads { get; init; }

    /// <summary>Tokens per batch during prefill.</summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>Recompute every tensor's checksum at load (reads the whole file once).</summary>
    public bool VerifyChecksums { get; init; }

    /// <summary>
    /// Map the file (the default: shared with the page cache, paged in on first use, nothing copied). False reads it
    /// into process memory at load, like llama.cpp's <c>--no-mmap</c>: resident memory grows by the file's size, and
    /// no token waits for storage afterwards. On Linux the copy asks for transparent huge pages, so decode no longer
    /// depends on where the page cache put the file's 4 KiB pages: it runs as fast as from a freshly written file's
    /// mapping, and faster than from a mapping whose pages have scattered in physical memory (docs/PERFORMANCE.md,
    /// "Memory").
    /// </summary>
    public bool MemoryMap { get; init; } = true;

    /// <summary>
    /// Repack 1.6-bit matrices to 2-bit at load even where a kernel reads them (for an offload device, which takes
    /// 2-bit rows, or to compare the layouts). Without a 1.6-bit kernel they are repacked anyway.
    /// </summary>
    public bool RepackFiveTrit { get; init; }
}

/// <summary>A loaded model: the mapped file, its weights, tokenizer and forward pass.</summary>
public sealed class EdgeModel : IDisposable
{
    EdgeModel(ModelFile file, HgrnBitModel model, EdgeTokenizer tokenizer)
    {
        File = file;
        Model = model;
        Tokenizer = tokenizer;
    }

    internal ModelFile File { get; }
    internal HgrnBitModel Model { get; }
    /// <summary>The model's tokenizer.</summary>
    public EdgeTokenizer Tokenizer { get; }
    /// <summary>The model's shape: hidden size, layers, heads, vocabulary.</summary>
    public HgrnBitConfig Config => Model.Config;

    /// <summary>The model file's path, as given to <see cref="Load"/>.</summary>
    public string Path => File.Path;

    /// <summary>What the model file says about itself: name, architecture, tokenizer, chat template, sources.</summary>
    public ModelMetadata Metadata => File.Metadata;

    /// <summary>SHA-256 of the file's metadata and tensor table (every tensor's CRC-32): names these exact weights.</summary>
    public string Fingerprint => File.Fingerprint;

    /// <summary>Maps, validates and prepares a model file. Errors are <see cref="InvalidDataException"/> or I/O exceptions with a readable message.</summary>
    public static EdgeModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (options.Threads < 0 || options.Threads > TernaryExecutor.MaxThreads)
            throw new ArgumentException($"Threads = {options.Threads} is out of range: give 1 to {TernaryExecutor.MaxThreads}, or 0 for one per physical core.");
        var file = ModelFile.Open(path, inMemory: !options.MemoryMap);
        try
        {
            if (file.Metadata.Architecture != HgrnBitConfig.ModelType)
                throw new InvalidDataException($"Model architecture \"{file.Metadata.Architecture}\" is not supported; Edge runs {HgrnBitConfig.ModelType} (MatMul-free LM) models.");
            if (options.VerifyChecksums && file.VerifyChecksums() is { Count: > 0 } bad)
                throw new InvalidDataException($"Checksum mismatch in {bad.Count} tensor(s), first {bad[0]}: the model file is corrupt; copy or pack it again.");
            var tokenizerInfo = file.Metadata.Tokenizer;
            var tokenizerBlob = file.GetInfo(tokenizerInfo.Tensor);
            if (tokenizerBlob.Type != TensorType.Bytes)
                throw new InvalidDataException($"Tokenizer tensor {tokenizerBlob.Name} has type {tokenizerBlob.Type}; a byte blob was expected. Re-pack the model.");
            var tokenizer = new EdgeTokenizer(file.GetBytes(tokenizerBlob), tokenizerInfo);
            var kernel = options.Kernel is null ? KernelFactory.Default : KernelFactory.Select(options.Kernel);
            var fiveTritKernel = options.RepackFiveTrit ? null : KernelFactory.FiveTritFor(kernel);
            var weights = new HgrnBitWeights(file, readFiveTrit: fiveTritKernel != null);
            if (tokenizer.VocabularySize > weights.Config.VocabSize)
                throw new InvalidDataException($"The tokenizer has {tokenizer.VocabularySize} tokens but the model only {weights.Config.VocabSize}.");
            int threads = options.Threads > 0 ? options.Threads : TernaryExecutor.DefaultThreads;
            var executor = new TernaryExecutor(kernel, threads, weights.HasFiveTrit ? fiveTritKernel : null);
            var model = new HgrnBitModel(weights, executor, options.MaxBatch);
            return new EdgeModel(file, model, tokenizer);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    int _generating;

    /// <summary>
    /// Claims the model for one generation: the forward pass uses buffers of the model itself, so a second
    /// concurrent one would corrupt both. Throws rather than waits, so the caller decides how to queue.
    /// </summary>
    internal GenerationLease EnterGeneration()
    {
        if (Interlocked.Exchange(ref _generating, 1) != 0)
            throw new InvalidOperationException("Another generation is running on this model; an EdgeModel runs one generation at a time (wait for it to finish, or load the model once per concurrent user).");
        return new GenerationLease(this);
    }

    internal readonly struct GenerationLease(EdgeModel model) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref model._generating, 0);
    }

    /// <summary>Unmaps the file and stops the worker threads.</summary>
    public void Dispose()
    {
        Model.Executor.Dispose();
        File.Dispose();
    }
}
