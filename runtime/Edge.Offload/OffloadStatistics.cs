using Edge.Offload.Protocol;

namespace Edge.Offload;

/// <summary>Counters of one offload session; read them after a run (not thread-safe, like the model).</summary>
public sealed class OffloadStatistics
{
    /// <summary>Matrix products the device computed.</summary>
    public long OffloadedCalls { get; internal set; }

    /// <summary>Products of offloaded layers that the CPU computed after a fault.</summary>
    public long CpuFallbackCalls { get; internal set; }

    /// <summary>Transactions repeated after a fault.</summary>
    public long Retries { get; internal set; }

    /// <summary>Layers that gave up on the device for the rest of the run.</summary>
    public int FallbackLayers { get; internal set; }

    /// <summary>Weight uploads after the first (after a device reset).</summary>
    public int Reuploads { get; internal set; }

    public long Faults => FaultsByKind.Values.Sum();

    public Dictionary<FaultKind, long> FaultsByKind { get; } = [];

    internal void Count(FaultKind kind) => FaultsByKind[kind] = FaultsByKind.GetValueOrDefault(kind) + 1;

    public override string ToString()
    {
        string faults = Faults == 0 ? "no faults" : $"{Faults} faults ({string.Join(", ", FaultsByKind.OrderBy(f => f.Key).Select(f => $"{f.Key} {f.Value}"))})";
        return $"{OffloadedCalls} products on the device, {CpuFallbackCalls} on the CPU after faults, {faults}, {Retries} retries, {Reuploads} re-uploads, {FallbackLayers} layers fell back";
    }
}
