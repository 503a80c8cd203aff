using System.IO.Hashing;
using System.Text;
using Edge.Format.Numerics;
using Edge.Offload.Emulator;
using Edge.Offload.Protocol;

namespace Edge.Offload.Tests;

/// <summary>Conformance of the emulator (and the host client) to docs/fpga-protocol.md: every command and error path.</summary>
public class ProtocolTests
{
    protected readonly TernaryDeviceEmulator _device;

    /// <summary>What the frames go to: the emulator, or (in <see cref="RtlConformanceTests"/>) emulator and RTL in lockstep.</summary>
    protected readonly System.Device.Spi.SpiDevice Bus;

    public ProtocolTests()
    {
        _device = new TernaryDeviceEmulator();
        Bus = _device;
    }

    protected ProtocolTests(TernaryDeviceEmulator device, System.Device.Spi.SpiDevice bus)
    {
        _device = device;
        Bus = bus;
    }

    // ---- raw frames

    static byte[] Frame(Opcode op, byte tag, byte[] args, byte[]? payload = null, int responseBody = -1)
    {
        int header = Tmv.HeaderBytes(op);
        int length = payload is not null ? Tmv.PayloadFrameBytes(op, payload.Length)
            : responseBody >= 0 ? Tmv.ResponseFrameBytes(op, responseBody) : header;
        var f = new byte[length];
        f[0] = (byte)op;
        f[1] = tag;
        args.CopyTo(f, 2);
        Crc16.Seal(f.AsSpan(0, header));
        if (payload is not null)
        {
            payload.CopyTo(f, header);
            Crc16.Seal(f.AsSpan(header));
        }
        return f;
    }

    byte[] Send(byte[] frame)
    {
        var miso = new byte[frame.Length];
        Bus.TransferFullDuplex(frame, miso);
        return miso;
    }

    (StatusFlags Flags, byte Tag) Status()
    {
        var miso = Send(new byte[2]);
        Assert.Equal(Tmv.StatusMarker, miso[0] & Tmv.StatusMarkerMask);
        return ((StatusFlags)(miso[0] & 0x1F), miso[1]);
    }

    DeviceError LastError() => new TmvClient(Bus).GetError().Code;

    void ClearAll()
    {
        Send(Frame(Opcode.ClearError, 200, []));
        var (flags, tag) = Status();
        Assert.Equal(StatusFlags.None, flags & (StatusFlags.Error | StatusFlags.CrcError | StatusFlags.Reset));
        Assert.Equal(200, tag);
    }

    static byte[] Args(params object[] fields)
    {
        var bytes = new List<byte>();
        foreach (var field in fields)
        {
            switch (field)
            {
                case byte b: bytes.Add(b); break;
                case ushort u: bytes.AddRange(BitConverter.GetBytes(u)); break;
                case uint u: bytes.AddRange(BitConverter.GetBytes(u)); break;
                default: throw new ArgumentException(field.GetType().Name);
            }
        }
        return bytes.ToArray();
    }

    static byte[] DefineArgs(byte slot, uint baseAddress, ushort rows, ushort columns) => Args(slot, baseAddress, rows, columns);

    void AssertRejected(DeviceError expected, byte tagBefore, bool crc = false)
    {
        var (flags, tag) = Status();
        Assert.True((flags & StatusFlags.Error) != 0, $"ERR not set for {expected}");
        Assert.Equal(crc, (flags & StatusFlags.CrcError) != 0);
        Assert.Equal(tagBefore, tag);
        Assert.Equal(expected, LastError());
        ClearAll();
    }

