using System.Device.Spi;
using System.IO.Hashing;
using Edge.Format.Numerics;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;
using Edge.Offload.Simulation;
using Edge.Tests.Shared;

namespace Edge.Offload.Tests;

/// <summary>
/// Finds the co-simulation library: $EDGE_TMV_RTL, else fpga/build/cosim/libtmv_rtl.so above the test binaries.
/// Without it the RTL tests skip with the reason, unless EDGE_REQUIRE_RTL=1 (CI builds the library first and sets
/// it), where its absence is a failure.
/// </summary>
static class RtlLibrary
{
    public static string? Find()
    {
        string? path = Environment.GetEnvironmentVariable(OffloadTarget.RtlLibraryVariable);
        if (!string.IsNullOrEmpty(path))
            return path;
        return RepositoryFile.Find("fpga", "build", "cosim", "libtmv_rtl.so");
    }

    public static string Require()
    {
        string? path = Find();
        if (path is not null && File.Exists(path))
            return path;
        string reason = "the RTL co-simulation library is not built (run fpga/cosim/build.sh; needs verilator and g++)";
        if (Environment.GetEnvironmentVariable("EDGE_REQUIRE_RTL") == "1")
            Assert.Fail(reason);
        Assert.Skip(reason);
        return "";
    }
}

/// <summary>
/// Sends every frame to the emulator and to the RTL and requires byte-identical MISO: the emulator's answers are what
/// the tests check, the RTL must give the same bytes in the same frames.
/// </summary>
sealed class LockstepDevice(TernaryDeviceEmulator emulator, RtlSimDevice rtl) : SpiDevice
{
    public long Compared { get; private set; }

