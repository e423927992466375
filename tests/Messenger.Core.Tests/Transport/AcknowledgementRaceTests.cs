using Messenger.Protocol;
using Messenger.Transport;

namespace Messenger.Core.Tests.Transport;

/// <summary>Acknowledgements that two threads handle at once since the data receiver: the poller (a link's own
/// connection) and the data receiver (data connections).</summary>
public class AcknowledgementRaceTests
{
    private static OutboundQueue Queue() => new(FrameType.Data, NodeId.NewRandom(), 1 << 20, retainUntilAcknowledged: true);

    [Fact]
    public void An_owed_acknowledgement_never_goes_back_to_a_lower_sequence()
    {
        var link = new PeerLink(NodeId.NewRandom(), "p", new PeerAddress("127.0.0.1", 1, 2), "test", Queue(), 0);
        Assert.Equal(0, link.OweAck(10));
        // The other thread delivered less, and owes later: the higher stays owed.
        Assert.Equal(10, link.OweAck(8));
        Assert.Equal(10, link.TakeOwedAck());
        Assert.False(link.HasOwedAck);
        Assert.Equal(0, link.OweAck(8));
        Assert.Equal(8, link.TakeOwedAck());
    }

    [Fact]
    public void A_frame_acknowledged_while_it_was_being_sent_again_is_released_not_kept()
    {
        var queue = Queue();
        var segment = queue.TryTakeIdle([1, 2, 3], MessageContentType.Binary, null, 0, ackNow: false, out var sequence);
        Assert.NotNull(segment);
        // The frame is sent again (its connection closed), and the acknowledgement of its first sending comes while
        // it is out of the unacknowledged list.
        Assert.Equal(1, queue.RequeueUnacknowledged());
        var again = new List<OutboundSegment>();
        queue.TakeAll(again);
        Assert.Single(again);
        queue.Acknowledge(sequence);
        queue.Sent(again[0]);
        Assert.Equal(0, queue.UnacknowledgedFrames);
        Assert.Equal(0, queue.PendingBytes);
    }
}
