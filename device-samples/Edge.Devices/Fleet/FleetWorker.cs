using Edge.Devices.Configuration;
using Edge.Devices.Readings;
using Edge.Devices.Sinks;
using Edge.Devices.Triggers;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Devices.Fleet;

/// <summary>
/// The board's side of the fleet: takes generation requests from the shared subscription
/// <c>$share/&lt;group&gt;/&lt;request topic&gt;</c> (QoS 1, so boards in one group split them) and publishes results.
/// <para>Delivery guarantee: a request is acknowledged to the broker only after its result has been published and
/// the broker has acknowledged that (QoS 1). Until then the broker holds it in this board's persistent session and
/// redelivers it after a reconnect. A redelivered request that was already answered is answered again from a cache
/// of recent results instead of being generated twice. A result that could not be published (connection lost) waits
/// in an outbox and goes out after the reconnect.</para>
/// </summary>
public sealed partial class FleetWorker
{
    const int RememberedResults = 256;

    readonly MqttLink _link;
    readonly MqttSettings _settings;
    readonly TriggerQueue _queue;
    readonly LatestReadings _readings;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly Lock _lock = new();
    readonly Dictionary<string, FleetRequest> _waiting = [];
    readonly Dictionary<string, MqttApplicationMessage> _answered = [];
    readonly Queue<string> _answeredOrder = new();
    readonly Dictionary<string, MqttApplicationMessage> _outbox = [];
    long _generated, _answeredFromCache, _rejected;

    public FleetWorker(MqttLink link, MqttSettings settings, TriggerQueue queue, LatestReadings readings, TimeProvider time, ILogger logger)
    {
        _link = link;
        _settings = settings;
        _queue = queue;
        _readings = readings;
        _time = time;
        _logger = logger;
        link.Connected = OnConnectedAsync;
        link.MessageReceived = OnMessageAsync;
    }

    public string SharedSubscription => $"$share/{_settings.Group}/{_settings.RequestTopic}";

    /// <summary>Requests this board generated text for.</summary>
    public long GeneratedCount => Interlocked.Read(ref _generated);

    /// <summary>Redelivered requests answered from the result cache.</summary>
    public long AnsweredFromCacheCount => Interlocked.Read(ref _answeredFromCache);

    /// <summary>Malformed requests (logged and acknowledged so the broker does not redeliver them forever).</summary>
    public long RejectedCount => Interlocked.Read(ref _rejected);

    async Task OnConnectedAsync(IMqttClient client, bool sessionPresent, CancellationToken cancellationToken)
    {
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(SharedSubscription).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build();
        await client.SubscribeAsync(subscribe, cancellationToken).ConfigureAwait(false);
        KeyValuePair<string, MqttApplicationMessage>[] pending;
        lock (_lock)
            pending = [.. _outbox];
        foreach (var (id, message) in pending)
        {
            var result = await client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            if (result.IsSuccess)
            {
                lock (_lock)
                    _outbox.Remove(id);
                LogOutboxSent(id);
            }
        }
    }

    async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (message.Topic != _settings.RequestTopic)
            return;
        string replyTopic = string.IsNullOrEmpty(message.ResponseTopic) ? $"{_settings.TopicPrefix}/results" : message.ResponseTopic;
        var request = FleetMessages.ParseRequest(message.Payload, replyTopic, message.CorrelationData, out var error);
        if (request is null)
        {
            Interlocked.Increment(ref _rejected);
            LogRejected(message.Topic, error!);
            return; // acknowledged automatically: a malformed request will not get better by redelivery
        }

        e.AutoAcknowledge = false;
        request.Acknowledge = e.AcknowledgeAsync;
        MqttApplicationMessage? cached;
        lock (_lock)
        {
            if (_waiting.TryGetValue(request.Id, out var earlier))
            {
                // Redelivered while still queued (the connection dropped meanwhile): acknowledge the newest delivery.
                earlier.Acknowledge = e.AcknowledgeAsync;
                return;
            }
            if (!_answered.TryGetValue(request.Id, out cached))
                _waiting[request.Id] = request;
        }
        if (cached is not null)
        {
            Interlocked.Increment(ref _answeredFromCache);
            if (await _link.TryPublishAsync(cached, CancellationToken.None).ConfigureAwait(false))
                await TryAcknowledgeAsync(request, CancellationToken.None).ConfigureAwait(false);
            return;
        }
        _queue.EnqueueRequest(new Trigger(TriggerSource.Mqtt, request.Prompt, _readings.Current, _time.GetUtcNow()) { Request = request });
    }

    /// <summary>Publishes a request's result, then acknowledges the request. A cancelled generation is neither: the broker redelivers it.</summary>
    public async Task CompleteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        var request = outcome.Trigger.Request ?? throw new ArgumentException("Not a fleet request.", nameof(outcome));
        if (outcome.Cancelled)
        {
            lock (_lock)
                _waiting.Remove(request.Id);
            return;
        }
        Interlocked.Increment(ref _generated);
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(request.ReplyTopic)
            .WithPayload(FleetMessages.WriteResult(request.Id, _link.ClientId, outcome.Trigger.Source.ToString(), outcome.Text, outcome.Trigger.Readings, outcome.Trigger.At, outcome.Elapsed, outcome.Error))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json");
        if (request.CorrelationData is { } correlation)
            builder.WithCorrelationData(correlation);
        var result = builder.Build();
        lock (_lock)
        {
            _waiting.Remove(request.Id);
            _answered[request.Id] = result;
            _answeredOrder.Enqueue(request.Id);
            while (_answeredOrder.Count > RememberedResults)
                _answered.Remove(_answeredOrder.Dequeue());
        }
        if (await _link.TryPublishAsync(result, cancellationToken).ConfigureAwait(false))
        {
            await TryAcknowledgeAsync(request, cancellationToken).ConfigureAwait(false);
            return;
        }
        lock (_lock)
            _outbox[request.Id] = result;
        LogQueuedForReconnect(request.Id);
    }

    async Task TryAcknowledgeAsync(FleetRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (request.Acknowledge is { } acknowledge)
                await acknowledge(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The connection it came on is gone; the broker redelivers it and the cached result answers it.
            LogAckFailed(request.Id, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a fleet request on {Topic}: {Error}")]
    partial void LogRejected(string topic, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Result of request {Id} could not be published; it goes out after the reconnect")]
    partial void LogQueuedForReconnect(string id);

    [LoggerMessage(Level = LogLevel.Information, Message = "Result of request {Id} published after the reconnect")]
    partial void LogOutboxSent(string id);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not acknowledge request {Id} ({Message}); the broker will redeliver it")]
    partial void LogAckFailed(string id, string message);
}
