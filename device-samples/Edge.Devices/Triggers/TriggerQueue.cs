using System.Threading.Channels;
using Edge.Devices.Configuration;

namespace Edge.Devices.Triggers;

public enum OfferResult
{
    Accepted,

    /// <summary>The same source triggered again within the debounce time.</summary>
    Debounced,
}

/// <summary>
/// Holds triggers until the single generation worker takes them (a Pi has one inference slot).
/// <para>Local triggers (button, PIR, BME280) go into a bounded channel of <see cref="QueueSettings.Capacity"/>.
/// Policy when it is full: <b>drop the oldest</b> waiting trigger and count it in <see cref="DroppedCount"/>, because
/// the newest readings describe the present. A trigger from a source that was accepted less than
/// <see cref="QueueSettings.DebounceMilliseconds"/> ago is ignored and counted in <see cref="DebouncedCount"/>.</para>
/// <para>Fleet requests from MQTT are never dropped: the broker hands over at most
/// <see cref="MqttSettings.MaxInFlightRequests"/> unacknowledged requests, which bounds them, and each is
/// acknowledged only after its result is published. They are served before waiting local triggers.</para>
/// </summary>
public sealed class TriggerQueue
{
    readonly Channel<Trigger> _local;
    readonly Channel<Trigger> _requests = Channel.CreateUnbounded<Trigger>(new UnboundedChannelOptions { SingleReader = true });
    readonly Dictionary<TriggerSource, long> _lastAccepted = [];
    readonly Lock _lock = new();
    readonly TimeProvider _time;
    readonly TimeSpan _debounce;
    long _dropped, _debounced, _accepted;

    public TriggerQueue(QueueSettings settings, TimeProvider time)
    {
        _time = time;
        _debounce = TimeSpan.FromMilliseconds(settings.DebounceMilliseconds);
        _local = Channel.CreateBounded<Trigger>(
            new BoundedChannelOptions(settings.Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped =>
            {
                Interlocked.Increment(ref _dropped);
                Dropped?.Invoke(dropped);
            });
    }

    /// <summary>Raised (on the offering thread) when a waiting trigger is dropped to make room.</summary>
    public event Action<Trigger>? Dropped;

    public long DroppedCount => Interlocked.Read(ref _dropped);
    public long AcceptedCount => Interlocked.Read(ref _accepted);

    /// <summary>Local triggers waiting now; never more than <see cref="QueueSettings.Capacity"/>.</summary>
    public int LocalWaitingCount => _local.Reader.Count;
    public long DebouncedCount => Interlocked.Read(ref _debounced);

    /// <summary>Offers a local trigger; never blocks (it is called from GPIO interrupt callbacks).</summary>
    public OfferResult Offer(Trigger trigger)
    {
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            if (_lastAccepted.TryGetValue(trigger.Source, out long last) && _time.GetElapsedTime(last, now) < _debounce)
            {
                Interlocked.Increment(ref _debounced);
                return OfferResult.Debounced;
            }
            _lastAccepted[trigger.Source] = now;
            Interlocked.Increment(ref _accepted);
            // Inside the lock so two sources cannot interleave their debounce check and write.
            _local.Writer.TryWrite(trigger);
            return OfferResult.Accepted;
        }
    }

    /// <summary>Queues a fleet request; it is kept until served.</summary>
    public void EnqueueRequest(Trigger request)
    {
        if (request.Request is null)
            throw new ArgumentException("Only MQTT fleet requests go through EnqueueRequest; offer local triggers with Offer.", nameof(request));
        _requests.Writer.TryWrite(request);
    }

    /// <summary>Waits for the next trigger: a fleet request if one waits, else the oldest local trigger.</summary>
    public async ValueTask<Trigger> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_requests.Reader.TryRead(out var request))
                return request;
            if (_local.Reader.TryRead(out var local))
                return local;
            using var stopWaiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var either = await Task.WhenAny(
                _requests.Reader.WaitToReadAsync(stopWaiting.Token).AsTask(),
                _local.Reader.WaitToReadAsync(stopWaiting.Token).AsTask()).ConfigureAwait(false);
            stopWaiting.Cancel();
            cancellationToken.ThrowIfCancellationRequested();
            await either.ConfigureAwait(false);
        }
    }
}
