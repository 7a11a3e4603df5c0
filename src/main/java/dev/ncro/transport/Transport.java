package dev.ncro.transport;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The Netty event loops and channel classes shared by the client-facing server and the upstream
 * client: native epoll on Linux (fewer copies and syscalls than NIO), NIO elsewhere. One group
 * serves both sides, so a proxied byte usually never changes thread.
 */
public record Transport(
    EventLoopGroup group,
    Class<? extends ServerChannel> serverChannel,
    Class<? extends SocketChannel> socketChannel,
    String name) {

  /**
   * The default number of event loops: half the cores, at least one. ncro usually shares its
   * machine with the Nix that uses it (builds, decompression, hashing), and one loop already relays
   * more than 100 000 narinfo hits/s or 1.4 GB/s of NAR; one loop per core on a 2-core box running
   * the load as well cost p99 4.3 ms against 1.3 ms with one loop, for no gain in rate
   * (docs/benchmarks.md §3 and §4).
   */
  public static int defaultThreads() {
    return Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
  }

  /**
   * {@code threads} event loops, unless the system property {@code ncro.io.threads} (a positive
   * integer) says otherwise: a dedicated proxy for many clients on a fast network may want one
   * per core.
   */
  public static Transport create(int threads) {
    String override = System.getProperty("ncro.io.threads");
    if (override != null && !override.isBlank()) {
      try {
        int n = Integer.parseInt(override.strip());
        if (n > 0) {
          threads = n;
        }
      } catch (NumberFormatException ignored) {
        // keep the default: a bad value must not stop the server
      }
    }
    ThreadFactory tf = Thread.ofPlatform().name("ncro-io-", 0).daemon(true).factory();
    return of(threads, tf, Epoll.isAvailable());
  }

  /**
   * One event loop of this transport's kind (epoll or NIO) in a group of its own, its thread named
   * {@code threadName}: for work that may block an event loop (a {@code sendfile} from a stalled
   * NFS mount) and must not stop the loops every client shares.
   */
  public Transport isolated(String threadName) {
    return of(1, Thread.ofPlatform().name(threadName).daemon(true).factory(), "epoll".equals(name));
  }

  private static Transport of(int threads, ThreadFactory tf, boolean epoll) {
    if (epoll) {
      return new Transport(
          new MultiThreadIoEventLoopGroup(threads, tf, EpollIoHandler.newFactory()),
          EpollServerSocketChannel.class,
          EpollSocketChannel.class,
          "epoll");
    }
    return new Transport(
        new MultiThreadIoEventLoopGroup(threads, tf, NioIoHandler.newFactory()),
        NioServerSocketChannel.class,
        NioSocketChannel.class,
        "nio");
  }

  public void shutdown() {
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
  }
}
