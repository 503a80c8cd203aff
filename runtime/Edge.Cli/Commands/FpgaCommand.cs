using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Edge.Format.Numerics;
using Edge.Offload;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Runtime;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Cli.Commands;

/// <summary><c>edge fpga info|selftest|estimate</c>: talk to a TMV1 offload device (docs/fpga-protocol.md).</summary>
static class FpgaCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("fpga", "Check an FPGA offload device on SPI (experimental: slower than the CPU over SPI)");
        command.Subcommands.Add(Info(stdout, stderr));
        command.Subcommands.Add(SelfTest(stdout, stderr));
        command.Subcommands.Add(Estimate(stdout, stderr));
        return command;
    }

    static Option<string> DeviceOption() => new("--device", "-d")
    {
        Description = "spi:B.C@FREQ (e.g. spi:0.0@12MHz), emu, or rtl:PATH (the gateware, simulated)",
        Required = true,
    };

    static Command Info(TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption();
        var command = new Command("info", "Print what the device reports: capacity, clock, protocol version") { device };
        command.SetAction((parse, _) => CliErrors.Guard(stderr, () =>
        {
            var target = OffloadTarget.Parse(parse.GetValue(device)!);
            using var spi = target.Open();
            var info = ReadInfo(new TmvClient(spi), target);
            stdout.WriteLine($"device           {target}");
            stdout.WriteLine($"protocol         TMV{info.Version}");
            stdout.WriteLine($"build            0x{info.BuildId:X8}");
            stdout.WriteLine($"engine           {info.Lanes} ternary lanes at {info.FabricClockKHz / 1000.0:F1} MHz = {info.Lanes * (double)info.FabricClockKHz / 1e6:F2} G weights/s");
            stdout.WriteLine($"weight memory    {info.WeightBytes:N0} bytes ({info.WeightBytes * 4:N0} ternary weights at 2 bits) in {info.Slots} slots");
            stdout.WriteLine($"limits           columns ≤ {info.MaxColumns}, rows ≤ {info.MaxRows}, {info.XBuffers} activation buffers");
            stdout.WriteLine($"results          int32{(info.SupportsInt24 ? ", int24" : "")}");
            stdout.WriteLine($"SCLK             {spi.ConnectionSettings.ClockFrequency / 1e6:F2} MHz (device rated to {info.MaxSclkKHz / 1000.0:F1} MHz)");
            return Task.FromResult(0);
        }));
        return command;
    }

    static Command SelfTest(TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption();
        var rows = new Option<int>("--rows") { Description = "Rows of the random layer", DefaultValueFactory = _ => 512 };
        var columns = new Option<int>("--columns") { Description = "Columns of the random layer", DefaultValueFactory = _ => 512 };
        var runs = new Option<int>("--runs") { Description = "Products to compare", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var command = new Command("selftest", "Upload a random layer, run it on the device and compare every sum with the CPU kernel")
        {
            device, rows, columns, runs, seed,
        };
        command.SetAction((parse, _) => CliErrors.Guard(stderr, () =>
        {
            int r = parse.GetValue(rows), c = parse.GetValue(columns), n = parse.GetValue(runs);
            if (r < 1 || c < 1 || n < 1)
                throw new ArgumentException("--rows, --columns and --runs must be at least 1.");
            var target = OffloadTarget.Parse(parse.GetValue(device)!);
            var rng = new Random(parse.GetValue(seed));
            var packed = RandomMatrix(rng, r, c);
            using var spi = target.Open();
            return Task.FromResult(RunSelfTest(stdout, stderr, target, spi, rng, packed, r, c, n));
        }));
        return command;
    }

    static unsafe int RunSelfTest(TextWriter stdout, TextWriter stderr, OffloadTarget target, System.Device.Spi.SpiDevice spi, Random rng, byte[] packed, int r, int c, int n)
    {
        fixed (byte* p = packed)
        {
            var matrix = new TernaryMatrix(p, r, c, 1f);
            var layer = new BitLinearWeights(new float[c], matrix);
            var upload = Stopwatch.StartNew();
            var offload = SpiTernaryOffload.Start(spi, [("selftest", layer)], fit: false, w => stderr.WriteLine($"edge: warning: {w}"));
            upload.Stop();
            var kernel = KernelFactory.Default;
            var x = new sbyte[matrix.PaddedColumns];
            var expected = new int[r];
            var actual = new int[r];
            long mismatches = 0, offloaded = 0, framesBefore = offload.Frames, bytesBefore = offload.Bytes;
            var clock = new Stopwatch();
            for (int run = 0; run < n; run++)
            {
                for (int i = 0; i < c; i++)
                    x[i] = (sbyte)rng.Next(-128, 128);
                int sum = x.Sum(v => v);
                clock.Start();
                bool done = offload.TryMatMul(matrix, x, [sum], 1, actual);
                clock.Stop();
                if (done)
                {
                    offloaded++;
                    kernel.MatVec(matrix, 0, x, sum, expected);
                    mismatches += expected.Zip(actual).Count(pair => pair.First != pair.Second);
                }
            }
            long frames = offload.Frames - framesBefore, bytes = offload.Bytes - bytesBefore;
            var f = CultureInfo.InvariantCulture;
            stdout.WriteLine(string.Create(f, $"layer            {r} × {c} random ternary, {(long)r * matrix.RowBytes:N0} bytes, uploaded and verified in {upload.Elapsed.TotalMilliseconds:F1} ms"));
            stdout.WriteLine(string.Create(f, $"products         {offloaded} of {n} on the device, {(long)offloaded * r} sums compared with the {kernel.Name} kernel, {mismatches} mismatches"));
            stdout.WriteLine(string.Create(f, $"link             {frames:N0} frames, {bytes:N0} bytes in {clock.Elapsed.TotalMilliseconds:F1} ms host time: {frames / clock.Elapsed.TotalSeconds:N0} frames/s, {bytes / clock.Elapsed.TotalSeconds / 1e6:F2} MB/s"));
            stdout.WriteLine(string.Create(f, $"at SCLK          {spi.ConnectionSettings.ClockFrequency / 1e6:F1} MHz the bytes alone take {bytes * 8.0 / spi.ConnectionSettings.ClockFrequency / n * 1e3:F3} ms per product"));
            if (spi is TernaryDeviceEmulator emulator)
                stdout.WriteLine(string.Create(f, $"emulator         {emulator.Frames:N0} frames in all, virtual fabric clock {emulator.Clock:N0} cycles"));
            stdout.WriteLine($"faults           {offload.Statistics}");
            bool pass = mismatches == 0 && offloaded == n;
            stdout.WriteLine(pass ? "PASS" : "FAIL");
            return pass ? 0 : 1;
        }
    }

    static byte[] RandomMatrix(Random rng, int rows, int columns)
    {
        int rowBytes = TernaryPacking.RowBytes(columns);
        var packed = GC.AllocateUninitializedArray<byte>(checked(rows * rowBytes), pinned: true);
        var row = new sbyte[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < columns; k++)
                row[k] = (sbyte)rng.Next(-1, 2);
            TernaryPacking.PackRow(row, packed.AsSpan(r * rowBytes, rowBytes));
        }
        return packed;
    }

    static Command Estimate(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string?>("--model", "-m") { Description = $"Take H, L and I from this model (default: ${BundledModel.Variable}, then the bundled model, unless all three are given)" };
        var device = new Option<string?>("--device", "-d") { Description = "Read the engine's limits from this device's INFO (spi:B.C@FREQ, emu or rtl:PATH) instead of the UP5K build's documented ones" };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden size H (default: the model's)" };
        var layers = new Option<int?>("--layers") { Description = "Blocks L (default: the model's)" };
        var intermediate = new Option<int?>("--intermediate") { Description = "MLP width I (default: the model's)" };
        var sclk = new Option<string>("--sclk") { Description = "SCLK values in MHz, comma-separated", DefaultValueFactory = _ => "10,25,50" };
        var frame = new Option<int>("--frame") { Description = "Largest SPI frame in bytes (spidev bufsiz)", DefaultValueFactory = _ => 4096 };
        var overhead = new Option<double>("--frame-overhead-us") { Description = "Host cost per chip-select frame, µs", DefaultValueFactory = _ => 30 };
        var measure = new Option<bool>("--measure-cpu") { Description = "Also time the same products on this CPU with the default kernel (random weights)" };
        var command = new Command("estimate", "Per-token SPI traffic and time if every block BitLinear of a model were resident on the device")
        {
            model, device, hidden, layers, intermediate, sclk, frame, overhead, measure,
        };
        command.SetAction((parse, _) => CliErrors.Guard(stderr, () =>
        {
            int? h = parse.GetValue(hidden), l = parse.GetValue(layers), i = parse.GetValue(intermediate);
            int maxFrame = parse.GetValue(frame);
            string source = "given";
            if (h is null || l is null || i is null)
            {
                string path = parse.GetValue(model) ?? BundledModel.Locate();
                using var loaded = EdgeModel.Load(path);
                var c = loaded.Config;
                h ??= c.HiddenSize;
                l ??= c.NumHiddenLayers;
                i ??= c.IntermediateSize;
                source = Path.GetFileName(path);
            }
            if (h < 1 || l < 1 || i < 1)
                throw new ArgumentException("--hidden, --layers and --intermediate must be at least 1.");
            if (maxFrame is < 64 or > 65535)
                throw new ArgumentException("--frame must be between 64 and 65535 bytes.");
            double perFrame = parse.GetValue(overhead) * 1e-6;
            // Without --device, the limits the bitstream in fpga/ reports (its INFO), not the emulator's 48 MHz design point.
            var info = DeviceInfo.Up5kGateware;
            string deviceName = "UP5K gateware in fpga/";
            if (parse.GetValue(device) is { } deviceText)
            {
                var target = OffloadTarget.Parse(deviceText);
                using var spi = target.Open();
                info = ReadInfo(new TmvClient(spi), target);
                deviceName = $"{target} (INFO)";
            }
            var f = CultureInfo.InvariantCulture;
            long weights = (long)l.Value * TrafficModel.BlockShapes(h.Value, i.Value).Sum(s => (long)s.Rows * s.Columns);
            stdout.WriteLine(string.Create(f, $"model            H={h} L={l} I={i} ({source}): {weights:N0} block weights, {weights / 4 / 1024.0 / 1024:F1} MiB at 2 bits (lm_head stays on the host)"));
            stdout.WriteLine(string.Create(f, $"device           {deviceName}: {info.Lanes} lanes at {info.FabricClockKHz / 1000.0:F1} MHz, {info.WeightBytes / 1024:N0} KiB, {(info.SupportsInt24 ? "int24" : "int32")} results, frames ≤ {maxFrame} B, {perFrame * 1e6:F0} µs per frame"));
            stdout.WriteLine("SCLK MHz | bytes/token | frames/token | of which wait bytes | device compute ms | link ms/token");
            foreach (var mhz in parse.GetValue(sclk)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                int hz = OffloadTarget.ParseFrequency(mhz + "MHz");
                var t = TrafficModel.Token(h.Value, i.Value, l.Value, info, hz, maxFrame, perFrame);
                stdout.WriteLine(string.Create(f,
                    $"{hz / 1e6,8:F1} | {t.Bytes,11:N0} | {t.Frames,12:N0} | {t.WaitBytes,19:N0} | {t.ComputeClocks / (info.FabricClockKHz * 1e3) * 1e3,17:F2} | {t.Seconds * 1e3,13:F1}"));
            }
            if (parse.GetValue(measure))
                MeasureCpu(stdout, h.Value, i.Value, l.Value);
            return Task.FromResult(0);
        }));
        return command;
    }

    static DeviceInfo ReadInfo(TmvClient client, OffloadTarget target)
    {
        try
        {
            return client.Info();
        }
        catch (OffloadFaultException e)
        {
            throw new OffloadException($"No TMV1 device answers on {target} ({e.Message}). Check wiring, chip select, SCLK and that the FPGA is configured.");
        }
    }

    /// <summary>Times the block BitLinear products of one token on this CPU, over all L blocks' own random weights.</summary>
    static unsafe void MeasureCpu(TextWriter stdout, int h, int i, int l)
    {
        var kernel = KernelFactory.Default;
        var rng = new Random(1);
        var shapes = TrafficModel.BlockShapes(h, i).ToArray();
        var matrices = new byte[l * shapes.Length][];
        for (int m = 0; m < matrices.Length; m++)
            matrices[m] = RandomMatrix(rng, shapes[m % shapes.Length].Rows, shapes[m % shapes.Length].Columns);
        var x = new sbyte[TernaryPacking.PaddedLength(Math.Max(h, i))];
        for (int k = 0; k < x.Length; k++)
            x[k] = (sbyte)rng.Next(-128, 128);
        var y = new int[shapes.Max(s => s.Rows)];
        int tokens = 0;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        while (tokens < 2 || clock.Elapsed.TotalSeconds < 3)
        {
            for (int m = 0; m < matrices.Length; m++)
            {
                var (rows, columns) = shapes[m % shapes.Length];
                fixed (byte* p = matrices[m])
                {
                    var w = new TernaryMatrix(p, rows, columns, 1f);
                    kernel.MatVec(w, 0, x.AsSpan(0, w.PaddedColumns), 0, y.AsSpan(0, rows));
                }
            }
            tokens++;
        }
        clock.Stop();
        // CPU time as well as wall time: on a shared machine the wall clock also counts other processes' turns.
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"CPU              {clock.Elapsed.TotalMilliseconds / tokens:F1} ms/token wall, {cpu.TotalMilliseconds / tokens:F1} ms/token CPU time for the same products, {kernel.Name} kernel, 1 thread ({tokens} tokens timed)"));
    }
}
