using Edge.Devices.Configuration;
using Edge.Devices.Fleet;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace Edge.Devices.Tests;

/// <summary>
/// Boards and a requester talking through a real Mosquitto broker on loopback. Workers are the full daemon service
/// (no sensors) with a fake model; the requester is <see cref="FleetRequester"/>.
/// </summary>
public class FleetIntegrationTests
{
    static MqttSettings Mqtt(MosquittoBroker broker, ushort inFlight = 1) => new()
    {
        Enabled = true,
        Host = "127.0.0.1",
        Port = broker.Port,
        Group = "test-workers",
        RequestTopic = "edge/requests",
        TopicPrefix = "edge",
        MaxInFlightRequests = inFlight,
        MaxReconnectDelaySeconds = 1,
    };

    static Task<DaemonHarness> StartWorkerAsync(MosquittoBroker broker, string name, TimeSpan delayPerRequest) =>
        StartWorkerAsync(broker, name, new RecordingGenerator(delayPerRequest));

    static async Task<DaemonHarness> StartWorkerAsync(MosquittoBroker broker, string name, RecordingGenerator generator)
    {
        var options = DaemonHarness.TestOptions();
        options.Bme280.Enabled = false;
        options.Lcd.Enabled = false;
        options.Gpio.ButtonPin = null;
        options.Gpio.MotionPin = null;
        options.Mqtt = Mqtt(broker);
        options.Mqtt.ClientId = name;
        var loggers = LoggerFactory.Create(_ => { });
        var link = new MqttLink(options.Mqtt, name, loggers.CreateLogger<MqttLink>());
        return await DaemonHarness.StartAsync(options, generator, link);
    }

    static async Task<FleetRequester> StartRequesterAsync(MosquittoBroker broker, TimeSpan resendInterval, params string[] workers)
    {
        var requester = new FleetRequester(Mqtt(broker, inFlight: 100), "requester-" + Guid.NewGuid().ToString("N")[..8], resendInterval, LoggerFactory.Create(_ => { }).CreateLogger("requester"));
        requester.Start();
        // A worker announces "online" only after subscribing, so from here on requests reach the group.
        await TestTimeouts.UntilAsync(() => workers.All(requester.OnlineWorkers.Contains), "both workers online");
        return requester;
    }

    static string Prompt(int i) => $"request number {i}";

    /// <summary>Requests r0..r(count-1), prompts <see cref="Prompt"/>(i), all at once.</summary>
    static Task<FleetReply>[] SendRequests(FleetRequester requester, int count) =>
        Enumerable.Range(0, count).Select(i => requester.RequestAsync($"r{i}", Prompt(i), 8, TestContext.Current.CancellationToken)).ToArray();

    /// <summary>Waits for every request's reply and checks that each answers its own prompt.</summary>
    static async Task<FleetReply[]> RepliesAsync(Task<FleetReply>[] requests)
    {
        var replies = await Task.WhenAll(requests).WaitAsync(TestTimeouts.Hang, TestContext.Current.CancellationToken);
        for (int i = 0; i < replies.Length; i++)
            Assert.Equal(RecordingGenerator.ReplyTo(Prompt(i)), replies[i].Text.Trim());
        return replies;
    }

    [Fact]
    public async Task Two_workers_on_a_shared_subscription_split_20_requests_with_none_lost_or_duplicated()
    {
        using var broker = await MosquittoBroker.StartAsync();
        string suffix = Guid.NewGuid().ToString("N")[..8];
        await using var workerA = await StartWorkerAsync(broker, "worker-a-" + suffix, TimeSpan.FromMilliseconds(10));
        await using var workerB = await StartWorkerAsync(broker, "worker-b-" + suffix, TimeSpan.FromMilliseconds(10));
        // Resending only after a long silence: this test is about the shared subscription itself.
        await using var requester = await StartRequesterAsync(broker, TimeSpan.FromMinutes(10), "worker-a-" + suffix, "worker-b-" + suffix);

        var replies = await RepliesAsync(SendRequests(requester, 20));

        string[] servedByA = workerA.Generator.TriggerPrompts, servedByB = workerB.Generator.TriggerPrompts;
        Assert.NotEmpty(servedByA);
        Assert.NotEmpty(servedByB);
        Assert.Equal(Enumerable.Range(0, 20).Select(Prompt).Order(), servedByA.Concat(servedByB).Order());
        Assert.Equal(servedByA.Length, replies.Count(r => r.Worker == "worker-a-" + suffix));
        Assert.Equal(0, requester.DuplicateReplies);
        Assert.Equal(0, requester.Resent);
    }

