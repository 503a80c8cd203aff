namespace Edge.Offload.Emulator;

/// <summary>A fault the emulator can inject into one SPI frame.</summary>
public enum InjectedFault
{
    None,

    /// <summary>One bit of what the host sent is flipped before the device reads it.</summary>
    FlipMosiBit,

    /// <summary>One bit of what the device answered is flipped before the host reads it.</summary>
    FlipMisoBit,

    /// <summary>The device returns its status but never acts on the frame (it lost sync); response bytes read 0xFF.</summary>
    DropFrame,

    /// <summary>The next RUN or COMMIT_W the device accepts never finishes (until a reset).</summary>
    Stall,

    /// <summary>The device loses power or is reset just before the frame: every slot and buffer is gone.</summary>
    Reset,

    /// <summary>Chip select rises early: the device sees only a prefix of the frame, and MISO reads 0xFF after it.</summary>
    TruncateFrame,

    /// <summary>The device stops answering for good (unplugged, browned out): MISO floats high from this frame on.</summary>
    StopAnswering,
}

/// <summary>
/// Which faults to inject: scripted ones at given frame numbers (1 = the first frame the emulator sees), and/or
/// random ones at a per-frame rate from a seeded generator, so every faulty run is reproducible.
/// <para>
/// With <see cref="MinimumGap"/> set, every fault is one the host must notice, exactly once: a fault waits for the
/// next command frame (a lost or corrupted NOP wait changes nothing), bit flips hit only bytes the receiver checks
/// (a CRC-covered header, payload or response, or the status marker), and random faults come at least that many
/// frames apart, so the host has recovered from one before the next. The host's fault counters must then equal
/// <see cref="TotalInjected"/>.
/// </para>
/// </summary>
public sealed class EmulatorFaults
{
    readonly Dictionary<long, InjectedFault> _scripted = [];
    readonly Random _random;
    readonly InjectedFault[] _randomKinds;
    readonly Dictionary<InjectedFault, int> _injected = [];

    public EmulatorFaults(double rate = 0, int seed = 1, params InjectedFault[] randomKinds)
    {
        if (rate is < 0 or > 1 || double.IsNaN(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), $"The fault rate must be between 0 and 1 (got {rate}).");
        Rate = rate;
        _random = new Random(seed);
        _randomKinds = randomKinds.Length > 0
            ? randomKinds
            : [InjectedFault.FlipMosiBit, InjectedFault.FlipMisoBit, InjectedFault.DropFrame, InjectedFault.TruncateFrame, InjectedFault.Stall, InjectedFault.Reset];
    }

    /// <summary>Probability that a frame gets a random fault.</summary>
    public double Rate { get; }

    /// <summary>0: faults land on any frame, anywhere in it. Otherwise see the class summary.</summary>
    public int MinimumGap
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), "The gap between faults cannot be negative.");
    }

    /// <summary>True when every injected fault is one the host must detect (<see cref="MinimumGap"/> is set).</summary>
    public bool EveryFaultDetectable => MinimumGap > 0;

    InjectedFault _pending;
    long _lastInjected;

    /// <summary>Injects <paramref name="kind"/> into frame number <paramref name="frame"/>.</summary>
    public EmulatorFaults At(long frame, InjectedFault kind)
    {
        _scripted[frame] = kind;
        return this;
    }

    /// <summary>How many faults of each kind were injected so far.</summary>
    public IReadOnlyDictionary<InjectedFault, int> Injected => _injected;

    public int TotalInjected => _injected.Values.Sum();

    public override string ToString() => TotalInjected == 0 ? "no faults"
        : $"{TotalInjected} faults ({string.Join(", ", _injected.OrderBy(f => f.Key).Select(f => $"{f.Key} {f.Value}"))})";

    /// <summary>Random bit position for flips, from the same seeded generator.</summary>
    internal int NextBit(int bits) => _random.Next(bits);

    /// <summary>The fault for frame <paramref name="frame"/>; <paramref name="command"/> says it is not a NOP.</summary>
    internal InjectedFault Next(long frame, bool command)
    {
        var kind = _scripted.Remove(frame, out var scripted) ? scripted
            : Rate > 0 && (!EveryFaultDetectable || frame - _lastInjected >= MinimumGap) && _random.NextDouble() < Rate
                ? _randomKinds[_random.Next(_randomKinds.Length)]
            : InjectedFault.None;
        if (EveryFaultDetectable)
        {
            // Held back until a frame that the host checks.
            if (kind != InjectedFault.None && _pending == InjectedFault.None)
                _pending = kind;
            if (!command)
                return InjectedFault.None;
            kind = _pending;
            _pending = InjectedFault.None;
        }
        if (kind != InjectedFault.None)
        {
            _injected[kind] = _injected.GetValueOrDefault(kind) + 1;
            _lastInjected = frame;
        }
        return kind;
    }
}
