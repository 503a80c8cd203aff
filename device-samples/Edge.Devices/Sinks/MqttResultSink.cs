using Edge.Devices.Fleet;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Devices.Sinks;

/// <summary>
/// Publishes the text of local sensor triggers, with the readings that triggered it, as JSON to
/// <c>&lt;prefix&gt;/&lt;client id&gt;/generations</c> (QoS 1). Fleet requests are answered by <see cref="FleetWorker"/>
/// on their reply topic instead. While the broker is unreachable, results are logged and not kept.
/// </summary>
public sealed partial class MqttResultSink(MqttLink link, string topicPrefix, ILogger<MqttResultSink> logger) : IGenerationSink
{
    public string Name => "mqtt";

    public string Topic => $"{topicPrefix}/{link.ClientId}/generations";

    public async Task WriteAsync(GenerationOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.Trigger.Request is not null)
            return;
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(Topic)
            .WithPayload(FleetMessages.WriteResult(null, link.ClientId, outcome.Trigger.Source.ToString(), outcome.Text, outcome.Trigger.Readings, outcome.Trigger.At, outcome.Elapsed, outcome.Error))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithContentType("application/json")
            .Build();
        if (!await link.TryPublishAsync(message, cancellationToken).ConfigureAwait(false))
            LogNotPublished(Topic);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Broker not reachable: the result was not published to {Topic}")]
    partial void LogNotPublished(string topic);
}