    [Fact]
    public async Task Requests_sent_after_the_workers_came_online_are_not_sent_again_when_the_start_up_resend_fires()
    {
        using var broker = await MosquittoBroker.StartAsync();
        string suffix = Guid.NewGuid().ToString("N")[..8];
        // Each generation outlasts the short delay after which the requester acts on its connect and on the workers'
        // "online" announcements, so that resend comes due while all four requests are still pending.
        await using var workerA = await StartWorkerAsync(broker, "worker-a-" + suffix, TimeSpan.FromMilliseconds(400));
        await using var workerB = await StartWorkerAsync(broker, "worker-b-" + suffix, TimeSpan.FromMilliseconds(400));
        await using var requester = await StartRequesterAsync(broker, TimeSpan.FromMinutes(10), "worker-a-" + suffix, "worker-b-" + suffix);

        await RepliesAsync(SendRequests(requester, 4));
        // Published after the requester's connect and after both announcements: nothing to call back.
        Assert.Equal(0, requester.Resent);
        Assert.Equal(Enumerable.Range(0, 4).Select(Prompt).Order(), workerA.Generator.TriggerPrompts.Concat(workerB.Generator.TriggerPrompts).Order());
    }

    [Fact]
    public async Task A_broker_restart_mid_run_loses_no_accepted_request()
    {
        using var broker = await MosquittoBroker.StartAsync();
        string suffix = Guid.NewGuid().ToString("N")[..8];
        await using var workerA = await StartWorkerAsync(broker, "worker-a-" + suffix, TimeSpan.FromMilliseconds(100));
        await using var workerB = await StartWorkerAsync(broker, "worker-b-" + suffix, TimeSpan.FromMilliseconds(100));
        await using var requester = await StartRequesterAsync(broker, TimeSpan.FromSeconds(2), "worker-a-" + suffix, "worker-b-" + suffix);

        var requests = SendRequests(requester, 20);
        await TestTimeouts.UntilAsync(() => requests.Count(r => r.IsCompleted) >= 4, "a few results before the restart");
        int answeredBeforeRestart = requests.Count(r => r.IsCompleted);
        await broker.RestartAsync();
        await RepliesAsync(requests);

        Assert.True(answeredBeforeRestart < 20, "the restart should happen while requests are outstanding");
        Assert.Equal(0, requester.PendingCount);
        // Both workers noticed the restart and reconnected by themselves.
        Assert.True(workerA.Link!.ConnectionCount >= 2 && workerB.Link!.ConnectionCount >= 2);
        long generated = workerA.Service.Fleet!.GeneratedCount + workerB.Service.Fleet!.GeneratedCount;
        Assert.True(generated >= 20);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"answered before the restart: {answeredBeforeRestart}; generations: {generated}; answered from cache: " +
            $"{workerA.Service.Fleet.AnsweredFromCacheCount + workerB.Service.Fleet.AnsweredFromCacheCount}; resent: {requester.Resent}; duplicate replies dropped: {requester.DuplicateReplies}");
    }

    /// <summary>
    /// Issue 23, item 4: the broker is killed (SIGKILL) and restarted 20 times while requests are in flight, with
    /// persistent sessions on both sides and the broker's database on disk. Every request gets its own answer, exactly
    /// once at the caller, and no worker generates one request twice (redeliveries are answered from its cache).
    /// </summary>
    [Fact]
    public async Task Twenty_broker_kills_during_a_fleet_run_lose_no_request_and_answer_none_twice()
    {
        const int restarts = 20, perRound = 10;
        using var broker = await MosquittoBroker.StartAsync(persistent: true);
        string suffix = Guid.NewGuid().ToString("N")[..8];
        await using var workerA = await StartWorkerAsync(broker, "worker-a-" + suffix, TimeSpan.FromMilliseconds(40));
        await using var workerB = await StartWorkerAsync(broker, "worker-b-" + suffix, TimeSpan.FromMilliseconds(40));
        await using var requester = await StartRequesterAsync(broker, TimeSpan.FromSeconds(2), "worker-a-" + suffix, "worker-b-" + suffix);
        var ct = TestContext.Current.CancellationToken;

        var requests = new List<Task<FleetReply>>();
        int killedWithOutstanding = 0;
        for (int round = 0; round < restarts; round++)
        {
            int first = requests.Count;
            for (int i = first; i < first + perRound; i++)
                requests.Add(requester.RequestAsync($"r{i}", Prompt(i), 8, ct));
            await TestTimeouts.UntilAsync(() => requests.Skip(first).Any(r => r.IsCompleted), $"a result of round {round}");
            if (requests.Any(r => !r.IsCompleted))
                killedWithOutstanding++;
            await broker.RestartAsync();
            await TestTimeouts.UntilAsync(() => workerA.Link!.IsConnected && workerB.Link!.IsConnected && requester.IsConnected, $"everyone reconnected after restart {round + 1}");
        }
        var replies = await RepliesAsync([.. requests]);

        Assert.Equal(restarts + 1, broker.Launches);
        Assert.True(killedWithOutstanding >= restarts / 2, $"only {killedWithOutstanding} kills found requests outstanding");
        Assert.Equal(Enumerable.Range(0, requests.Count).Select(i => $"r{i}"), replies.Select(r => r.Id));
        Assert.Equal(0, requester.PendingCount);
        string[] servedByA = workerA.Generator.TriggerPrompts, servedByB = workerB.Generator.TriggerPrompts;
        Assert.Equal(servedByA.Distinct().Count(), servedByA.Length);
        Assert.Equal(servedByB.Distinct().Count(), servedByB.Length);
        Assert.Equal(Enumerable.Range(0, requests.Count).Select(Prompt).Order(), servedByA.Union(servedByB).Order());
        Assert.True(workerA.Link!.ConnectionCount > restarts && workerB.Link!.ConnectionCount > restarts);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{requests.Count} requests, {restarts} kills ({killedWithOutstanding} with requests outstanding); generations: {servedByA.Length + servedByB.Length} " +
            $"(on both workers: {servedByA.Intersect(servedByB).Count()}); answered from cache: " +
            $"{workerA.Service.Fleet!.AnsweredFromCacheCount + workerB.Service.Fleet!.AnsweredFromCacheCount}; resent: {requester.Resent}; duplicate replies dropped: {requester.DuplicateReplies}");
    }

    [Fact]
    public async Task A_request_whose_worker_stops_before_answering_is_redelivered_to_it_by_the_broker()
    {
        using var broker = await MosquittoBroker.StartAsync();
        string worker = "worker-" + Guid.NewGuid().ToString("N")[..8];
        var stuck = new RecordingGenerator { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var first = await StartWorkerAsync(broker, worker, stuck);
        await TestTimeouts.UntilAsync(() => first.Link!.IsConnected, "the worker to connect");
        // A bare client publishes once and never again, so only the broker can bring the request back.
        using var requester = new MqttClientFactory().CreateMqttClient();
        var replies = new List<FleetReply>();
        requester.ApplicationMessageReceivedAsync += e =>
        {
            lock (replies)
                replies.Add(FleetMessages.ParseReply(e.ApplicationMessage.Payload)!);
            return Task.CompletedTask;
        };
        await requester.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build(), TestContext.Current.CancellationToken);
        await requester.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("edge/results", MqttQualityOfServiceLevel.AtLeastOnce).Build(), TestContext.Current.CancellationToken);
        await TestTimeouts.UntilAsync(() => first.Link!.ConnectionCount == 1 && first.Link.IsConnected, "the worker to subscribe");
        await requester.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("edge/requests").WithPayload(FleetMessages.WriteRequest("only-once", "Say hello", 4))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), TestContext.Current.CancellationToken);

        await TestTimeouts.UntilAsync(() => stuck.TriggerPrompts.Length == 1, "the worker to start on the request");
        await first.DisposeAsync(); // stops mid-generation: nothing is published, nothing acknowledged
        Assert.Equal(1, stuck.CancelledCount);
        await using var second = await StartWorkerAsync(broker, worker, TimeSpan.Zero);
        await TestTimeouts.UntilAsync(() => { lock (replies) return replies.Count > 0; }, "the redelivered request's result");

        var reply = Assert.Single(replies);
        Assert.Equal(("only-once", RecordingGenerator.ReplyTo("Say hello")), (reply.Id, reply.Text.Trim()));
        Assert.Equal(["Say hello"], second.Generator.TriggerPrompts);
    }
}
