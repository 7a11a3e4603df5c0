package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The write-stall stage on an {@link EmbeddedChannel} whose clock the test moves. */
class WriteStallHandlerTest {
  private static final long TIMEOUT = 5_000;
  private final List<Object> passedOn = new ArrayList<>();

  /** A channel with the handler in front of a recorder of the user events that get past it. */
  private EmbeddedChannel channel(WriteStallHandler stall) {
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.freezeTime();
    ch.config().setWriteBufferWaterMark(new WriteBufferWaterMark(8, 16));
    ch.pipeline().addLast(stall, new ChannelInboundHandlerAdapter() {
      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        passedOn.add(evt);
      }
    });
    return ch;
  }

  /** Queues more than the high-water mark without flushing it: the client is not taking bytes. */
  private static void stuffOutbound(EmbeddedChannel ch) {
    ch.write(Unpooled.wrappedBuffer(new byte[64]));
    assertThat(ch.isWritable()).isFalse();
  }

  private static void idleFor(EmbeddedChannel ch, long millis) {
    ch.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
  }

  @Test
  void aClientThatStoppedReadingIsCutAfterTheWriteTimeout() {
    EmbeddedChannel ch = channel(new WriteStallHandler(TIMEOUT, c -> false));
    stuffOutbound(ch);
    idleFor(ch, TIMEOUT - 100);
    assertThat(ch.isOpen()).as("before the timeout").isTrue();
    idleFor(ch, 200);
    assertThat(ch.isOpen()).isFalse();
    assertThat(passedOn).as("the stall is handled here, not passed on").isEmpty();
  }

  @Test
  void anIdleButWritableConnectionIsLeftAloneAndTheEventPassedOn() {
    EmbeddedChannel ch = channel(new WriteStallHandler(TIMEOUT, c -> false));
    idleFor(ch, TIMEOUT + 100);
    assertThat(ch.isOpen()).isTrue();
    assertThat(passedOn)
        .singleElement()
        .isInstanceOfSatisfying(
            IdleStateEvent.class, e -> assertThat(e.state()).isEqualTo(IdleState.WRITER_IDLE));
    ch.finishAndReleaseAll();
  }

  @Test
  void aSlowClientThatTcpStillDeliversToIsKept() {
    AtomicBoolean delivering = new AtomicBoolean(true);
    EmbeddedChannel ch = channel(new WriteStallHandler(TIMEOUT, c -> delivering.get()));
    stuffOutbound(ch);
    idleFor(ch, TIMEOUT + 100);
    assertThat(ch.isOpen()).as("TCP says the client still reads").isTrue();
    delivering.set(false);
    idleFor(ch, TIMEOUT + 100);
    assertThat(ch.isOpen()).as("TCP stopped too").isFalse();
  }

  @Test
  void flushedProgressRestartsTheClock() {
    EmbeddedChannel ch = channel(new WriteStallHandler(TIMEOUT, c -> false));
    stuffOutbound(ch);
    idleFor(ch, TIMEOUT - 1000);
    ch.flush(); // the client took the queued bytes
    ch.releaseOutbound();
    stuffOutbound(ch);
    idleFor(ch, TIMEOUT - 1000);
    assertThat(ch.isOpen()).as("progress within the timeout").isTrue();
    idleFor(ch, 2000);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void withoutEpollTcpProgressIsUnknown() {
    EmbeddedChannel ch = new EmbeddedChannel();
    assertThat(WriteStallHandler.tcpStillDelivering(ch, TIMEOUT)).isFalse();
    ch.finishAndReleaseAll();
  }
}
