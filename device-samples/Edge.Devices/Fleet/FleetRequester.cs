using System.Collections.Concurrent;
using Edge.Devices.Configuration;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Devices.Fleet;

/// <summary>
/// Sends generation requests to the fleet and collects the results: a hub board, a Node-RED bridge or a test.
/// <para>End-to-end guarantee: every request stays pending here until its result arrives, and is published again
/// (QoS 1) after each reconnect of this client, whenever a worker announces itself online (after a broker restart
/// the workers' subscriptions are newer than the last publish), and every <c>resendInterval</c>. So a request is not
/// lost even when the broker forgets everything (restart without persistence). A reconnect or an announcement resends
/// only the requests last published before it: a later publish went out on the renewed connection, after the announced
/// worker had subscribed, so sending it again would only make a worker generate it twice. The price is at-least-once
/// processing: a worker may see a request twice; workers answer repeats from their result cache, and results are
/// deduplicated here by request id, so each <see cref="RequestAsync"/> completes exactly once.</para>
/// </summary>
public sealed partial class FleetRequester : IAsyncDisposable
{
    readonly MqttLink _link;
    readonly MqttSettings _settings;
    readonly TimeSpan _resendInterval;
    readonly ILogger _logger;
    readonly ConcurrentDictionary<string, Pending> _pending = new();
    readonly ConcurrentDictionary<string, bool> _workers = new();
    readonly CancellationTokenSource _stop = new();
    Task? _running, _resending;
    long _duplicates, _resent;
    int _resendScheduled;

    // One sequence orders publishes and events: an event-triggered resend covers the requests whose last publish
    // started before the newest event (_resendBefore); later ones went out after the event and need no resend.
    long _sequence, _resendBefore;

    sealed record Pending(string Id, MqttApplicationMessage Message, TaskCompletionSource<FleetReply> Reply)
    {
        /// <summary>Sequence number taken when its last publish started.</summary>
        public long LastPublish;
    }

    public FleetRequester(MqttSettings settings, string clientId, TimeSpan resendInterval, ILogger logger)
    {
        _settings = settings;
        _resendInterval = resendInterval;
        _logger = logger;
        _link = new MqttLink(settings, clientId, logger)
        {
            Connected = OnConnectedAsync,
            MessageReceived = OnMessageAsync,
        };
    }

    string StatusPrefix => $"{_settings.TopicPrefix}/status/";

    public string ReplyTopic => $"{_settings.TopicPrefix}/replies/{_link.ClientId}";

    /// <summary>Results that arrived for a request already answered (dropped here).</summary>
    public long DuplicateReplies => Interlocked.Read(ref _duplicates);

    /// <summary>How often a pending request was published again.</summary>
    public long Resent => Interlocked.Read(ref _resent);

    public int PendingCount => _pending.Count;

    /// <summary>Boards whose retained status says online (they publish it after subscribing, so they take requests).</summary>
    public IReadOnlyCollection<string> OnlineWorkers => [.. _workers.Where(w => w.Value).Select(w => w.Key)];

    public bool IsConnected => _link.IsConnected;

    public void Start()
    {
        _running = _link.RunAsync(_stop.Token);
        _resending = ResendPeriodicallyAsync(_stop.Token);
    }

    /// <summary>Asks the fleet for a generation; completes when the first result for <paramref name="id"/> arrives.</summary>
    public async Task<FleetReply> RequestAsync(string id, string prompt, int? maxTokens, CancellationToken cancellationToken)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(_settings.RequestTopic)
            .WithPayload(FleetMessages.WriteRequest(id, prompt, maxTokens))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithResponseTopic(ReplyTopic)
            .WithContentType("application/json")
            .Build();
        var pending = new Pending(id, message, new TaskCompletionSource<FleetReply>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_pending.TryAdd(id, pending))
            throw new ArgumentException($"Request id \"{id}\" is already pending; use a new id per request.", nameof(id));
        // Not connected: it goes out with the others after the connect.
        await PublishAsync(pending, cancellationToken).ConfigureAwait(false);
        return await pending.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    Task<bool> PublishAsync(Pending request, CancellationToken cancellationToken)
    {
        Volatile.Write(ref request.LastPublish, Interlocked.Increment(ref _sequence));
        return _link.TryPublishAsync(request.Message, cancellationToken);
    }