    public override SpiConnectionSettings ConnectionSettings => emulator.ConnectionSettings;

    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        var expected = new byte[readBuffer.Length];
        emulator.TransferFullDuplex(writeBuffer, expected);
        rtl.TransferFullDuplex(writeBuffer, readBuffer);
        int at = readBuffer.IndexOfAnyExcept(expected);
        if (at >= 0 && !readBuffer.SequenceEqual(expected))
        {
            at = 0;
            while (readBuffer[at] == expected[at])
                at++;
            throw new Xunit.Sdk.XunitException(
                $"Frame {emulator.Frames} (OP 0x{writeBuffer[0]:X2}, {writeBuffer.Length} bytes): MISO byte {at} is 0x{readBuffer[at]:X2} from the RTL, 0x{expected[at]:X2} from the emulator. " +
                $"RTL {Convert.ToHexString(readBuffer[..Math.Min(readBuffer.Length, 48)])}, emulator {Convert.ToHexString(expected.AsSpan(0, Math.Min(expected.Length, 48)))}");
        }
        Compared++;
    }

    public override void Read(Span<byte> buffer) => TransferFullDuplex(new byte[buffer.Length], buffer);
    public override void Write(ReadOnlySpan<byte> buffer) => TransferFullDuplex(buffer, new byte[buffer.Length]);
    public override byte ReadByte() { Span<byte> b = stackalloc byte[1]; Read(b); return b[0]; }
    public override void WriteByte(byte value) => Write([value]);

    protected override void Dispose(bool disposing)
    {
        rtl.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Every conformance test of <see cref="ProtocolTests"/>, run on the emulator and the RTL in lockstep.</summary>
public sealed class RtlConformanceTests : ProtocolTests, IDisposable
{
    public RtlConformanceTests() : this(new TernaryDeviceEmulator(DeviceInfo.Up5kGateware, RtlSimDevice.MaxSclkHz)) { }

    RtlConformanceTests(TernaryDeviceEmulator emulator)
        : base(emulator, new LockstepDevice(emulator, new RtlSimDevice(RtlLibrary.Require())))
    {
    }

    public void Dispose() => Bus.Dispose();
}

/// <summary>Random and deliberately broken frames, compared byte for byte between the RTL and the emulator.</summary>
public sealed class RtlRandomFrameTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomFramesGiveTheEmulatorsMisoBytes(int seed)
    {
        var emulator = new TernaryDeviceEmulator(DeviceInfo.Up5kGateware, RtlSimDevice.MaxSclkHz);
        using var bus = new LockstepDevice(emulator, new RtlSimDevice(RtlLibrary.Require()));
        var rng = new Random(seed);
        var client = new TmvClient(bus);
        Opcode[] ops = [Opcode.Info, Opcode.GetError, Opcode.DefineSlot, Opcode.LoadWeights, Opcode.CommitWeights,
            Opcode.LoadX, Opcode.Run, Opcode.ReadY, Opcode.ClearError, Opcode.SoftReset];
        byte[] weights = new byte[2 * 4096];
        rng.NextBytes(weights);
        for (int i = 0; i < 400; i++)
        {
            int kind = rng.Next(10);
            try
            {
                if (kind < 3)
                {
                    // A whole product through the host client: results must match, which the lockstep checks.
                    client.ClearError();
                    int rows = 16 * rng.Next(1, 5), blocks = rng.Next(1, 3);
                    int bytes = rows * blocks * 64;
                    client.DefineSlot(0, 0, rows, 256 * blocks - rng.Next(0, 200));
                    for (int offset = 0; offset < bytes; offset += 2048)
                        client.LoadWeights(0, offset, weights.AsSpan(offset, Math.Min(2048, bytes - offset)));
                    client.Commit(0, Crc32.HashToUInt32(weights.AsSpan(0, bytes)));
                    client.WaitWhileBusy(bytes + 16, emulator.Info.FabricClockKHz, 4);
                    var x = new sbyte[256 * blocks];
                    for (int k = 0; k < x.Length; k++)
                        x[k] = (sbyte)rng.Next(-128, 128);
                    int buffer = rng.Next(2);
                    var format = rng.Next(2) == 0 ? OutputFormat.Int32 : OutputFormat.Int24;
                    byte xTag = client.LoadX(buffer, x);
                    client.Run(0, buffer, xTag, format);
                    client.Wait(Tmv.RunClocks(rows, 256 * blocks, 32, 16) - rng.Next(0, 64), emulator.Info.FabricClockKHz);
                    var y = new int[rows];
                    client.ReadY(0, y, format);
                }
                else if (kind < 5)
                {
                    client.Nop(rng.Next(2, 300));
                }
                else
                {
                    // A raw frame: random opcode and arguments, valid or corrupted CRC, sometimes cut short or too long.
                    var op = rng.Next(20) == 0 ? (Opcode)rng.Next(256) : ops[rng.Next(ops.Length)];
                    int argBytes = Math.Max(0, Tmv.ArgumentBytes(op));
                    int header = Tmv.OpAndTag + argBytes + Tmv.CrcBytes;
                    int extra = op switch
                    {
                        Opcode.LoadWeights or Opcode.LoadX => 256 * rng.Next(0, 3) + 2,
                        Opcode.Info => 3 + Tmv.InfoBodyBytes + 2,
                        Opcode.GetError => 3 + Tmv.ErrorBodyBytes + 2,
                        Opcode.ReadY => 3 + 1 + 4 * rng.Next(0, 20) + 2,
                        _ => 0,
                    };
                    var frame = new byte[header + extra];
                    frame[0] = (byte)op;
                    frame[1] = (byte)rng.Next(1, 256);
                    for (int a = 2; a < 2 + argBytes; a++)
                        frame[a] = (byte)(rng.Next(3) == 0 ? rng.Next(256) : rng.Next(4));
                    if (op == Opcode.LoadX)
                        frame[3] = 0; // n a multiple of 256 more often
                    if (op == Opcode.SoftReset && rng.Next(2) == 0)
                    {
                        frame[2] = Tmv.ResetKey0;
                        frame[3] = Tmv.ResetKey1;
                    }
                    Crc16.Seal(frame.AsSpan(0, header));
                    if (op is Opcode.LoadWeights or Opcode.LoadX && extra > 2)
                        Crc16.Seal(frame.AsSpan(header));
                    if (rng.Next(6) == 0)
                        frame[rng.Next(frame.Length)] ^= (byte)(1 << rng.Next(8));
                    int length = rng.Next(5) == 0 ? rng.Next(1, frame.Length + 1) : frame.Length + (rng.Next(4) == 0 ? rng.Next(1, 8) : 0);
                    var sent = new byte[length];
                    frame.AsSpan(0, Math.Min(length, frame.Length)).CopyTo(sent);
                    bus.TransferFullDuplex(sent, new byte[length]);
                }
            }
            catch (OffloadFaultException)
            {
                // A fault the client detected (the random frames leave errors behind): the next round clears it.
            }
        }
        Assert.True(bus.Compared > 1000, $"only {bus.Compared} frames compared");
    }
}
