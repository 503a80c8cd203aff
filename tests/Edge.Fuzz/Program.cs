using System.Diagnostics;

namespace Edge.Fuzz;

/// <summary>
/// <c>edge-fuzz [target|all] [--execs N] [--seconds S] [--seed N] [--corpus DIR] [--out DIR]</c>: mutates each
/// target's seeds for N executions (or S seconds), keeping every input with an outcome not seen before as a new
/// seed. An input that throws anything but the target's documented refusal is a crash, one that runs longer than
/// the hang limit a hang, one that allocates more than its bound (64 bytes per input byte + 32 MiB) a memory
/// failure; each is written to the out folder for a regression test. Prints one line per target; exit 1 on any.
/// <para>Coverage-guided fuzzing with AFL++ uses the same targets (eng/afl-fuzz.sh): <c>edge-fuzz seeds TARGET DIR</c>
/// writes a target's seeds as files, <c>edge-fuzz run TARGET FILE...</c> reruns saved inputs outside AFL, <c>edge-fuzz instrument DIR</c> adds SharpFuzz's edge-coverage probes to the Edge
/// assemblies in a copy of this tool's folder, and <c>edge-fuzz afl TARGET</c>, run from that copy under afl-fuzz,
/// executes each input AFL hands over; a crash, a refusal that is not one line or an input over the memory bound
/// becomes an uncaught exception, which AFL records as a crash.</para>
/// </summary>
public static class Program
{
    const int MaxCorpus = 512;
    const long AllocationAllowance = 32L << 20, AllocationPerInputByte = 64;

    public static readonly Target[] All =
    [
        new ModelFileTarget(), new SafetensorsTarget(), new SafetensorsIndexTarget(), new ConfigTarget(),
        new TokenizerTarget(), new TmvFrameTarget(), new FleetMessageTarget(), new ServeRequestTarget(),
    ];

