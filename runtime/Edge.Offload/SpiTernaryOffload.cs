using System.Device.Spi;
using System.IO.Hashing;
using Edge.Offload.Protocol;
using Edge.Runtime.Kernels;
using Edge.Runtime.Model;

namespace Edge.Offload;

/// <summary>Tuning of the offload backend.</summary>
public sealed record OffloadOptions
{
    /// <summary>Longest SPI frame; spidev's default bufsiz is 4096 (raise it with <c>modprobe spidev bufsiz=65536</c>).</summary>
    public int MaxFrameBytes { get; init; } = 4096;

    /// <summary>Attempts per matrix product (or weight upload) before that layer falls back to the CPU.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Link recoveries per session before the whole device is given up.</summary>
    public int MaxRecoveries { get; init; } = 1000;

    /// <summary>Polls for a RUN or COMMIT_W beyond its expected time before it counts as a busy timeout.</summary>
    public int MaxPolls { get; init; } = 8;
}

/// <summary>
/// Offloads selected BitLinear matrices to a TMV1 device (docs/fpga-protocol.md). Weights are uploaded and verified
/// (COMMIT_W with CRC-32) at start; each product is LOAD_X → RUN → wait → READ_Y, with two activation buffers so the
/// next vector loads while the device computes. A fault (CRC, busy timeout, lost frame, reset) is retried a bounded
/// number of times; then the layer returns false for the rest of the run and the CPU computes it, so results never
/// change because of a fault.
/// </summary>
internal sealed unsafe class SpiTernaryOffload : ITernaryOffload
{
    readonly TmvClient _client;
    readonly OffloadOptions _options;
    readonly Action<string> _warn;
    readonly Dictionary<nint, OffloadedLayer> _byMatrix = [];
    readonly List<OffloadedLayer> _layers = [];
    readonly XBuffer[] _x;
    byte _lastRunTag;
    int _recoveries;
    int _nextBuffer;

    sealed class OffloadedLayer(string name, TernaryMatrix matrix, int slot, long baseAddress)
    {
        public string Name { get; } = name;
        public TernaryMatrix Matrix { get; } = matrix;
        public int Slot { get; } = slot;
        public long Base { get; } = baseAddress;
        public long Bytes => (long)Matrix.Rows * Matrix.RowBytes;
        public ReadOnlySpan<byte> Data => new(Matrix.Data, checked((int)Bytes));
        public bool Resident { get; set; }
        public bool OnCpu { get; set; }
        public int Uploads { get; set; }
    }

    /// <summary>The host's copy of what a device activation buffer holds, so i/f/g (which share x) load it once.</summary>
    sealed class XBuffer(int capacity)
    {
        public sbyte[] Data { get; } = new sbyte[capacity];
        public int Length { get; set; }
        public byte Tag { get; set; }
        public bool Holds(ReadOnlySpan<sbyte> x) => Tag != 0 && Length == x.Length && Data.AsSpan(0, Length).SequenceEqual(x);
    }

    SpiTernaryOffload(TmvClient client, DeviceInfo info, OffloadOptions options, Action<string> warn)
    {
        _client = client;
        Info = info;
        _options = options;
        _warn = warn;
        _x = Enumerable.Range(0, Math.Min(info.XBuffers, 2)).Select(_ => new XBuffer(info.MaxColumns)).ToArray();
    }

    public DeviceInfo Info { get; }

    public OffloadStatistics Statistics { get; } = new();

    /// <summary>False once the device has been given up entirely.</summary>
    public bool Enabled { get; private set; } = true;

    /// <summary>Names of the layers on the device (not fallen back), in model order.</summary>
    public IEnumerable<string> OffloadedLayers => _layers.Where(l => !l.OnCpu).Select(l => l.Name);

    /// <summary>Weight bytes the planned layers occupy on the device.</summary>
    public long PlannedBytes => _layers.Sum(l => l.Bytes);

    /// <summary>Frames and bytes on the SPI bus so far.</summary>
    public long Frames => _client.Frames;

    public long Bytes => _client.Bytes;

    /// <summary>
    /// Opens the device, checks INFO, resets it, places the candidate layers (model order) in its weight memory and
    /// uploads them. With <paramref name="fit"/>, layers that do not fit are skipped; otherwise they are an error.
    /// </summary>
    public static SpiTernaryOffload Start(SpiDevice spi, IReadOnlyList<(string Name, BitLinearWeights Layer)> candidates, bool fit,
        Action<string> warn, OffloadOptions? options = null)
    {
        options ??= new OffloadOptions();
        var client = new TmvClient(spi, options.MaxFrameBytes);
        var info = OpenDevice(client, options.MaxAttempts);
        var offload = new SpiTernaryOffload(client, info, options, warn);
        offload.Plan(candidates, fit);
        foreach (var layer in offload._layers)
            offload.UploadWithRetries(layer);
        return offload;
    }

