using System.Text;
using Edge.Devices.Configuration;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Devices.Fleet;

/// <summary>
/// One MQTT 5 connection kept alive by its own loop (MQTTnet 5 has no managed client): connect, run
/// <see cref="Connected"/> (subscribe, announce), wait for the connection to drop, back off (1 s doubling to
/// <see cref="MqttSettings.MaxReconnectDelaySeconds"/>), repeat. Each attempt uses a fresh client, so a
/// message received on an old connection can never be acknowledged on a new one by mistake.
/// The session is persistent (clean start off, <see cref="MqttSettings.SessionExpirySeconds"/>): while the board is
/// away the broker keeps its subscriptions and unacknowledged QoS 1 messages and redelivers them.
/// A retained status message says "online"; the last will replaces it with "offline" if the board vanishes.
/// </summary>
public sealed partial class MqttLink(MqttSettings settings, string clientId, ILogger logger)
{
    readonly MqttClientFactory _factory = new();
    IMqttClient? _current;
    long _connections;

    /// <summary>Runs after every successful connect (subscriptions are renewed each time: a restarted broker without persistence has forgotten them).</summary>
    public Func<IMqttClient, bool, CancellationToken, Task>? Connected { get; set; }

    public Func<MqttApplicationMessageReceivedEventArgs, Task>? MessageReceived { get; set; }

    public string ClientId => clientId;

    public string StatusTopic => $"{settings.TopicPrefix}/status/{clientId}";

    /// <summary>Extra fields for the retained "online" status (model description, for example).</summary>
    public string? StatusDetail { get; set; }

    public bool IsConnected => Volatile.Read(ref _current)?.IsConnected == true;

    /// <summary>Successful connects so far; tests use it to see a reconnect happen.</summary>
    public long ConnectionCount => Interlocked.Read(ref _connections);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        int failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var client = _factory.CreateMqttClient();
            var dropped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.DisconnectedAsync += _ =>
            {
                dropped.TrySetResult();
                return Task.CompletedTask;
            };
            client.ApplicationMessageReceivedAsync += e => MessageReceived?.Invoke(e) ?? Task.CompletedTask;
            try
            {
                var result = await client.ConnectAsync(BuildOptions(), cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _current, client);
                Interlocked.Increment(ref _connections);
                failures = 0;
                LogConnected(settings.Host, settings.Port, result.IsSessionPresent);
                if (Connected is { } connected)
                    await connected(client, result.IsSessionPresent, cancellationToken).ConfigureAwait(false);
                await PublishStatusAsync(client, online: true, cancellationToken).ConfigureAwait(false);
                await dropped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                LogDisconnected(settings.Host, settings.Port);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await SayGoodbyeAsync(client).ConfigureAwait(false);
                client.Dispose();
                break;
            }
            catch (Exception e)
            {
                failures++;
                LogConnectFailed(settings.Host, settings.Port, e.Message);
            }
            Volatile.Write(ref _current, null);
            client.Dispose();
            var delay = Backoff.Delay(Math.Max(failures, 1), TimeSpan.FromSeconds(settings.MaxReconnectDelaySeconds));
            try
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        Volatile.Write(ref _current, null);
    }

    /// <summary>Publishes with QoS 1 and waits for the broker's acknowledgement; false if not connected or it failed.</summary>
    public async Task<bool> TryPublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        var client = Volatile.Read(ref _current);
        if (client is null || !client.IsConnected)
            return false;
        try
        {
            var result = await client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            return result.IsSuccess;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogPublishFailed(message.Topic, e.Message);
            return false;
        }
    }

    MqttClientOptions BuildOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(settings.Host, settings.Port)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithClientId(clientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(settings.SessionExpirySeconds)
            .WithReceiveMaximum(settings.MaxInFlightRequests)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithWillTopic(StatusTopic)
            .WithWillPayload(StatusPayload(online: false))
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (!string.IsNullOrEmpty(settings.Username))
            builder.WithCredentials(settings.Username, settings.Password ?? "");
        return builder.Build();
    }

    Task PublishStatusAsync(IMqttClient client, bool online, CancellationToken cancellationToken) =>
        client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(StatusTopic)
            .WithPayload(StatusPayload(online))
            .WithRetainFlag(true)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build(), cancellationToken);

    string StatusPayload(bool online)
    {
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer, FleetMessages.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("state", online ? "online" : "offline");
            json.WriteString("client", clientId);
            if (online && StatusDetail is not null)
                json.WriteString("model", StatusDetail);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A clean shutdown does not fire the last will, so the "offline" status is published by hand.</summary>
    async Task SayGoodbyeAsync(IMqttClient client)
    {
        if (!client.IsConnected)
            return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await PublishStatusAsync(client, online: false, timeout.Token).ConfigureAwait(false);
            await client.DisconnectAsync(new MqttClientDisconnectOptions(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogPublishFailed(StatusTopic, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MQTT connected to {Host}:{Port} (session kept by the broker: {SessionPresent})")]
    partial void LogConnected(string host, int port, bool sessionPresent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT connection to {Host}:{Port} dropped; reconnecting")]
    partial void LogDisconnected(string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT broker {Host}:{Port} not reachable: {Message}; retrying with back-off")]
    partial void LogConnectFailed(string host, int port, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT publish to {Topic} failed: {Message}")]
    partial void LogPublishFailed(string topic, string message);
}
