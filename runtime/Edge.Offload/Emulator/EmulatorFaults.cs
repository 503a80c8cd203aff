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
}

/// <summary>
/// Which faults to inject: scripted ones at given frame numbers (1 = the first frame the emulator sees), and/or
/// random ones at a per-frame rate from a seeded generator, so every faulty run is reproducible.
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
            : [InjectedFault.FlipMosiBit, InjectedFault.FlipMisoBit, InjectedFault.DropFrame, InjectedFault.Stall, InjectedFault.Reset];
    }

    /// <summary>Probability that a frame gets a random fault.</summary>
    public double Rate { get; }

    /// <summary>Injects <paramref name="kind"/> into frame number <paramref name="frame"/>.</summary>
    public EmulatorFaults At(long frame, InjectedFault kind)
    {
        _scripted[frame] = kind;
        return this;
    }

    /// <summary>How many faults of each kind were injected so far.</summary>
    public IReadOnlyDictionary<InjectedFault, int> Injected => _injected;

    public int TotalInjected => _injected.Values.Sum();

    /// <summary>Random bit position for flips, from the same seeded generator.</summary>
    internal int NextBit(int bits) => _random.Next(bits);

    internal InjectedFault Next(long frame)
    {
        var kind = _scripted.Remove(frame, out var scripted) ? scripted
            : Rate > 0 && _random.NextDouble() < Rate ? _randomKinds[_random.Next(_randomKinds.Length)]
            : InjectedFault.None;
        if (kind != InjectedFault.None)
            _injected[kind] = _injected.GetValueOrDefault(kind) + 1;
        return kind;
    }
}
