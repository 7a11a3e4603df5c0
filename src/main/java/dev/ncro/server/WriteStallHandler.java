package dev.ncro.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.EpollTcpInfo;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Cuts a client that has stopped reading its response: {@code server.write_timeout} without write
 * progress while bytes are queued (the channel is not writable, or a splice waits), and TCP not
 * moving either. A
 * pipeline stage of its own, as Netty's {@code WriteTimeoutHandler} is: the request handler never
 * sees the idle events it consumes.
 *
 * <p>Netty notices a slow reader's progress only when the socket's send buffer has drained enough
 * to wake the writer (a third of a buffer that auto-tunes up to megabytes: at 10 KB/s that is
 * minutes), so a write-idle event alone does not mean the client stopped; TCP knows better (see
 * {@link #tcpStillDelivering}). Idle events of a writable channel, or of a client still being
 * delivered to, go on down the pipeline.
 */
final class WriteStallHandler extends IdleStateHandler {
  private final Predicate<Channel> stillDelivering;

  /** Stalls are judged with the kernel's TCP_INFO where the transport has it (epoll). */
  WriteStallHandler(long writeTimeoutMillis) {
    this(writeTimeoutMillis, ch -> tcpStillDelivering(ch, writeTimeoutMillis));
  }

  /** {@code stillDelivering}: whether TCP still moves data to the client, though Netty saw no write progress. */
  WriteStallHandler(long writeTimeoutMillis, Predicate<Channel> stillDelivering) {
    super(
        true,
        0,
        writeTimeoutMillis,
        0,
        TimeUnit.MILLISECONDS); // observeOutput: partial flushes count
    this.stillDelivering = stillDelivering;
  }

  @Override
  protected void channelIdle(ChannelHandlerContext ctx, IdleStateEvent evt) throws Exception {
    Channel ch = ctx.channel();
    if (evt.state() == IdleState.WRITER_IDLE && backlogged(ch) && !stillDelivering.test(ch)) {
      ctx.close();
      return;
    }
    super.channelIdle(ctx, evt);
  }

  /**
   * Bytes wait for the client: the channel is above its high-water mark, or a spliced body's bytes
   * wait in its pipe (Netty counts such a write as a few bytes, so it never makes the channel
   * unwritable; see {@code BodySplice}).
   */
  private static boolean backlogged(Channel ch) {
    if (!ch.isWritable()) {
      return true;
    }
    ChannelOutboundBuffer out = ch.unsafe().outboundBuffer();
    return out != null && !out.isEmpty();
  }

  /**
   * Whether the kernel sent the client new data, and heard an ACK from it, within the write
   * timeout. A stopped client still ACKs zero-window probes but gets no new data; a vanished one
   * may get retransmissions but sends no ACK: both are cut. Without epoll (no TCP_INFO) the idle
   * event decides alone.
   */
  static boolean tcpStillDelivering(Channel ch, long writeTimeoutMillis) {
    if (!(ch instanceof EpollSocketChannel epoll) || !ch.isActive()) {
      return false;
    }
    try {
      EpollTcpInfo info = epoll.tcpInfo();
      return info.lastDataSent() < writeTimeoutMillis && info.lastAckRecv() < writeTimeoutMillis;
    } catch (RuntimeException e) {
      return false;
    }
  }
}
