using Messenger.Protocol;
using Messenger.Transport;

namespace Messenger.Core.Tests.Transport;

/// <summary>SendQueueLimitBytes bounds what a peer's queue holds, frames kept for their acknowledgement included.</summary>
public sealed class SendQueueLimitTests
{
    [Fact]
    public void Frames_of_one_small_message_each_count_their_whole_buffer_against_the_limit()
    {
        // A peer that acknowledges slowly, while each small message goes out in a frame of its own: every kept frame
        // holds a whole segment. Counted by their records alone, 1 MiB let about 20,000 such frames (1.3 GB) pile up.
        const int Limit = 1 << 20;
        var queue = new OutboundQueue(FrameType.Data, NodeId.NewRandom(), Limit, retainUntilAcknowledged: true);
        var kept = 0;
        var taken = new List<OutboundSegment>();
        for (; kept < 1000; kept++)
        {
            if (queue.TryAppend(new byte[40], MessageContentType.Binary, null, 0, ackNow: false, out _) == 0) break;
            taken.Clear();
            queue.TakeAll(taken);
            queue.Sent(Assert.Single(taken));
        }
        Assert.InRange(kept, 1, Limit / OutboundQueue.SegmentSize + 1);
        Assert.InRange(queue.PendingBytes, 1, Limit + OutboundQueue.SegmentSize);

        queue.Acknowledge(kept);
        Assert.Equal(0, queue.PendingBytes);
        Assert.NotEqual(0, queue.TryAppend(new byte[40], MessageContentType.Binary, null, 0, ackNow: false, out _));
    }
}