    /// <summary>INFO, SOFT_RESET and CLEAR_ERR, with retries; a device that never answers is an <see cref="OffloadException"/>.</summary>
    static DeviceInfo OpenDevice(TmvClient client, int attempts)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var info = client.Info();
                client.SoftReset();
                client.ClearError();
                return info;
            }
            catch (OffloadFaultException) when (attempt < attempts)
            {
                // A corrupted or lost frame: the sequence is idempotent, so it simply starts again.
            }
            catch (OffloadFaultException e)
            {
                throw new OffloadException($"No TMV1 device answers on the SPI bus ({e.Message}). Check wiring, chip select, SCLK and that the FPGA is configured.");
            }
        }
    }

    void Plan(IReadOnlyList<(string Name, BitLinearWeights Layer)> candidates, bool fit)
    {
        long next = 0;
        foreach (var (name, layer) in candidates)
        {
            var m = layer.Matrix;
            long bytes = (long)m.Rows * m.RowBytes;
            string? reason =
                m.PaddedColumns > Info.MaxColumns ? $"its {m.Columns} columns exceed the device's {Info.MaxColumns}"
                : m.Rows > Info.MaxRows ? $"its {m.Rows} rows exceed the device's {Info.MaxRows}"
                : _layers.Count >= Info.Slots ? $"all {Info.Slots} slots are taken"
                : next + bytes > Info.WeightBytes ? $"it needs {bytes:N0} bytes and {Info.WeightBytes - next:N0} of {Info.WeightBytes:N0} are left"
                : null;
            if (reason is not null)
            {
                if (fit)
                    continue;
                throw new OffloadException($"{name} cannot be offloaded: {reason}. Use --offload-layers fit, or select fewer or smaller layers.");
            }
            var entry = new OffloadedLayer(name, m, _layers.Count, next);
            _layers.Add(entry);
            _byMatrix[(nint)m.Data] = entry;
            next = (next + bytes + Tmv.SlotAlignment - 1) / Tmv.SlotAlignment * Tmv.SlotAlignment;
        }
    }

    void UploadWithRetries(OffloadedLayer layer)
    {
        for (int attempt = 1; Enabled && !layer.OnCpu; attempt++)
        {
            try
            {
                Upload(layer);
                return;
            }
            catch (OffloadFaultException e)
            {
                Statistics.Count(e.Kind);
                if (!Recover())
                    return;
                if (attempt >= _options.MaxAttempts)
                    FallBack(layer, e);
                else
                    Statistics.Retries++;
            }
        }
    }

    void Upload(OffloadedLayer layer)
    {
        var m = layer.Matrix;
        _client.DefineSlot(layer.Slot, layer.Base, m.Rows, m.Columns);
        var data = layer.Data;
        int chunk = _client.MaxPayload(Opcode.LoadWeights);
        for (int offset = 0; offset < data.Length; offset += chunk)
            _client.LoadWeights(layer.Slot, offset, data.Slice(offset, Math.Min(chunk, data.Length - offset)));
        _client.Commit(layer.Slot, Crc32.HashToUInt32(data));
        long clocks = Tmv.CommitClocks(layer.Bytes, Info.OverheadClocks);
        _client.Wait(clocks, Info.FabricClockKHz);
        _client.WaitWhileBusy(clocks / 4 + 64, Info.FabricClockKHz, _options.MaxPolls);
        _client.RequireClean();
        if (layer.Uploads++ > 0)
            Statistics.Reuploads++;
        layer.Resident = true;
    }

    public bool TryMatMul(in TernaryMatrix w, ReadOnlySpan<sbyte> x, ReadOnlySpan<int> xSums, int n, Span<int> y)
    {
        if (!_byMatrix.TryGetValue((nint)w.Data, out var layer))
            return false;
        if (!Enabled || layer.OnCpu)
        {
            Statistics.CpuFallbackCalls++;
            return false;
        }
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                if (!layer.Resident)
                    Upload(layer);
                Products(layer, x, n, y);
                Statistics.OffloadedCalls++;
                return true;
            }
            catch (OffloadFaultException e)
            {
                Statistics.Count(e.Kind);
                bool recovered = Recover();
                if (!recovered || attempt >= _options.MaxAttempts)
                {
                    if (recovered)
                        FallBack(layer, e);
                    Statistics.CpuFallbackCalls++;
                    return false;
                }
                Statistics.Retries++;
            }
        }
    }

    /// <summary>The n products of one call, pipelined over the two activation buffers.</summary>
    void Products(OffloadedLayer layer, ReadOnlySpan<sbyte> x, int n, Span<int> y)
    {
        var m = layer.Matrix;
        int k = m.PaddedColumns, rows = m.Rows;
        var format = Info.SupportsInt24 && Tmv.Int24IsExact(k) ? OutputFormat.Int24 : OutputFormat.Int32;
        long runClocks = Tmv.RunClocks(rows, m.Columns, Info.Lanes, Info.OverheadClocks);
        int current = PlaceX(x[..k], avoid: -1);
        for (int b = 0; b < n; b++)
        {
            byte runTag = _client.Run(layer.Slot, current, _x[current].Tag, format);
            _lastRunTag = runTag;
            ReserveTags();
            long runStart = _client.Bytes;
            bool more = b + 1 < n;
            // With two buffers the next vector loads while the device computes; with one it has to wait.
            int next = more && _x.Length > 1 ? PlaceX(x.Slice((b + 1) * k, k), avoid: current) : -1;
            long elapsed = TmvClient.ClocksFor(_client.Bytes - runStart, _client.SclkHz, Info.FabricClockKHz);
            _client.Wait(runClocks - elapsed, Info.FabricClockKHz);
            ReadResults(runTag, runClocks, format, y.Slice(b * rows, rows));
            current = next >= 0 || !more ? next : PlaceX(x.Slice((b + 1) * k, k), avoid: -1);
        }
    }

    /// <summary>Makes a device buffer hold x: reuses one that already does, else loads the other one.</summary>
    int PlaceX(ReadOnlySpan<sbyte> x, int avoid)
    {
        for (int i = 0; i < _x.Length; i++)
            if (i != avoid && _x[i].Holds(x))
                return i;
        int buffer = _nextBuffer == avoid ? (_nextBuffer + 1) % _x.Length : _nextBuffer;
        _nextBuffer = (buffer + 1) % _x.Length;
        var shadow = _x[buffer];
        shadow.Tag = 0;
        ReserveTags();
        byte tag = _client.LoadX(buffer, x);
        x.CopyTo(shadow.Data);
        shadow.Length = x.Length;
        shadow.Tag = tag;
        ReserveTags();
        return buffer;
    }

    void ReserveTags()
    {
        var reserved = _client.ReservedTags;
        reserved.Clear();
        foreach (var b in _x)
            if (b.Tag != 0)
                reserved.Add(b.Tag);
        if (_lastRunTag != 0)
            reserved.Add(_lastRunTag);
    }

    void ReadResults(byte runTag, long runClocks, OutputFormat format, Span<int> y)
    {
        int chunk = _client.MaxReadCount(format);
        for (int offset = 0; offset < y.Length; offset += chunk)
        {
            var part = y.Slice(offset, Math.Min(chunk, y.Length - offset));
            for (int poll = 0; ; poll++)
            {
                var r = _client.ReadY(offset, part, format);
                if (r.Code == ResponseCode.Ok)
                {
                    if (r.RunTag != runTag)
                        throw new OffloadFaultException(FaultKind.LostFrame, $"READ_Y returned the results of RUN {r.RunTag}, not {runTag}.");
                    break;
                }
                if (poll >= _options.MaxPolls)
                    throw new OffloadFaultException(FaultKind.BusyTimeout, $"RUN {runTag} did not finish in {_options.MaxPolls} polls.");
                _client.Wait(runClocks / 4 + 64, Info.FabricClockKHz);
            }
        }
    }

    /// <summary>
    /// Brings the link back to a known state after a fault: waits out or resets a busy device, clears its error, and
    /// marks every slot for re-upload if the device was reset. False when the device is given up.
    /// </summary>
    bool Recover()
    {
        foreach (var b in _x)
            b.Tag = 0;
        _lastRunTag = 0;
        ReserveTags();
        if (++_recoveries > _options.MaxRecoveries)
        {
            Disable($"more than {_options.MaxRecoveries} link faults");
            return false;
        }
        for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            try
            {
                var status = _client.Nop();
                bool reset = (status & StatusFlags.Reset) != 0;
                if ((status & StatusFlags.Busy) != 0)
                {
                    try
                    {
                        status = _client.WaitWhileBusy(MaxWorkClocks() / 4 + 64, Info.FabricClockKHz, _options.MaxPolls);
                        reset |= (status & StatusFlags.Reset) != 0;
                    }
                    catch (OffloadFaultException e) when (e.Kind == FaultKind.BusyTimeout)
                    {
                        // Still busy after a generous wait: stalled. Only a reset stops it.
                        _client.SoftReset();
                        reset = true;
                    }
                }
                _client.ClearError();
                if (reset)
                    foreach (var layer in _layers)
                        layer.Resident = false;
                return true;
            }
            catch (OffloadFaultException e)
            {
                Statistics.Count(e.Kind);
            }
        }
        Disable("the device does not recover from link faults");
        return false;
    }

    long MaxWorkClocks() => _layers.Count == 0 ? 0 : _layers.Max(l => Math.Max(
        Tmv.RunClocks(l.Matrix.Rows, l.Matrix.Columns, Info.Lanes, Info.OverheadClocks),
        Tmv.CommitClocks(l.Bytes, Info.OverheadClocks)));

    void FallBack(OffloadedLayer layer, OffloadFaultException e)
    {
        layer.OnCpu = true;
        Statistics.FallbackLayers++;
        _warn($"FPGA offload: {layer.Name} failed {_options.MaxAttempts} times ({e.Kind}: {e.Message}); it runs on the CPU from now on.");
    }

    void Disable(string reason)
    {
        if (!Enabled)
            return;
        Enabled = false;
        _warn($"FPGA offload disabled: {reason}; all layers run on the CPU from now on.");
    }
}
