using Edge.Devices.Configuration;
using Edge.Devices.Fleet;
using Edge.Devices.Readings;
using Edge.Devices.Triggers;

namespace Edge.Devices.Tests;

public class TriggerQueueTests
{
    static Trigger Local(TriggerSource source, string prompt) => new(source, prompt, SensorReadings.None, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task A_burst_keeps_the_newest_triggers_and_counts_the_dropped_ones()
    {
        var queue = new TriggerQueue(new QueueSettings { Capacity = 3, DebounceMilliseconds = 0 }, new ManualTimeProvider());
        var dropped = new List<string>();
        queue.Dropped += t => dropped.Add(t.Prompt);

        for (int i = 0; i < 10; i++)
            Assert.Equal(OfferResult.Accepted, queue.Offer(Local(TriggerSource.Motion, $"motion {i}")));

        var served = new List<string>();
        for (int i = 0; i < 3; i++)
            served.Add((await queue.ReadAsync(TestContext.Current.CancellationToken)).Prompt);
        Assert.Equal(["motion 7", "motion 8", "motion 9"], served);
        Assert.Equal(7, queue.DroppedCount);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"motion {i}"), dropped);
    }

    [Fact]
    public void Repeats_from_one_source_within_the_debounce_time_are_ignored()
    {
        var time = new ManualTimeProvider();
        var queue = new TriggerQueue(new QueueSettings { Capacity = 10, DebounceMilliseconds = 2000 }, time);

        Assert.Equal(OfferResult.Accepted, queue.Offer(Local(TriggerSource.Button, "1")));
        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.Equal(OfferResult.Debounced, queue.Offer(Local(TriggerSource.Button, "2")));
        Assert.Equal(OfferResult.Accepted, queue.Offer(Local(TriggerSource.Motion, "other source")));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(OfferResult.Accepted, queue.Offer(Local(TriggerSource.Button, "3")));

        Assert.Equal(1, queue.DebouncedCount);
    }

    [Fact]
    public async Task Fleet_requests_are_never_dropped_and_are_served_first()
    {
        var queue = new TriggerQueue(new QueueSettings { Capacity = 1, DebounceMilliseconds = 0 }, new ManualTimeProvider());
        queue.Offer(Local(TriggerSource.Button, "local"));
        for (int i = 0; i < 5; i++)
            queue.EnqueueRequest(Local(TriggerSource.Mqtt, $"request {i}") with { Request = new FleetRequest { Id = $"{i}", Prompt = "p", ReplyTopic = "r" } });

        var served = new List<string>();
        for (int i = 0; i < 6; i++)
            served.Add((await queue.ReadAsync(TestContext.Current.CancellationToken)).Prompt);

        Assert.Equal(["request 0", "request 1", "request 2", "request 3", "request 4", "local"], served);
        Assert.Equal(0, queue.DroppedCount);
    }

    [Fact]
    public async Task A_waiting_reader_wakes_up_for_a_new_trigger()
    {
        var queue = new TriggerQueue(new QueueSettings { Capacity = 2, DebounceMilliseconds = 0 }, new ManualTimeProvider());
        var read = queue.ReadAsync(TestContext.Current.CancellationToken).AsTask();
        Assert.False(read.IsCompleted);

        queue.Offer(Local(TriggerSource.Motion, "late"));

        Assert.Equal("late", (await read.WaitAsync(TestTimeouts.Hang, TestContext.Current.CancellationToken)).Prompt);
    }
}
