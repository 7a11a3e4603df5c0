package dev.ncro.upstream;

import dev.ncro.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.proxy.ProxyHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Keep-alive connections to one upstream (scheme, host, port). Idle connections wait in a LIFO
 * deque (the most recently used is the least likely to have been closed by the server); a closed
 * idle connection removes itself. The number of idle connections is capped; the number in use is
 * not, since the server side already bounds concurrency.
 *
 * <p>Warm-up ({@link #keepWarm}): the pool can keep a few idle connections open ahead of demand,
 * so the first requests of a fresh ncro (or after an upstream came back) do not pay a TCP and TLS
 * handshake, one or more round trips each, on top of their own. Measured in bench/cold: without
 * it the first burst's races to a 10 ms cache took two round trips. A request that finds no idle
 * connection takes over one that warm-up is still opening rather than opening another, so warm-up
 * never raises the number of connections above what the requests alone would open, and it opens
 * one only while fewer than {@link Warmth#maxLive} are open.
 */
final class ConnectionPool {
  private static final int MAX_IDLE = 64;
  /** The pipeline name of the upstream's own TLS handler (an https:// proxy's is another). */
  private static final String TLS = "tls";
  /**
   * An idle connection the server closed sooner than this after it went idle means a short
   * keep-alive timeout (Starman's is 1 s): holding connections open there costs the server a
   * worker each and buys little, so after a whole round of such closes warm-up waits for the next
   * {@link #keepWarm} (the next successful probe) instead of reconnecting at once, again and again.
   */
  private static final long SHORT_IDLE_NANOS = TimeUnit.SECONDS.toNanos(10);

  private static final AttributeKey<Long> IDLE_SINCE = AttributeKey.valueOf("ncro.idleSince");

  /** How many idle connections to keep open, at most how many open in all, and when at all. */
  record Warmth(int minIdle, int maxLive, BooleanSupplier allowed) {
    static final Warmth NONE = new Warmth(0, 0, () -> false);
  }

  private final Bootstrap bootstrap;
  private final ProxyRoute route;
  private final ConcurrentLinkedDeque<Channel> idle = new ConcurrentLinkedDeque<>();
  /** Connections opened by this pool and not yet closed (idle, in use, or being opened). */
  private final AtomicInteger live = new AtomicInteger();
  /** Warm-up connections still opening (connect, TLS handshake), not yet taken by a request. */
  private final ConcurrentLinkedDeque<ChannelFuture> warming = new ConcurrentLinkedDeque<>();

  private volatile Warmth warmth = Warmth.NONE;
  /** Warm-up stopped until the next {@link #keepWarm}: a warm connection failed, or closes came too fast. */
  private volatile boolean paused;
  /** Idle connections the server closed soon after they went idle, since one was last used. */
  private int shortCloses;

  private volatile boolean closed;

  /**
   * {@code onHandshake} runs after each completed TLS handshake (a count proves reuse); {@code
   * route} says whether connections go through a forward proxy.
   */
  ConnectionPool(
      Transport transport,
      URI url,
      Supplier<SslContext> ssl,
      Duration connectTimeout,
      Runnable onHandshake,
      ProxyRoute route) {
    String host = url.getHost();
    boolean https = "https".equals(url.getScheme());
    int port = url.getPort() > 0 ? url.getPort() : (https ? 443 : 80);
    this.route = route;
    this.bootstrap = new Bootstrap()
        .group(transport.group())
        .channel(transport.socketChannel())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
        .option(ChannelOption.TCP_NODELAY, true)
        // Up to 256 KiB per read (Netty's default stops at 64 KiB): a NAR body arrives in a
        // quarter of the reads, chunks and wake-ups of the client's event loop.
        .option(
            ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(64, 2048, 256 << 10))
        .remoteAddress(route.remoteAddress(host, port))
        .resolver(route.resolver())
        .handler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            SslHandler toProxy = route.proxyTlsHandler(ch.alloc(), connectTimeout);
            if (toProxy != null) {
              ch.pipeline().addLast(ProxyRoute.PROXY_TLS, toProxy); // under everything else
            }
            ProxyHandler tunnel = route.tunnelHandler(connectTimeout);
            if (tunnel != null) {
              ch.pipeline().addLast("proxy", tunnel); // before TLS: TLS runs inside the tunnel
            }
            if (https) {
              SslHandler tls =
                  VerifiedTls.handler(ssl.get(), ch.alloc(), host, port, connectTimeout);
              ch.pipeline().addLast(TLS, tls);
              tls.handshakeFuture().addListener(h -> {
                if (h.isSuccess()) {
                  onHandshake.run();
                }
              });
            }
            ch.pipeline().addLast("codec", codec());
            ch.pipeline().addLast("exchange", new ClientConnectionHandler());
          }
        });
  }

  /** Large chunks: the decoder slices what the socket delivered instead of copying. */
  private static HttpClientCodec codec() {
    return new HttpClientCodec(8192, 32768, 1 << 20);
  }

  /**
   * A {@link SpliceGuard} in place of the connection's codec, whose decoder is mid-body: the rest
   * of the body is spliced past it ({@link BodySplice}).
   */
  static void guardSplice(Channel ch) {
    ch.pipeline().replace("codec", "codec", new SpliceGuard());
  }

  /** A fresh codec in place of the {@link SpliceGuard}: the next response on the connection starts clean. */
  static void renewCodec(Channel ch) {
    ch.pipeline().replace("codec", "codec", codec());
  }

  /** A live idle connection, or null when a new one must be opened. */
  Channel pollIdle() {
    Channel ch;
    while ((ch = idle.pollFirst()) != null) {
      if (ch.isActive()) {
        synchronized (this) {
          shortCloses = 0; // it was used: worth keeping
        }
        // No top-up here: the connection comes back when its response ends. One that does not
        // (closed after the response, a broken body) is replaced when it closes.
        return ch;
      }
    }
    return null;
  }

  /**
   * A warm-up connection still being opened, now the caller's (warm-up will not put it in the
   * pool), or null when none is: a request waits for it instead of opening one of its own.
   */
  ChannelFuture claimWarming() {
    return warming.pollFirst();
  }

  /** A new connection, complete once it can carry a request (through the proxy's tunnel, if any). */
  ChannelFuture connect() {
    ChannelFuture f = bootstrap.connect();
    Channel ch = f.channel();
    live.incrementAndGet();
    ch.closeFuture().addListener(x -> closed(ch));
    return route.mode() == ProxyRoute.Mode.DIRECT ? f : route.ready(f);
  }

  ProxyRoute route() {
    return route;
  }

  void release(Channel ch) {
    if (!ch.isActive() || idle.size() >= MAX_IDLE) {
      ch.close();
      return;
    }
    ch.attr(IDLE_SINCE).set(System.nanoTime());
    idle.addFirst(ch);
  }

  /**
   * From now on keeps at least {@code w.minIdle()} idle connections open (or being opened) while
   * {@code w.allowed()} holds and fewer than {@code w.maxLive()} are open, replacing those used or
   * closed by the server. Called again after each successful probe: that also ends a pause.
   */
  void keepWarm(Warmth w) {
    synchronized (this) {
      warmth = w;
      paused = false;
      shortCloses = 0;
    }
    topUp();
  }

  /** Ends warm-up and closes the idle connections (an upstream that is gone). */
  void stopWarm() {
    warmth = Warmth.NONE;
    Channel ch;
    while ((ch = idle.pollFirst()) != null) {
      ch.close();
    }
  }

  /** Idle connections ready for a request now. */
  int idleCount() {
    return idle.size();
  }

  /** Connections open (idle, in use, or being opened). */
  int liveCount() {
    return live.get();
  }

  private void closed(Channel ch) {
    live.decrementAndGet();
    boolean wasIdle = idle.remove(ch);
    Long since = ch.attr(IDLE_SINCE).get();
    if (wasIdle && since != null && !closed) {
      synchronized (this) {
        if (System.nanoTime() - since < SHORT_IDLE_NANOS && ++shortCloses > warmth.minIdle()) {
          paused = true;
        }
      }
    }
    topUp();
  }

  /** Opens warm connections until the minimum is met, or a limit says stop. */
  private synchronized void topUp() {
    Warmth w = warmth;
    while (!closed
        && !paused
        && w.minIdle() > 0
        && idle.size() + warming.size() < w.minIdle()
        && live.get() < w.maxLive()
        && w.allowed().getAsBoolean()) {
      ChannelFuture f = connect();
      warming.addLast(f);
      f.addListener(c -> {
        if (!c.isSuccess()) {
          warming.remove(f);
          paused = true; // unreachable now: the next successful probe resumes
          return;
        }
        SslHandler tls = (SslHandler) f.channel().pipeline().get(TLS);
        if (tls == null) {
          warmed(f);
        } else {
          tls.handshakeFuture().addListener(h -> {
            if (h.isSuccess()) {
              warmed(f);
            } else if (warming.remove(f)) {
              paused = true;
              f.channel().close();
            }
          });
        }
      });
    }
  }

  /** A warm connection is ready: into the pool, unless a request took it over meanwhile. */
  private void warmed(ChannelFuture f) {
    if (warming.remove(f)) {
      release(f.channel());
    }
  }

  void close() {
    closed = true;
    Channel ch;
    while ((ch = idle.pollFirst()) != null) {
      ch.close();
    }
    ChannelFuture f;
    while ((f = warming.pollFirst()) != null) {
      f.channel().close();
    }
  }
}