    public static int Main(string[] args)
    {
        switch (args)
        {
            case ["seeds", var name, var folder, ..]:
                return Find(name) is { } seeded ? WriteSeeds(seeded, Option(args, "--corpus") ?? Path.Combine(AppContext.BaseDirectory, "corpus"), folder) : 2;
            case ["instrument", var folder]:
                return Instrument(folder);
            case ["afl", var name]:
                return Find(name) is { } fuzzed ? RunUnderAfl(fuzzed) : 2;
            case ["run", var name, .. var files] when files.Length > 0:
                return Find(name) is { } replayed ? Replay(replayed, files) : 2;
        }
        string which = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "all";
        long execs = long.Parse(Option(args, "--execs") ?? "10000");
        double seconds = double.Parse(Option(args, "--seconds") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        int seed = int.Parse(Option(args, "--seed") ?? "1");
        string corpus = Option(args, "--corpus") ?? Path.Combine(AppContext.BaseDirectory, "corpus");
        string output = Option(args, "--out") ?? "fuzz-findings";
        double hangSeconds = double.Parse(Option(args, "--hang-seconds") ?? "10", System.Globalization.CultureInfo.InvariantCulture);
        var targets = which == "all" ? All : All.Where(t => t.Name == which).ToArray();
        if (targets.Length == 0)
        {
            Console.Error.WriteLine($"edge-fuzz: error: unknown target {which}; choose one of {string.Join(", ", All.Select(t => t.Name))} or all.");
            return 1;
        }
        int failures = 0;
        try
        {
            foreach (var target in targets)
                failures += Fuzz(target, execs, seconds, seed, corpus, output, hangSeconds);
        }
        finally
        {
            Target.DeleteScratch();
        }
        return failures > 0 ? 1 : 0;
    }

    static Target? Find(string name)
    {
        var target = All.FirstOrDefault(t => t.Name == name);
        if (target is null)
            Console.Error.WriteLine($"edge-fuzz: error: unknown target {name}; choose one of {string.Join(", ", All.Select(t => t.Name))}.");
        return target;
    }

    static int WriteSeeds(Target target, string corpus, string folder)
    {
        Directory.CreateDirectory(folder);
        int n = 0;
        try
        {
            foreach (var seed in target.Seeds(corpus))
                File.WriteAllBytes(Path.Combine(folder, $"seed-{n++:D3}"), seed);
        }
        finally
        {
            Target.DeleteScratch();
        }
        Console.WriteLine($"edge-fuzz: {target.Name}: {n} seeds in {folder}");
        return n > 0 ? 0 : 1;
    }

    /// <summary>The assemblies whose branches AFL should see: Edge's own and edge-pack, not the framework's or the tool's.</summary>
    static int Instrument(string folder)
    {
        var assemblies = Directory.Exists(folder) ? [.. Directory.GetFiles(folder, "Edge.*.dll"), .. Directory.GetFiles(folder, "edge-pack.dll")] : Array.Empty<string>();
        if (assemblies.Length == 0)
        {
            Console.Error.WriteLine($"edge-fuzz: error: no Edge.*.dll in {folder}; give a copy of edge-fuzz's build folder.");
            return 2;
        }
        foreach (var dll in assemblies)
        {
            int types = SharpFuzz.Fuzzer.Instrument(dll, type => type.StartsWith("Edge.", StringComparison.Ordinal), SharpFuzz.Options.Value).Count();
            Console.WriteLine($"edge-fuzz: instrumented {types} types of {Path.GetFileName(dll)}");
        }
        return 0;
    }

    /// <summary>Runs saved inputs (an AFL crash, say) as <see cref="RunUnderAfl"/> does, outside AFL, and says what happened.</summary>
    static int Replay(Target target, string[] files)
    {
        int failures = 0;
        try
        {
            foreach (var file in files)
            {
                byte[] input = File.ReadAllBytes(file);
                target.Fixup(input, new Random(input.Length));
                string outcome = Execute(target, input, out var crash, out long allocated);
                bool overBound = allocated > AllocationAllowance + AllocationPerInputByte * input.Length;
                Console.WriteLine($"{file}: {outcome}; {allocated >> 10} KiB allocated{(overBound ? ", over the memory bound" : "")}");
                if (crash is not null)
                    Console.WriteLine(crash);
                if (crash is not null || overBound)
                    failures++;
            }
        }
        finally
        {
            Target.DeleteScratch();
        }
        return failures > 0 ? 1 : 0;
    }

    /// <summary>One input per AFL execution; anything but a target's one-line refusal escapes as a crash.</summary>
    static int RunUnderAfl(Target target)
    {
        try
        {
            // No Prepare here: instrumented code may run only inside Fuzzer.Run, which sets up the coverage map; the
            // first input pays for the target's set-up instead.
            SharpFuzz.Fuzzer.Run(stream =>
            {
                using var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                byte[] input = buffer.ToArray();
                // Seeded by the input, so an input AFL saves runs again exactly as it ran.
                target.Fixup(input, new Random(input.Length));
                string outcome = Execute(target, input, out var crash, out long allocated);
                if (crash is not null)
                    throw new InvalidOperationException($"{target.Name}: {outcome}", crash);
                if (allocated > AllocationAllowance + AllocationPerInputByte * input.Length)
                    throw new InvalidOperationException($"{target.Name}: an input of {input.Length} bytes allocated {allocated} bytes.");
            });
        }
        finally
        {
            Target.DeleteScratch();
        }
        return 0;
    }

    static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    static int Fuzz(Target target, long execs, double seconds, int seed, string corpusFolder, string output, double hangSeconds)
    {
        var random = new Random(seed);
        var mutator = new Mutator(random);
        target.Prepare();
        var corpus = target.Seeds(corpusFolder).ToList();
        if (corpus.Count == 0)
            throw new InvalidOperationException($"Target {target.Name} has no seeds in {corpusFolder}.");
        var outcomes = new HashSet<string>();
        foreach (var s in corpus)
            outcomes.Add(Execute(target, s, out _, out _));

        long done = 0, crashes = 0, hangs = 0, memory = 0, maxAllocated = 0;
        double maxRatio = 0;
        var clock = Stopwatch.StartNew();
        byte[] current = [];
        long started = 0;
        using var watchdog = new Timer(_ =>
        {
            long at = Interlocked.Read(ref started);
            if (at != 0 && Stopwatch.GetElapsedTime(at).TotalSeconds > hangSeconds)
            {
                string path = Save(output, target.Name, "hang", current);
                Console.Error.WriteLine($"edge-fuzz: {target.Name}: an input has run for over {hangSeconds} s (a hang); saved as {path}");
                Environment.Exit(3);
            }
        }, null, 1000, 1000);

        while (seconds > 0 ? clock.Elapsed.TotalSeconds < seconds : done < execs)
        {
            var parent = corpus[random.Next(corpus.Count)];
            byte[] input = mutator.Mutate(parent, corpus, target.IsJson);
            target.Fixup(input, random);
            current = input;
            Interlocked.Exchange(ref started, Stopwatch.GetTimestamp());
            string outcome = Execute(target, input, out var crash, out long allocated);
            double took = Stopwatch.GetElapsedTime(Interlocked.Exchange(ref started, 0)).TotalSeconds;
            done++;
            if (done % 100_000 == 0)
                Console.Error.WriteLine($"edge-fuzz: {target.Name}: {done} executions, {crashes} crashes, {hangs} hangs, {memory} over the memory bound so far");
            maxAllocated = Math.Max(maxAllocated, allocated);
            maxRatio = Math.Max(maxRatio, (double)allocated / Math.Max(1, input.Length));
            if (crash is not null)
            {
                if (crashes++ < 20)
                    Console.Error.WriteLine($"edge-fuzz: {target.Name}: crash {crash.GetType().Name}: {crash.Message.Split('\n')[0]} (saved as {Save(output, target.Name, "crash", input)})\n{crash.StackTrace?.Split('\n').FirstOrDefault()}");
            }
            else if (took > hangSeconds / 10)
            {
                hangs++;
                Console.Error.WriteLine($"edge-fuzz: {target.Name}: an input took {took:F2} s (saved as {Save(output, target.Name, "slow", input)})");
            }
            else if (allocated > AllocationAllowance + AllocationPerInputByte * input.Length)
            {
                memory++;
                Console.Error.WriteLine($"edge-fuzz: {target.Name}: an input of {input.Length} bytes allocated {allocated} bytes (saved as {Save(output, target.Name, "memory", input)})");
            }
            else if (outcomes.Add(outcome) && corpus.Count < MaxCorpus)
                corpus.Add(input);
        }
        double elapsed = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"edge-fuzz: {target.Name}: {done} executions in {elapsed:F0} s ({done / Math.Max(elapsed, 1e-9):F0}/s), {crashes} crashes, {hangs} hangs, {memory} over the memory bound; {outcomes.Count} distinct outcomes, corpus {corpus.Count}; most allocated by one input {maxAllocated >> 10} KiB ({maxRatio:F1}x its size at most)");
        return crashes + hangs + memory > 0 ? 1 : 0;
    }

    static string Execute(Target target, byte[] input, out Exception? crash, out long allocated)
    {
        crash = null;
        long before = GC.GetAllocatedBytesForCurrentThread();
        string outcome;
        try
        {
            outcome = target.Run(input);
        }
        catch (Exception e) when (target.IsRefusal(e))
        {
            outcome = e.GetType().Name + ":" + new string(e.Message.Where(c => !char.IsAsciiDigit(c)).Take(48).ToArray());
            if (e.Message.Contains('\n') || e.Message.Length > 600)
                crash = new InvalidOperationException($"A refusal is not one short line: {e.Message[..Math.Min(e.Message.Length, 200)]}");
        }
        catch (Exception e)
        {
            outcome = "crash";
            crash = e;
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        return outcome;
    }

    static string Save(string folder, string target, string kind, byte[] input)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, $"{target}-{kind}-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(input))[..16]}.bin");
        File.WriteAllBytes(path, input);
        return path;
    }
}
