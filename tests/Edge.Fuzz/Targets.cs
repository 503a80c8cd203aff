using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Edge.Devices.Fleet;
using Edge.Format.Container;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Packer;
using Edge.Packer.Safetensors;
using Edge.Runtime;
using Edge.Runtime.Tokenization;
using Edge.Server;
using Edge.Server.Protocol;

namespace Edge.Fuzz;

/// <summary>One parser under fuzzing: its seeds, how inputs are mutated, and which exceptions are its clean refusals.</summary>
public abstract class Target
{
    public abstract string Name { get; }

    /// <summary>Whether the input is JSON text (enables the JSON-aware mutations).</summary>
    public virtual bool IsJson => false;

    /// <summary>Whether it is a file format (the ≥ 1,000,000-execution goal of docs/RELIABILITY.md applies).</summary>
    public virtual bool IsFileFormat => true;

    public abstract IEnumerable<byte[]> Seeds(string corpusFolder);

    /// <summary>One-time set-up before the first input (loading a model), so it is not charged to that input.</summary>
    public virtual void Prepare()
    {
    }

    /// <summary>Structure-aware repair after mutation (checksums), so the input is kept exactly as it ran.</summary>
    public virtual void Fixup(byte[] input, Random random)
    {
    }

    /// <summary>Runs the input; returns an outcome key (what happened, without numbers) for the corpus feedback.</summary>
    public abstract string Run(byte[] input);

    /// <summary>Exceptions that are the parser's documented refusal: one clear line, never a crash.</summary>
    public abstract bool IsRefusal(Exception e);

    protected static IEnumerable<byte[]> Files(string folder) =>
        Directory.Exists(folder) ? Directory.GetFiles(folder).Order(StringComparer.Ordinal).Select(File.ReadAllBytes) : [];

