using Edge.Runtime;
using System.CommandLine;
using System.Runtime.InteropServices;
using Edge.Format.Container;
using Edge.Format.Text;
using Edge.Runtime.Diagnostics;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Cli.Commands;

/// <summary><c>edge inspect</c>: what a model file holds and what running it will cost, without running it.</summary>
static class InspectCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string?>("--model", "-m") { Description = $"Model file to describe (default: ${BundledModel.Variable}, then the bundled {BundledModel.FileName})" };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor" };
        var verify = new Option<bool>("--verify") { Description = "Recompute every tensor checksum" };
        var cpu = new Option<bool>("--cpu") { Description = "Show the CPU features and the ternary kernel Edge will use" };
        var command = new Command("inspect", "Describe a model file (metadata, tensors, memory) or the CPU");
        command.Options.Add(model);
        command.Options.Add(tensors);
        command.Options.Add(verify);
        command.Options.Add(cpu);
        command.SetAction((parse, cancel) => CliErrors.Guard(stderr, () =>
        {
            string? path = parse.GetValue(model);
            bool listTensors = parse.GetValue(tensors), verifyChecksums = parse.GetValue(verify);
            if (parse.GetValue(cpu))
            {
                DescribeCpu(stdout);
                // --cpu alone is about the machine; a model flag next to it asks for the (bundled) model too.
                if (path is null && !listTensors && !verifyChecksums)
                    return Task.FromResult(0);
            }
            return Task.FromResult(DescribeModel(stdout, stderr, path ?? BundledModel.Locate(), listTensors, verifyChecksums));
        }));
        return command;
    }

    static void DescribeCpu(TextWriter o)
    {
        string cache = CpuCaches.LastLevelBytes is long bytes ? $", last-level cache {ByteSize.Format(bytes)}" : "";
        o.WriteLine($"cpu: {RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores{cache}");
        BuildTarget.Describe(o);
        o.WriteLine($"kernels available: {string.Join(", ", KernelFactory.Available.Select(k => k.Name))}");
        int threads = TernaryExecutor.DefaultThreads;
        var chosen = KernelFactory.Default;
        string forced = Environment.GetEnvironmentVariable(KernelFactory.OverrideVariable) is { Length: > 0 } f ? $" (forced by {KernelFactory.OverrideVariable}={f})" : "";
        o.WriteLine($"kernel: {chosen.Name}{forced} with the default {threads} thread(s): {chosen.Description}");
        o.WriteLine(KernelFactory.FiveTritFor(chosen) is { } fiveTrit
            ? $"1.6-bit models: read as packed by {fiveTrit.Name}: {fiveTrit.Description}"
            : $"1.6-bit models: repacked to 2-bit at load (no 1.6-bit kernel next to {chosen.Name}; costs the 2-bit size in memory)");
        o.WriteLine(HugePages.SystemMode switch
        {
            "always" or "madvise" => $"huge pages: --no-mmap puts the model in {HugePages.Size >> 20} MiB pages; a mapped model gets them where the file system keeps it in huge folios (ext4 from Linux 6.16, XFS) (transparent huge pages: {HugePages.SystemMode})",
            { } mode => $"huge pages: switched off (transparent huge pages: {mode}); --no-mmap uses 4 KiB pages",
            null => "huge pages: not available here; --no-mmap uses 4 KiB pages",
        });
    }

    static int DescribeModel(TextWriter o, TextWriter err, string path, bool listTensors, bool verify)
    {
        using var file = ModelFile.Open(path);
        var m = file.Metadata;
        var c = m.Config;
        o.WriteLine($"file: {path} ({ByteSize.Format(file.FileLength)}, format version {file.FormatVersion})");
        o.WriteLine($"name: {(m.Name.Length > 0 ? m.Name : "(none)")}");
        o.WriteLine($"architecture: {m.Architecture}");
        o.WriteLine($"  vocab_size {c.VocabSize}, hidden_size {c.HiddenSize}, num_hidden_layers {c.NumHiddenLayers}, intermediate_size {c.IntermediateSize}");
        o.WriteLine($"  num_heads {c.NumHeads}, rms_norm_eps {c.RmsNormEps:G}, use_lower_bound {c.UseLowerBound}, max_position_embeddings {c.MaxPositionEmbeddings}");
        o.WriteLine($"tokenizer: {m.Tokenizer.Kind} ({m.Tokenizer.Tensor}), bos {m.Tokenizer.BosTokenId}, eos {m.Tokenizer.EosTokenId}, unk {m.Tokenizer.UnkTokenId}, add_bos {m.Tokenizer.AddBosToken}");
        o.WriteLine($"packer: {m.Packer}");
        foreach (var s in m.Sources)
            o.WriteLine($"  source {s.Name} ({ByteSize.Format(s.Bytes)}) sha256 {s.Sha256}");

        long ternaryWeights = 0, ternaryBytes = 0, params_ = 0;
        var byType = new SortedDictionary<TensorType, (int Count, long Bytes)>();
        foreach (var t in file.Tensors)
        {
            byType[t.Type] = byType.TryGetValue(t.Type, out var e) ? (e.Count + 1, e.Bytes + t.Length) : (1, t.Length);
            if (t.Type != TensorType.Bytes)
                params_ += t.ElementCount;
            if (TensorTypes.IsTernary(t.Type))
            {
                ternaryWeights += t.ElementCount;
                ternaryBytes += t.Length;
            }
        }
        o.WriteLine($"tensors: {file.Tensors.Count}, parameters {params_:N0}");
        foreach (var (type, (count, bytes)) in byType)
            o.WriteLine($"  {TensorTypes.Name(type),-10} {count,5} tensors {ByteSize.Format(bytes),12}");
        o.WriteLine($"ternary: {ternaryWeights:N0} weights in {ByteSize.Format(ternaryBytes)} ({8.0 * ternaryBytes / Math.Max(1, ternaryWeights):F3} bits/weight); read per decoded token");

        const int batch = 64;
        long state = 4L * c.NumHiddenLayers * c.HiddenSize;
        long workspace = HgrnBitModel.WorkspaceBytesFor(c, batch, TernaryExecutor.DefaultThreads);
        long norms = 4L * file.Tensors.Where(t => t.Type == TensorType.F32).Sum(t => t.ElementCount);
        o.WriteLine("memory:");
        o.WriteLine($"  mapped (file, shared, paged in on use)  {ByteSize.Format(file.FileLength),12}");
        o.WriteLine($"  recurrent state per sequence             {ByteSize.Format(state),12}  (constant in context length)");
        o.WriteLine($"  workspace (prefill batch {batch})             {ByteSize.Format(workspace),12}");
        o.WriteLine($"  fp32 vectors copied at load              {ByteSize.Format(norms),12}");

        if (listTensors)
        {
            o.WriteLine("tensor table:");
            foreach (var t in file.Tensors)
                o.WriteLine($"  {t.Name,-44} {TensorTypes.Name(t.Type),-10} {t.ShapeText,-14} @{t.Offset,-12} {ByteSize.Format(t.Length),10}{(TensorTypes.IsTernary(t.Type) ? $"  scale {t.Scale:G6}" : "")}");
        }
        if (verify)
        {
            var bad = file.VerifyChecksums();
            if (bad.Count > 0)
            {
                err.WriteLine($"edge: error: checksum mismatch in {bad.Count} tensor(s): {string.Join(", ", bad.Take(5))}; the file is corrupt.");
                return 1;
            }
            o.WriteLine($"checksums: all {file.Tensors.Count} tensors OK");
        }
        return 0;
    }
}
