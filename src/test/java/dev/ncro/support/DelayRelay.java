package dev.ncro.support;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay on loopback that makes a server look far away: every byte is held for half the
 * round-trip time in each direction, and a new connection waits one round trip before its first
 * byte goes through (the TCP handshake), so a request costs about one RTT, or two on a new
 * connection, as on a real network. Bandwidth is not limited.
 *
 * <p>Why: this kernel has no netem, and ncro's whole point is choosing between caches of different
 * latency.
 *
 * <p>Why Netty on its own event loop thread rather than a thread per connection: the relay usually
 * runs in the same JVM as ncro. Measured on 2 cores with 30 concurrent new connections, a
 * platform-thread relay added 50 to 600 ms (thread start-up), and a virtual-thread relay shares
 * its carrier threads with ncro's virtual threads, so the emulated distance depended on ncro's own
 * load. Here one dedicated thread schedules every chunk at its due time.
 *
 * <p>Memory is bounded: per connection and direction, once more than {@value #MAX_PENDING} bytes
 * are read but not yet written out, the relay stops reading that side until the backlog drains.
 */
public final class DelayRelay implements AutoCloseable {
  static final int MAX_PENDING = 1 << 20;

  private final EventLoopGroup group;
  private final Channel server;

  private DelayRelay(EventLoopGroup group, Channel server) {
    this.group = group;
    this.server = server;
  }

  /** Relays a new loopback port to {@code target} with round-trip time {@code rtt}. */
  public static DelayRelay start(InetSocketAddress target, Duration rtt)
      throws InterruptedException {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(
        1,
        Thread.ofPlatform()
            .name("delay-relay-" + rtt.toMillis() + "ms")
            .daemon(true)
            .factory(),
        NioIoHandler.newFactory());
    long oneWayNanos = rtt.toNanos() / 2;
    try {
      Channel server = new ServerBootstrap()
          .group(group)
          .channel(NioServerSocketChannel.class)
          .childOption(ChannelOption.AUTO_READ, false)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel client) {
              client
                  .eventLoop()
                  .schedule(
                      () -> connect(client, target, oneWayNanos),
                      rtt.toNanos(),
                      TimeUnit.NANOSECONDS);
            }
          })
          .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
          .sync()
          .channel();
      return new DelayRelay(group, server);
    } catch (InterruptedException | RuntimeException e) {
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      throw e;
    }
  }

  /** After the emulated handshake: connect to the target, then relay both ways. */
  private static void connect(Channel client, InetSocketAddress target, long oneWayNanos) {
    if (!client.isActive()) {
      return;
    }
    Pipe fromClient = new Pipe(oneWayNanos);
    Pipe fromServer = new Pipe(oneWayNanos);
    new Bootstrap()
        .group(client.eventLoop())
        .channel(NioSocketChannel.class)
        .option(ChannelOption.AUTO_READ, false)
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
        .handler(fromServer)
        .connect(target)
        .addListener((ChannelFutureListener) f -> {
          if (!f.isSuccess()) {
            client.close();
            return;
          }
          Channel upstream = f.channel();
          if (!client.isActive()) {
            upstream.close();
            return;
          }
          fromServer.peer = client;
          fromClient.peer = upstream;
          client.pipeline().addLast(fromClient);
          client.config().setAutoRead(true);
          upstream.config().setAutoRead(true);
        });
  }

  /** One direction: what this channel reads is written to {@code peer} one-way-delay later. */
  private static final class Pipe extends ChannelInboundHandlerAdapter {
    private final long delayNanos;
    private Channel peer;
    private long pending; // read but not yet written out; event-loop confined

    Pipe(long delayNanos) {
      this.delayNanos = delayNanos;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf buf = (ByteBuf) msg;
      int n = buf.readableBytes();
      pending += n;
      if (pending > MAX_PENDING) {
        ctx.channel().config().setAutoRead(false);
      }
      ctx.executor()
          .schedule(
              () -> {
                if (!peer.isActive()) {
                  buf.release();
                  return;
                }
                peer.writeAndFlush(buf).addListener((ChannelFutureListener) w -> {
                  pending -= n;
                  if (!w.isSuccess()) {
                    ctx.close();
                    peer.close();
                  } else if (pending <= MAX_PENDING / 2
                      && !ctx.channel().config().isAutoRead()) {
                    ctx.channel().config().setAutoRead(true);
                  }
                });
              },
              delayNanos,
              TimeUnit.NANOSECONDS)
          .addListener(f -> {
            // Still in transit when the relay shut down (its scheduled tasks are cancelled): not
            // leaked.
            if (f.isCancelled() && buf.refCnt() > 0) {
              buf.release();
            }
          });
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      // The close travels like the data, after what was sent before it.
      if (peer != null) {
        ctx.executor()
            .schedule(
                () -> {
                  peer.writeAndFlush(Unpooled.EMPTY_BUFFER)
                      .addListener(ChannelFutureListener.CLOSE);
                },
                delayNanos,
                TimeUnit.NANOSECONDS);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
      if (peer != null) {
        peer.close();
      }
    }
  }

  public int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  public URI uri() {
    return URI.create("http://127.0.0.1:" + port());
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
