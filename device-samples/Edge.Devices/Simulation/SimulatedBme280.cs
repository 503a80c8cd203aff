using System.Buffers.Binary;

namespace Edge.Devices.Simulation;

/// <summary>
/// A BME280 register map with the Bosch datasheet's example calibration (BST-BME280-DS002, §4.2.3 and §8.1):
/// the real <c>Iot.Device.Bmxx80.Bme280</c> binding talks to it unchanged. <see cref="SetTemperature"/> writes the
/// raw ADC value whose compensated reading is the requested temperature.
/// </summary>
public sealed class SimulatedBme280 : SimulatedI2cDevice
{
    const ushort DigT1 = 27504;
    const short DigT2 = 26435, DigT3 = -1000;

    /// <summary>Raw values from the datasheet example: 25.08 °C, 1006.53 hPa, 56.07 %RH.</summary>
    public const int DatasheetRawTemperature = 519888, DatasheetRawPressure = 415148, DatasheetRawHumidity = 30000;

    public SimulatedBme280(int busId = 1, int address = 0x76) : base(busId, address)
    {
        var r = Registers.AsSpan();
        r[0xD0] = 0x60; // chip id
        BinaryPrimitives.WriteUInt16LittleEndian(r[0x88..], DigT1);
        BinaryPrimitives.WriteInt16LittleEndian(r[0x8A..], DigT2);
        BinaryPrimitives.WriteInt16LittleEndian(r[0x8C..], DigT3);
        ReadOnlySpan<short> pressure = [unchecked((short)36477), -10685, 3024, 2855, 140, -7, 15500, -14600, 6000];
        for (int i = 0; i < pressure.Length; i++)
            BinaryPrimitives.WriteInt16LittleEndian(r[(0x8E + 2 * i)..], pressure[i]);
        r[0xA1] = 75;                                               // dig_H1
        BinaryPrimitives.WriteInt16LittleEndian(r[0xE1..], 362);   // dig_H2
        r[0xE3] = 0;                                                // dig_H3
        const int h4 = 310, h5 = 50;                                // 12-bit values sharing 0xE5
        r[0xE4] = h4 >> 4;
        r[0xE5] = (byte)((h4 & 0x0F) | ((h5 & 0x0F) << 4));
        r[0xE6] = h5 >> 4;
        r[0xE7] = 30;                                               // dig_H6
        SetRaw(0xF7, DatasheetRawPressure);
        SetRaw(0xFA, DatasheetRawTemperature);
        BinaryPrimitives.WriteUInt16BigEndian(r[0xFD..], DatasheetRawHumidity);
    }

    /// <summary>The temperature the sensor reports, in °C (datasheet floating-point compensation).</summary>
    public double Temperature
    {
        get
        {
            lock (Sync)
            {
                var r = Registers;
                return Compensate((r[0xFA] << 12) | (r[0xFB] << 4) | (r[0xFC] >> 4));
            }
        }
    }

    /// <summary>Makes the sensor report <paramref name="celsius"/> (to within one ADC step, about 0.005 °C).</summary>
    public void SetTemperature(double celsius)
    {
        // The compensation is monotonic in the raw value, so a binary search over the 20-bit range finds it.
        int low = 0, high = (1 << 20) - 1;
        while (low < high)
        {
            int mid = (low + high) / 2;
            if (Compensate(mid) < celsius)
                low = mid + 1;
            else
                high = mid;
        }
        lock (Sync)
            SetRaw(0xFA, low);
    }

    static double Compensate(int adcT)
    {
        double var1 = (adcT / 16384.0 - DigT1 / 1024.0) * DigT2;
        double delta = adcT / 131072.0 - DigT1 / 8192.0;
        double var2 = delta * delta * DigT3;
        return (var1 + var2) / 5120.0;
    }

    void SetRaw(int register, int raw20)
    {
        Registers[register] = (byte)(raw20 >> 12);
        Registers[register + 1] = (byte)(raw20 >> 4);
        Registers[register + 2] = (byte)((raw20 & 0x0F) << 4);
    }
}
