using System.Device.Gpio;

namespace Edge.Devices.Simulation;

/// <summary>
/// A GPIO driver with no hardware behind it: inputs are driven by <see cref="SetInput"/>, which raises the same
/// edge callbacks a real driver would, so the real bindings (<c>GpioButton</c>, <c>Hcsr501</c>) run unchanged.
/// </summary>
public sealed class SimulatedGpioDriver : GpioDriver
{
    readonly Lock _lock = new();
    readonly Dictionary<int, PinMode> _modes = [];
    readonly Dictionary<int, PinValue> _values = [];
    readonly List<(int Pin, PinEventTypes Types, PinChangeEventHandler Handler)> _callbacks = [];

    /// <summary>GPIO lines of a Raspberry Pi header (BCM 0–27).</summary>
    protected override int PinCount => 28;

    protected override void OpenPin(int pinNumber)
    {
        lock (_lock)
            _values.TryAdd(pinNumber, PinValue.Low);
    }

    protected override void ClosePin(int pinNumber)
    {
        lock (_lock)
        {
            _modes.Remove(pinNumber);
            _callbacks.RemoveAll(c => c.Pin == pinNumber);
        }
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_lock)
        {
            _modes[pinNumber] = mode;
            // An idle input with a pull resistor reads as the level the resistor pulls to.
            if (mode == PinMode.InputPullUp)
                _values[pinNumber] = PinValue.High;
            else if (mode == PinMode.InputPullDown)
                _values[pinNumber] = PinValue.Low;
        }
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_lock)
            return _modes.GetValueOrDefault(pinNumber, PinMode.Input);
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => true;

    protected override PinValue Read(int pinNumber)
    {
        lock (_lock)
            return _values.GetValueOrDefault(pinNumber, PinValue.Low);
    }

    protected override void Write(int pinNumber, PinValue value)
    {
        lock (_lock)
            _values[pinNumber] = value;
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        new() { TimedOut = true, EventTypes = PinEventTypes.None };

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback)
    {
        lock (_lock)
            _callbacks.Add((pinNumber, eventTypes, callback));
    }

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
        lock (_lock)
            _callbacks.RemoveAll(c => c.Pin == pinNumber && c.Handler == callback);
    }

    /// <summary>Drives an input pin to a level and raises the edge callbacks if the level changed.</summary>
    public void SetInput(int pin, PinValue value)
    {
        (int, PinEventTypes, PinChangeEventHandler)[] toCall;
        PinEventTypes edge;
        lock (_lock)
        {
            var old = _values.GetValueOrDefault(pin, PinValue.Low);
            _values[pin] = value;
            if (old == value)
                return;
            edge = value == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
            toCall = [.. _callbacks.Where(c => c.Pin == pin && (c.Types & edge) != 0)];
        }
        // Outside the lock: handlers read pins back.
        foreach (var (_, _, handler) in toCall)
            handler(this, new PinValueChangedEventArgs(edge, pin));
    }

    /// <summary>Presses and releases a button wired between the pin and ground (internal pull-up).</summary>
    public void PressButton(int pin)
    {
        SetInput(pin, PinValue.Low);
        SetInput(pin, PinValue.High);
    }
}