    /// <summary>A scratch file for parsers that take a path; /dev/shm where it exists, so no disk is worn.</summary>
    protected static string Scratch(string name)
    {
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string folder = Path.Combine(root, $"edge-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name);
    }

    public static void DeleteScratch()
    {
        foreach (string root in new[] { "/dev/shm", Path.GetTempPath() })
        {
            string folder = Path.Combine(root, $"edge-fuzz-{Environment.ProcessId}");
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>Model file: parse; where that passes, map, verify, load and run one token.</summary>
public sealed class ModelFileTarget : Target
{
    public override string Name => "model";

    public override IEnumerable<byte[]> Seeds(string corpusFolder)
    {
        string path = Scratch("seed.edge");
        foreach (var (packing, seed) in new[] { (TensorType.Ternary2, 1UL), (TensorType.TernaryFiveTrit, 2UL) })
        {
            new SyntheticModel(TextWriter.Null) { Packing = packing }.Write(new SyntheticShape("fuzz", 32, 1, 512, 64), seed, path, "fuzz", force: true);
            yield return File.ReadAllBytes(path);
        }
    }

    public override void Fixup(byte[] input, Random random)
    {
        if (random.Next(4) != 0)
            Mutator.ResealModelFile(input);
    }

    public override string Run(byte[] input)
    {
        var (_, metadata, tensors) = ModelFile.Parse(input.AsSpan(0, Math.Min(input.Length, int.MaxValue)), input.Length);
        string path = Scratch("input.edge");
        File.WriteAllBytes(path, input);
        using var model = EdgeModel.Load(path, new LoadOptions { Threads = 1, MaxBatch = 2, VerifyChecksums = true });
        var logits = new float[model.Config.VocabSize];
        model.Model.Forward([model.Tokenizer.BosId], model.Model.CreateState(), logits);
        return $"ran {metadata.Config.HiddenSize > 0} {tensors.Count > 0}";
    }

    public override bool IsRefusal(Exception e) => e is InvalidDataException;
}

/// <summary>A safetensors file: header, dtypes, shapes and offsets, then every tensor's first and last element read.</summary>
public sealed class SafetensorsTarget : Target
{
    public override string Name => "safetensors";

    public override bool IsJson => true;

    public override IEnumerable<byte[]> Seeds(string corpusFolder)
    {
        yield return Safetensors(("a", "BF16", [2, 3]), ("b", "F32", [4]), ("c", "F16", [1, 1, 2]));
        yield return Safetensors(("model.norm.weight", "BF16", [8]));
        foreach (var file in Files(Path.Combine(corpusFolder, Name)))
            yield return file;
    }

    static byte[] Safetensors(params (string Name, string DType, long[] Shape)[] tensors)
    {
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        foreach (var (name, dtype, shape) in tensors)
        {
            long bytes = shape.Aggregate(1L, (a, d) => a * d) * (dtype == "F32" ? 4 : 2);
            header.Append($",\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        header.Append('}');
        while ((header.Length + 8) % 8 != 0)
            header.Append(' ');
        byte[] json = Encoding.UTF8.GetBytes(header.ToString());
        var file = new byte[8 + json.Length + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        new Random(1).NextBytes(file.AsSpan(8 + json.Length));
        return file;
    }

    public override string Run(byte[] input)
    {
        string path = Scratch("model.safetensors");
        File.WriteAllBytes(path, input);
        using var file = SafetensorsFile.Open(path);
        Span<float> one = stackalloc float[1];
        foreach (var t in file.Tensors.Values)
            if (t.ElementCount > 0)
            {
                t.ReadAsSingle(0, one);
                t.ReadAsSingle(t.ElementCount - 1, one);
            }
        return $"ok {Math.Min(file.Tensors.Count, 3)}";
    }

    public override bool IsRefusal(Exception e) => e is PackerException;
}

/// <summary>model.safetensors.index.json, with one shard present.</summary>
public sealed class SafetensorsIndexTarget : Target
{
    public override string Name => "safetensors-index";

    public override bool IsJson => true;

    public override IEnumerable<byte[]> Seeds(string corpusFolder) => Files(Path.Combine(corpusFolder, Name));

    public override string Run(byte[] input)
    {
        string folder = Directory.CreateDirectory(Path.GetDirectoryName(Scratch("index/x"))!).FullName;
        string shard = Path.Combine(folder, "model-00001-of-00001.safetensors");
        if (!File.Exists(shard))
            File.WriteAllBytes(shard, new SafetensorsTarget().Seeds("").First());
        File.WriteAllBytes(Path.Combine(folder, CheckpointReader.IndexFileName), input);
        using var reader = CheckpointReader.Open(folder);
        return $"ok {reader.TensorNames.Count()}";
    }

    public override bool IsRefusal(Exception e) => e is PackerException;
}

/// <summary>A checkpoint's config.json.</summary>
public sealed class ConfigTarget : Target
{
    public override string Name => "config";

    public override bool IsJson => true;

    public override IEnumerable<byte[]> Seeds(string corpusFolder) => Files(Path.Combine(corpusFolder, Name));

    public override string Run(byte[] input)
    {
        string path = Scratch("config.json");
        File.WriteAllBytes(path, input);
        var config = HfConfig.Load(path);
        return $"ok {config.Model.UseLowerBound}";
    }

    public override bool IsRefusal(Exception e) => e is PackerException;
}

/// <summary>tokenizer.model as the runtime loads it, then one encode and decode.</summary>
public sealed class TokenizerTarget : Target
{
    public override string Name => "tokenizer";

    public override IEnumerable<byte[]> Seeds(string corpusFolder) => [SyntheticModel.PlaceholderTokenizer().Bytes];

    public override string Run(byte[] input)
    {
        var tokenizer = new EdgeTokenizer(input, new TokenizerInfo());
        int[] ids = tokenizer.Encode("Hello, world: ünïcödé 123");
        _ = tokenizer.Decode(ids.Where(id => id >= 0 && id < tokenizer.VocabularySize));
        return $"ok {ids.Length > 0}";
    }

    public override bool IsRefusal(Exception e) => e is InvalidDataException;
}

/// <summary>
/// TMV1 frames into the device emulator: input = frames, each a 2-byte length and its MOSI bytes. The emulator
/// stands for the FPGA: it must answer every frame, however broken, with status bytes and no exception.
/// </summary>
public sealed class TmvFrameTarget : Target
{
    public override string Name => "tmv";

    public override IEnumerable<byte[]> Seeds(string corpusFolder)
    {
        var frames = new List<byte[]>
        {
            Frame(Opcode.Info, [], 3 + Tmv.InfoBodyBytes + 2),
            Frame(Opcode.DefineSlot, [0, 0, 0, 0, 0, 4, 0, 0, 1], 0),
            Frame(Opcode.LoadWeights, [0, 0, 0, 0, 0, 0, 1], 256 + 2),
            Frame(Opcode.CommitWeights, [0, 0, 0, 0, 0], 0),
            Frame(Opcode.LoadX, [0, 0, 1], 256 + 2),
            Frame(Opcode.Run, [0, 0, 1, 0], 0),
            new byte[64],
            Frame(Opcode.ReadY, [0, 0, 4, 0], 3 + 1 + 16 + 2),
            Frame(Opcode.GetError, [], 3 + Tmv.ErrorBodyBytes + 2),
            Frame(Opcode.ClearError, [], 0),
            Frame(Opcode.SoftReset, [Tmv.ResetKey0, Tmv.ResetKey1], 0),
        };
        yield return Join(frames);
        yield return Join(frames.Take(3));
    }

    static byte[] Frame(Opcode op, byte[] arguments, int after)
    {
        var frame = new byte[Tmv.HeaderBytes(op) + after];
        frame[0] = (byte)op;
        frame[1] = 7;
        arguments.CopyTo(frame, 2);
        Crc16.Seal(frame.AsSpan(0, Tmv.HeaderBytes(op)));
        return frame;
    }

    static byte[] Join(IEnumerable<byte[]> frames)
    {
        var all = new List<byte>();
        foreach (var f in frames)
        {
            all.Add((byte)f.Length);
            all.Add((byte)(f.Length >> 8));
            all.AddRange(f);
        }
        return [.. all];
    }

    static IEnumerable<(int Start, int Length)> Split(byte[] input)
    {
        for (int p = 0; p + 2 <= input.Length;)
        {
            int n = Math.Min(input[p] | input[p + 1] << 8, input.Length - p - 2);
            yield return (p + 2, n);
            p += 2 + n;
        }
    }

    public override void Fixup(byte[] input, Random random)
    {
        if (random.Next(2) != 0)
            return;
        foreach (var (start, length) in Split(input))
        {
            if (length == 0 || Tmv.ArgumentBytes((Opcode)input[start]) < 0)
                continue;
            int header = Tmv.HeaderBytes((Opcode)input[start]);
            if (header <= length)
                Crc16.Seal(input.AsSpan(start, header));
        }
    }

    public override string Run(byte[] input)
    {
        var device = new TernaryDeviceEmulator(DeviceInfo.Up5k);
        var status = new StringBuilder("s");
        foreach (var (start, length) in Split(input))
        {
            var miso = new byte[length];
            device.TransferFullDuplex(input.AsSpan(start, length), miso);
            if (length > 0 && (miso[0] & Tmv.StatusMarkerMask) != Tmv.StatusMarker)
                throw new InvalidOperationException($"The emulator answered status byte 0x{miso[0]:X2}, which lacks the status marker.");
            if (length > 0 && status.Length < 24)
                status.Append((char)('a' + (miso[0] & 0x1F) % 26));
        }
        return status.ToString();
    }

    public override bool IsRefusal(Exception e) => false;
}

/// <summary>Fleet MQTT payloads: requests, replies and status messages; a bad payload returns null, never throws.</summary>
public sealed class FleetMessageTarget : Target
{
    public override string Name => "fleet";

    public override bool IsJson => true;

    public override bool IsFileFormat => false;

    public override IEnumerable<byte[]> Seeds(string corpusFolder) => Files(Path.Combine(corpusFolder, Name));

    public override string Run(byte[] input)
    {
        var payload = new ReadOnlySequence<byte>(input);
        var request = FleetMessages.ParseRequest(payload, "edge/results", [1, 2], out string? error);
        var reply = FleetMessages.ParseReply(payload);
        bool online = FleetMessages.IsOnlineStatus(payload);
        return $"{request is not null} {error?[..Math.Min(error.Length, 12)]} {reply is not null} {online}";
    }

    public override bool IsRefusal(Exception e) => false;
}

/// <summary>
/// A request body of <c>edge serve</c>, read as /v1/completions and as /v1/chat/completions by the server's own
/// <see cref="RequestAdmission"/> (JSON parse, field checks, model name, prompt tokens against the context size) on
/// the bundled model, loaded once. An accepted body must give a runnable sequence; a refusal must be an
/// <see cref="ApiError"/> with a 4xx status whose OpenAI error body serializes and reads back. Anything else
/// escaping is what the server would answer with a 500: a crash.
/// </summary>
public sealed class ServeRequestTarget : Target
{
    // The context is small so that the fuzzer reaches 413 (prompt too long) and the max_tokens bound cheaply.
    static readonly Lazy<(EdgeModel Model, RequestAdmission Admission)> Server = new(() =>
    {
        var model = EdgeModel.Load(BundledModel.Locate(), new LoadOptions { Threads = 1, MaxBatch = 2 });
        var options = new ServeOptions { ModelId = Path.GetFileNameWithoutExtension(BundledModel.FileName), ContextSize = ContextSize };
        options.Validate();
        return (model, new RequestAdmission(model, options));
    });

    const int ContextSize = 256;

    public override string Name => "serve-request";

    public override bool IsJson => true;

    public override bool IsFileFormat => false;

    public override IEnumerable<byte[]> Seeds(string corpusFolder) => Files(Path.Combine(corpusFolder, Name));

    public override void Prepare() => _ = Server.Value;

    public override string Run(byte[] input)
    {
        // Both endpoints on every body: a refusal by one must not keep the other from running.
        var admission = Server.Value.Admission;
        return $"{Outcome(admission, input, chat: false)} | {Outcome(admission, input, chat: true)}";
    }

    static string Outcome(RequestAdmission admission, byte[] input, bool chat)
    {
        try
        {
            // The server's own read: from a stream, as Kestrel hands the body over.
            using var body = new MemoryStream(input, writable: false);
            var (request, sequence) = admission.ReadAsync(body, chat, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (sequence.PromptTokens.Length == 0 || sequence.MaxTokens < 0 || sequence.PromptTokens.Length + sequence.MaxTokens > ContextSize)
                throw new InvalidOperationException($"An admitted request has {sequence.PromptTokens.Length} prompt tokens and max_tokens {sequence.MaxTokens}.");
            return $"ok {request.Stream} {request.IncludeUsage} {request.Stop.Count} {request.Messages?.Count} {request.MaxTokens is null}";
        }
        catch (ApiError e)
        {
            // What the server would answer: a 4xx with the OpenAI error body, its message one short line.
            if (e.Status is < 400 or > 499)
                throw new InvalidOperationException($"A request body was answered with status {e.Status}: {e.Message}", e);
            if (e.Message.Contains('\n') || e.Message.Contains('\r') || e.Message.Length > 600)
                throw new InvalidOperationException($"A refusal is not one short line: {e.Message[..Math.Min(e.Message.Length, 200)]}");
            byte[] json = JsonSerializer.SerializeToUtf8Bytes(e.Response, ServeJson.Default.ErrorResponse);
            using var back = JsonDocument.Parse(json);
            var error = back.RootElement.GetProperty("error");
            if (error.GetProperty("message").GetString() != e.Message || error.GetProperty("type").GetString() != e.Type || error.GetProperty("code").GetString() != e.Code)
                throw new InvalidOperationException("The error body does not read back as what was refused.");
            return $"{e.Status} {e.Code} " + new string(e.Message.Where(c => !char.IsAsciiDigit(c)).Take(40).ToArray());
        }
    }

    public override bool IsRefusal(Exception e) => false;
}