    async Task OnConnectedAsync(IMqttClient client, bool sessionPresent, CancellationToken cancellationToken)
    {
        // Two subscriptions, in this order, with the reconnect's resend point between them: a request published after
        // it finds its reply topic subscribed, and every "online" this connection brings (the retained ones arrive as
        // soon as the status subscription is in place) is seen after it, so whoever waits for a worker to come online
        // and then publishes has nothing called back by this reconnect.
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(ReplyTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build(), cancellationToken).ConfigureAwait(false);
        MarkResendPoint();
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(StatusPrefix + "+").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce))
            .Build(), cancellationToken).ConfigureAwait(false);
        ScheduleResend("reconnected");
    }

    Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (message.Topic == ReplyTopic)
        {
            if (FleetMessages.ParseReply(message.Payload) is { } reply)
            {
                if (_pending.TryRemove(reply.Id, out var pending))
                    pending.Reply.TrySetResult(reply);
                else
                    Interlocked.Increment(ref _duplicates);
            }
        }
        else if (message.Topic.StartsWith(StatusPrefix, StringComparison.Ordinal))
        {
            string client = message.Topic[StatusPrefix.Length..];
            // This requester's own status (its link announces it too) says nothing about who takes requests.
            if (client == _link.ClientId)
                return Task.CompletedTask;
            bool online = FleetMessages.IsOnlineStatus(message.Payload);
            // Marked before the worker shows in OnlineWorkers: whoever sees it there publishes after the mark.
            if (online)
                MarkResendPoint();
            _workers[client] = online;
            if (online)
                ScheduleResend("a worker came online");
        }
        return Task.CompletedTask;
    }

    /// <summary>Requests whose last publish started before now are resent by the next <see cref="ScheduleResend"/>.</summary>
    void MarkResendPoint()
    {
        long mark = Interlocked.Increment(ref _sequence), seen;
        while ((seen = Volatile.Read(ref _resendBefore)) < mark && Interlocked.CompareExchange(ref _resendBefore, mark, seen) != seen)
        {
        }
    }

    /// <summary>
    /// Resends soon, off the receive loop (publishing waits for acknowledgements that loop delivers). After a broker
    /// restart every worker comes online at about the same time; those events share one resend.
    /// </summary>
    void ScheduleResend(string reason)
    {
        if (Interlocked.CompareExchange(ref _resendScheduled, 1, 0) != 0)
            return;
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(300), _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Volatile.Write(ref _resendScheduled, 0);
            await ResendAllAsync(reason, Volatile.Read(ref _resendBefore)).ConfigureAwait(false);
        }, CancellationToken.None);
    }

    async Task ResendPeriodicallyAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(_resendInterval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                await ResendAllAsync("no result yet", long.MaxValue).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Publishes again the pending requests whose last publish started before <paramref name="publishedBefore"/>.</summary>
    async Task ResendAllAsync(string reason, long publishedBefore)
    {
        var pending = _pending.Values.Where(p => Volatile.Read(ref p.LastPublish) < publishedBefore).ToArray();
        if (pending.Length == 0)
            return;
        LogResending(pending.Length, reason);
        foreach (var request in pending)
        {
            if (_stop.IsCancellationRequested || !_link.IsConnected)
                return;
            if (_pending.ContainsKey(request.Id) && await PublishAsync(request, _stop.Token).ConfigureAwait(false))
                Interlocked.Increment(ref _resent);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var task in new[] { _running, _resending })
            if (task is not null)
                await task.ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Publishing {Count} pending request(s) again: {Reason}")]
    partial void LogResending(int count, string reason);
}
