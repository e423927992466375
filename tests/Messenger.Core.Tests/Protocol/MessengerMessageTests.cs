using System.Text;
using Messenger.Protocol;

namespace Messenger.Tests.Protocol;

public sealed class MessengerMessageTests
{
    [Fact]
    public void A_message_built_with_an_initializer_reads_back_every_field()
    {
        var sent = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.FromHours(2));
        var received = sent.AddMilliseconds(3);
        var m = new MessengerMessage
        {
            From = "a",
            FromId = "id-a",
            To = "b",
            Topic = "t",
            Kind = MessageKind.Broadcast,
            ContentType = MessageContentType.Text,
            Body = Encoding.UTF8.GetBytes("hi"),
            Sequence = 7,
            SentAt = sent,
            ReceivedAt = received,
        };
        Assert.Equal(("a", "id-a", "b", "t", MessageKind.Broadcast, MessageContentType.Text, 7L), (m.From, m.FromId, m.To, m.Topic, m.Kind, m.ContentType, m.Sequence));
        Assert.Equal("hi", m.GetText());
        Assert.Equal(sent, m.SentAt);
        Assert.Equal(TimeSpan.Zero, m.SentAt.Offset);
        Assert.Equal(received, m.ReceivedAt);
    }

    [Theory]
    [InlineData(long.MinValue)]
    [InlineData(-1L)]
    [InlineData(long.MaxValue)]
    public void A_sent_time_outside_what_DateTime_holds_is_clamped_not_thrown(long micros)
    {
        var time = Wire.UtcFromUnixMicros(micros);
        Assert.InRange(time, DateTime.UnixEpoch, DateTime.MaxValue);
        Assert.Equal(DateTimeKind.Utc, time.Kind);
    }

    [Fact]
    public void A_sent_time_in_range_converts_exactly()
    {
        var t = new DateTime(2026, 11, 26, 12, 34, 56, DateTimeKind.Utc).AddTicks(1230);
        Assert.Equal(t, Wire.UtcFromUnixMicros((t.Ticks - DateTime.UnixEpoch.Ticks) / 10));
    }
}