    /// <summary>A defined, committed slot 0 of rows × columns random weights; returns the ternary values.</summary>
    sbyte[,] LoadSlot(int rows, int columns, byte slot = 0, uint baseAddress = 0)
    {
        var rng = new Random(rows * 31 + columns);
        var t = new sbyte[rows, columns];
        int rowBytes = TernaryPacking.RowBytes(columns);
        var packed = new byte[rows * rowBytes];
        var row = new sbyte[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int k = 0; k < columns; k++)
                row[k] = t[r, k] = (sbyte)rng.Next(-1, 2);
            TernaryPacking.PackRow(row, packed.AsSpan(r * rowBytes, rowBytes));
        }
        var client = new TmvClient(Bus);
        client.ClearError();
        client.DefineSlot(slot, baseAddress, rows, columns);
        for (int offset = 0; offset < packed.Length; offset += 4000)
            client.LoadWeights(slot, offset, packed.AsSpan(offset, Math.Min(4000, packed.Length - offset)));
        client.Commit(slot, Crc32.HashToUInt32(packed));
        client.WaitWhileBusy(packed.Length, _device.Info.FabricClockKHz, 4);
        client.RequireClean();
        return t;
    }

    // ---- framing, status, CRC

    [Fact]
    public void Crc16IsCcittFalse() => Assert.Equal(0x29B1, Crc16.Compute("123456789"u8));

    [Fact]
    public void StatusCarriesTheMarkerResetFlagAndLastAcceptedTag()
    {
        var (flags, tag) = Status();
        Assert.Equal(StatusFlags.Reset, flags);
        Assert.Equal(0, tag);
        ClearAll();
        Send(Frame(Opcode.Info, 9, [], responseBody: Tmv.InfoBodyBytes));
        Assert.Equal((StatusFlags.None, (byte)9), Status());
    }

    [Fact]
    public void NopChangesNothingAndLongNopsLetClocksPass()
    {
        ClearAll();
        long before = _device.Clock;
        Send(new byte[1200]);
        Assert.Equal(1200 * 8 * 48 / 12, _device.Clock - before); // 4 fabric clocks per SCLK bit
        Assert.Equal((StatusFlags.None, (byte)200), Status());
    }

    [Fact]
    public void InfoReportsTheUp5kBuild()
    {
        var info = new TmvClient(Bus).Info();
        Assert.Equal(_device.Info, info);
        // The UP5K's limits; the clock is the build's (the gateware's bitstream runs HFOSC / 2), SCLK at most f_clk / 4.
        Assert.Equal(DeviceInfo.Up5k, info with { BuildId = DeviceInfo.Up5k.BuildId, FabricClockKHz = DeviceInfo.Up5k.FabricClockKHz, MaxSclkKHz = DeviceInfo.Up5k.MaxSclkKHz });
        Assert.Equal(info.FabricClockKHz, 4 * info.MaxSclkKHz);
        var miso = Send(Frame(Opcode.Info, 3, [], responseBody: Tmv.InfoBodyBytes));
        var response = miso.AsSpan(Tmv.ResponseOffset(Opcode.Info));
        Assert.True(Crc16.Check(response));
        Assert.Equal((byte)ResponseCode.Ok, response[0]);
        Assert.Equal(3, response[1]);
        Assert.Equal("TMV1", Encoding.ASCII.GetString(response.Slice(2, 4)));
    }

    [Fact]
    public void AHeaderCrcErrorIsRejectedAndErrBlocksLaterCommandsUntilCleared()
    {
        ClearAll();
        var bad = Frame(Opcode.DefineSlot, 5, DefineArgs(0, 0, 64, 256));
        bad[3] ^= 1;
        Send(bad);
        var (flags, tag) = Status();
        Assert.Equal(StatusFlags.Error | StatusFlags.CrcError, flags);
        Assert.Equal(200, tag);
        // Blocked: a valid command is ignored while ERR is set, and the first error stays reported.
        Send(Frame(Opcode.DefineSlot, 6, DefineArgs(0, 0, 64, 256)));
        Assert.Equal(200, Status().Tag);
        var report = new TmvClient(Bus).GetError();
        Assert.Equal(DeviceError.HeaderCrc, report.Code);
        Assert.Equal(Opcode.DefineSlot, report.Op);
        Assert.Equal(5, report.Tag);
        Assert.Equal(1u, report.CrcErrors);
        ClearAll();
        Send(Frame(Opcode.DefineSlot, 7, DefineArgs(0, 0, 64, 256)));
        Assert.Equal((StatusFlags.None, (byte)7), Status());
    }

    [Fact]
    public void UnknownOpcodesAndShortFramesAreErrors()
    {
        ClearAll();
        Send([0x55, 1, 2, 3]);
        AssertRejected(DeviceError.UnknownOpcode, 200);
        Send(Frame(Opcode.DefineSlot, 8, DefineArgs(0, 0, 64, 256))[..5]);
        AssertRejected(DeviceError.ShortFrame, 200);
    }

    // ---- slots and weights

    [Theory]
    [InlineData(16, 0u, 64, 256, DeviceError.BadField)]     // slot index ≥ 16
    [InlineData(0, 0u, 0, 256, DeviceError.BadField)]       // no rows
    [InlineData(0, 0u, 2049, 256, DeviceError.BadField)]    // rows > 2048
    [InlineData(0, 0u, 64, 2049, DeviceError.BadField)]     // columns > 2048 after padding
    [InlineData(0, 32u, 64, 256, DeviceError.BadField)]     // base not 64-aligned
    [InlineData(0, 0u, 2048, 1024, DeviceError.BadRegion)]  // 512 KiB > 128 KiB
    [InlineData(0, 130_048u, 64, 256, DeviceError.BadRegion)] // runs past the end
    public void DefineSlotChecksItsFields(int slot, uint baseAddress, int rows, int columns, DeviceError error)
    {
        ClearAll();
        Send(Frame(Opcode.DefineSlot, 10, DefineArgs((byte)slot, baseAddress, (ushort)rows, (ushort)columns)));
        AssertRejected(error, 200);
    }

    [Fact]
    public void SlotsMayNotOverlap()
    {
        ClearAll();
        Send(Frame(Opcode.DefineSlot, 10, DefineArgs(0, 0, 64, 256)));      // bytes 0..4095
        Send(Frame(Opcode.DefineSlot, 11, DefineArgs(1, 4032, 64, 256)));
        AssertRejected(DeviceError.BadRegion, 10);
        Send(Frame(Opcode.DefineSlot, 12, DefineArgs(1, 4096, 64, 256)));
        Assert.Equal((StatusFlags.None, (byte)12), Status());
    }

    [Fact]
    public void LoadWeightsChecksSlotRangeAndPayloadCrc()
    {
        ClearAll();
        Send(Frame(Opcode.LoadWeights, 20, Args((byte)3, 0u, (ushort)64), new byte[64]));
        AssertRejected(DeviceError.SlotUndefined, 200);
        Send(Frame(Opcode.DefineSlot, 21, DefineArgs(0, 0, 64, 256)));
        Send(Frame(Opcode.LoadWeights, 22, Args((byte)0, 4064u, (ushort)64), new byte[64]));
        AssertRejected(DeviceError.OutOfRange, 21);
        var corrupt = Frame(Opcode.LoadWeights, 23, Args((byte)0, 0u, (ushort)64), new byte[64]);
        corrupt[20] ^= 0x10;
        Send(corrupt);
        AssertRejected(DeviceError.PayloadCrc, 200, crc: true);
    }

    [Fact]
    public void CommitVerifiesTheCrc32WhileBusyAndRejectsOtherWorkMeanwhile()
    {
        ClearAll();
        var data = new byte[4096];
        new Random(5).NextBytes(data);
        Send(Frame(Opcode.DefineSlot, 30, DefineArgs(0, 0, 64, 256)));
        Send(Frame(Opcode.LoadWeights, 31, Args((byte)0, 0u, (ushort)4096), data));
        Send(Frame(Opcode.CommitWeights, 32, Args((byte)0, Crc32.HashToUInt32(data) ^ 1)));
        Assert.Equal((StatusFlags.Busy, (byte)32), Status());
        Send(Frame(Opcode.DefineSlot, 33, DefineArgs(1, 8192, 64, 256)));
        AssertRejected(DeviceError.Busy, 32);
        Send(new byte[2000]); // 4096 + 16 clocks pass
        AssertRejected(DeviceError.WeightCrc, 200);
        // RUN on the slot that failed verification.
        Send(Frame(Opcode.Run, 34, Args((byte)0, (byte)0, (byte)1, (byte)0)));
        AssertRejected(DeviceError.SlotNotValid, 200);
    }

    [Fact]
    public void CommitTakesExactlyTheDocumentedClocks()
    {
        ClearAll();
        var data = new byte[4096];
        Send(Frame(Opcode.DefineSlot, 30, DefineArgs(0, 0, 64, 256)));
        Send(Frame(Opcode.LoadWeights, 31, Args((byte)0, 0u, (ushort)4096), data));
        Send(Frame(Opcode.CommitWeights, 32, Args((byte)0, Crc32.HashToUInt32(data))));
        // 4096 + 16 = 4112 clocks; a byte at 12 MHz SCLK is 32 clocks of 48 MHz.
        Assert.Equal(4112, Tmv.CommitClocks(4096, DeviceInfo.Up5k.OverheadClocks));
        Send(new byte[128]);
        Assert.Equal(StatusFlags.Busy, Status().Flags);  // this poll starts at clock 4096
        Assert.Equal(StatusFlags.None, Status().Flags);  // this one at 4160
    }

    // ---- activations, RUN, READ_Y

    [Theory]
    [InlineData(OutputFormat.Int32)]
    [InlineData(OutputFormat.Int24)]
    public void RunComputesExactSumsAndReadYReturnsThem(OutputFormat format)
    {
        const int rows = 100, columns = 300;
        var t = LoadSlot(rows, columns);
        var client = new TmvClient(Bus);
        var x = new sbyte[512];
        x.AsSpan(0, columns).Fill(-128); // the extremes of int8
        for (int k = 0; k < columns; k += 3)
            x[k] = 127;
        client.ClearError();
        byte xTag = client.LoadX(1, x);
        byte runTag = client.Run(0, 1, xTag, format);
        var y = new int[rows];
        Assert.Equal(ResponseCode.NotReady, client.ReadY(0, y, format).Code);
        client.Wait(Tmv.RunClocks(rows, columns, 32, 16), _device.Info.FabricClockKHz);
        var result = client.ReadY(0, y, format);
        Assert.Equal(new ReadYResult(ResponseCode.Ok, runTag), result);
        for (int r = 0; r < rows; r++)
        {
            int expected = 0;
            for (int k = 0; k < columns; k++)
                expected += t[r, k] * x[k];
            Assert.Equal(expected, y[r]);
        }
        Assert.Equal(StatusFlags.Done, Status().Flags);
        // Part of the result, from an offset.
        var part = new int[10];
        client.ReadY(90, part, format);
        Assert.Equal(y[90..], part);
    }

    [Fact]
    public void RunChecksSlotActivationTagShapeAndFormat()
    {
        LoadSlot(64, 256);
        var client = new TmvClient(Bus);
        client.ClearError();
        byte xTag = client.LoadX(0, new sbyte[256]);
        Send(Frame(Opcode.Run, 40, Args((byte)1, (byte)0, xTag, (byte)0)));
        AssertRejected(DeviceError.SlotNotValid, xTag);
        Send(Frame(Opcode.Run, 41, Args((byte)0, (byte)0, (byte)(xTag + 1), (byte)0)));
        AssertRejected(DeviceError.StaleX, 200);
        Send(Frame(Opcode.Run, 42, Args((byte)0, (byte)1, xTag, (byte)0)));   // buffer 1 never loaded
        AssertRejected(DeviceError.StaleX, 200);
        Send(Frame(Opcode.Run, 46, Args((byte)0, (byte)1, (byte)0, (byte)0)));  // tag 0 never matches, not even an empty buffer's
        AssertRejected(DeviceError.StaleX, 200);
        Send(Frame(Opcode.Run, 43, Args((byte)0, (byte)0, xTag, (byte)7)));
        AssertRejected(DeviceError.BadField, 200);
        Send(Frame(Opcode.LoadX, 44, Args((byte)0, (ushort)512), new byte[512]));
        Send(Frame(Opcode.Run, 45, Args((byte)0, (byte)0, (byte)44, (byte)0)));
        AssertRejected(DeviceError.Shape, 44);
    }

    [Fact]
    public void LoadXChecksLengthAndProtectsTheBufferARunReads()
    {
        LoadSlot(2048, 256);
        ClearAll();
        Send(Frame(Opcode.LoadX, 50, Args((byte)0, (ushort)100), new byte[100]));
        AssertRejected(DeviceError.BadField, 200);
        Send(Frame(Opcode.LoadX, 51, Args((byte)2, (ushort)256), new byte[256]));
        AssertRejected(DeviceError.BadField, 200);
        Send(Frame(Opcode.LoadX, 52, Args((byte)0, (ushort)256), new byte[256]));
        Send(Frame(Opcode.Run, 53, Args((byte)0, (byte)0, (byte)52, (byte)0)));
        // Double buffering: loading the other buffer while busy is fine, the running one is not.
        Send(Frame(Opcode.LoadX, 54, Args((byte)1, (ushort)256), new byte[256]));
        Assert.Equal((StatusFlags.Busy, (byte)54), Status());
        Send(Frame(Opcode.LoadX, 55, Args((byte)0, (ushort)256), new byte[256]));
        AssertRejected(DeviceError.Busy, 54);
        var corrupt = Frame(Opcode.LoadX, 56, Args((byte)1, (ushort)256), new byte[256]);
        corrupt[100] ^= 4;
        Send(corrupt);
        AssertRejected(DeviceError.PayloadCrc, 200, crc: true);
        // The corrupted load left buffer 1 invalid: its old tag no longer runs.
        Send(new byte[4096]);
        Send(Frame(Opcode.Run, 57, Args((byte)0, (byte)1, (byte)54, (byte)0)));
        AssertRejected(DeviceError.StaleX, 200);
    }

    [Fact]
    public void ReadYNeedsAResultInRange()
    {
        ClearAll();
        Send(Frame(Opcode.ReadY, 60, Args((ushort)0, (ushort)4), responseBody: Tmv.ReadYBodyBytes(4, OutputFormat.Int32)));
        AssertRejected(DeviceError.NoResult, 200);
        LoadSlot(64, 256);
        var client = new TmvClient(Bus);
        client.ClearError();
        byte xTag = client.LoadX(0, new sbyte[256]);
        client.Run(0, 0, xTag, OutputFormat.Int32);
        client.Wait(10_000, _device.Info.FabricClockKHz);
        var miso = Send(Frame(Opcode.ReadY, 61, Args((ushort)60, (ushort)8), responseBody: Tmv.ReadYBodyBytes(8, OutputFormat.Int32)));
        Assert.Equal((byte)ResponseCode.Refused, miso[Tmv.ResponseOffset(Opcode.ReadY)]);
        Assert.Equal(DeviceError.OutOfRange, LastError());
    }

    // ---- reset

    [Fact]
    public void SoftResetNeedsItsKeyAndClearsEverything()
    {
        LoadSlot(64, 256);
        ClearAll();
        Send(Frame(Opcode.SoftReset, 70, [0xA5, 0x00]));
        AssertRejected(DeviceError.BadField, 200);
        Send(Frame(Opcode.SoftReset, 71, [Tmv.ResetKey0, Tmv.ResetKey1]));
        Assert.Equal((StatusFlags.Reset, (byte)0), Status());
        ClearAll();
        Send(Frame(Opcode.LoadX, 72, Args((byte)0, (ushort)256), new byte[256]));
        Send(Frame(Opcode.Run, 73, Args((byte)0, (byte)0, (byte)72, (byte)0)));
        AssertRejected(DeviceError.SlotNotValid, 72);
    }

    // ---- the client's fault detection

    [Fact]
    public void TheClientDetectsEveryInjectedFault()
    {
        var faults = new EmulatorFaults();
        var device = new TernaryDeviceEmulator(faults: faults);
        var client = new TmvClient(device);
        client.SoftReset();
        client.ClearError();

        faults.At(device.Frames + 1, InjectedFault.FlipMisoBit);
        Assert.Equal(FaultKind.Crc, Detect(() => client.Info()));
        client.ClearError(); // after any fault the host resynchronises before going on

        faults.At(device.Frames + 1, InjectedFault.DropFrame);
        client.DefineSlot(0, 0, 64, 256);
        Assert.Equal(FaultKind.LostFrame, Detect(() => client.DefineSlot(1, 8192, 64, 256)));
        client.ClearError();

        faults.At(device.Frames + 1, InjectedFault.FlipMosiBit);
        client.DefineSlot(0, 0, 64, 256);
        Assert.Equal(FaultKind.Crc, Detect(() => client.DefineSlot(1, 8192, 64, 256)));
        client.ClearError();

        faults.At(device.Frames + 1, InjectedFault.Reset);
        Assert.Equal(FaultKind.DeviceReset, Detect(() => client.DefineSlot(0, 0, 64, 256)));
        client.ClearError();

        var data = new byte[2048];
        client.DefineSlot(0, 0, 32, 256);
        client.LoadWeights(0, 0, data);
        faults.At(device.Frames + 1, InjectedFault.Stall);
        client.Commit(0, Crc32.HashToUInt32(data));
        Assert.Equal(FaultKind.BusyTimeout, Detect(() => client.WaitWhileBusy(10_000, 48_000, 8)));
        client.SoftReset();
        client.ClearError();

        var floating = new FloatingBus();
        Assert.Equal(FaultKind.NoAnswer, Detect(() => new TmvClient(floating).Nop()));
        Assert.Equal(0, faults.Injected.Values.Count(v => v != 1));
    }

    static FaultKind Detect(Action action) => Assert.Throws<OffloadFaultException>(action).Kind;

    /// <summary>Nothing on the chip select: MISO is pulled up.</summary>
    sealed class FloatingBus : System.Device.Spi.SpiDevice
    {
        public override System.Device.Spi.SpiConnectionSettings ConnectionSettings { get; } = new(0, 0) { ClockFrequency = 1_000_000 };
        public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer) => readBuffer.Fill(0xFF);
        public override void Read(Span<byte> buffer) => buffer.Fill(0xFF);
        public override void Write(ReadOnlySpan<byte> buffer) { }
        public override byte ReadByte() => 0xFF;
        public override void WriteByte(byte value) { }
    }

    [Fact]
    public void OpeningANonAnsweringDeviceIsAClearError()
    {
        var e = Assert.Throws<OffloadException>(() => SpiTernaryOffload.Start(new FloatingBus(), [], fit: true, _ => { }));
        Assert.Contains("No TMV1 device", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int24RoundTripsTheExtremes()
    {
        var buffer = new byte[3];
        foreach (int v in new[] { 0, 1, -1, 262_144, -262_144, (1 << 23) - 1, -(1 << 23) })
        {
            Tmv.WriteValue(buffer, v, OutputFormat.Int24);
            Assert.Equal(v, Tmv.ReadValue(buffer, OutputFormat.Int24));
        }
        Assert.True(Tmv.Int24IsExact(65_535 / 256 * 256));
        Assert.False(Tmv.Int24IsExact(65_536));
    }
}
