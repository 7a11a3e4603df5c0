package dev.ncro.server;

import dev.ncro.config.ListenAddress;
import dev.ncro.config.ServerConfig;
import dev.ncro.metrics.Metrics;
import dev.ncro.router.CacheFileRouter;
import dev.ncro.router.NarRouter;
import dev.ncro.router.NarinfoRouter;
import dev.ncro.transport.Transport;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client-facing HTTP/1.1 server. Each connection gets a codec with tight limits on request
 * line and header size (Nix sends short requests; anything bigger is refused by the decoder), a
 * {@link WriteStallHandler} that cuts a client which stopped reading, and a {@link RequestHandler}.
 */
public final class HttpServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
  /** Per-connection output buffer bounds: a slow client holds at most about this much. */
  static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);

  private final Transport transport;
  private final ServerConfig config;
  private final Endpoints endpoints;
  private final ClientGate gate;
  private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final AtomicInteger inFlight = new AtomicInteger();
  private final List<Channel> listeners = new ArrayList<>();

  public HttpServer(
      Transport transport,
      ServerConfig config,
      NarinfoRouter narinfo,
      NarRouter nars,
      CacheFileRouter files,
      UpstreamClient client,
      UpstreamRegistry registry,
      Metrics metrics,
      StatusReport status,
      Executor blocking,
      NarHedging hedging) {
    this.transport = transport;
    this.config = config;
    this.endpoints = new Endpoints(
        narinfo,
        nars,
        files,
        client,
        registry,
        metrics,
        status,
        blocking,
        config.cachePriority(),
        config.maxHops(),
        config.wantMassQuery(),
        hedging,
        config.narSplice());
    this.gate = new ClientGate(config.access(), metrics);
  }

  /** Binds the listen address; returns the bound address (port 0 resolves to the real port). */
  public InetSocketAddress start() throws InterruptedException {
    return start(List.of());
  }

  /**
   * Serves the listening sockets systemd handed over ({@code inheritedFds}, socket activation), or
   * when there are none binds {@code server.listen}. Returns the (first) local address.
   */
  public InetSocketAddress start(List<Integer> inheritedFds) throws InterruptedException {
    ListenAddress addr = config.listen();
    long readTimeout = config.readTimeout().toMillis();
    long writeTimeout = config.writeTimeout().toMillis();
    ServerBootstrap b = new ServerBootstrap()
        .group(transport.group())
        .option(ChannelOption.SO_BACKLOG, 1024)
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            connections.add(ch);
            ch.pipeline()
                .addLast("codec", new HttpServerCodec(RequestPath.MAX_URI + 64, 16 * 1024, 8192))
                .addLast("write-stall", new WriteStallHandler(writeTimeout))
                .addLast("handler", new RequestHandler(endpoints, gate, readTimeout, inFlight));
          }
        });
    if (!inheritedFds.isEmpty()) {
      if (!"epoll".equals(transport.name())) {
        throw new IllegalStateException(
            "systemd handed over a socket (LISTEN_FDS), but only the epoll transport can"
                + " serve an inherited descriptor and it is unavailable here");
      }
      // The socket is bound and listening already: register it, do not bind.
      for (int fd : inheritedFds) {
        ServerBootstrap inherited = b.clone()
            .channelFactory((ChannelFactory<ServerChannel>) () -> new EpollServerSocketChannel(fd));
        listeners.add(inherited.register().sync().channel());
      }
      return (InetSocketAddress) listeners.get(0).localAddress();
    }
    if (addr == null) {
      throw new IllegalStateException(
          "server.listen is empty, which means socket activation, but systemd handed"
              + " over no socket (LISTEN_FDS/LISTEN_PID unset): nothing to serve on");
    }
    b.channel(transport.serverChannel());
    if (!addr.bothLoopbacks()) {
      InetSocketAddress bindTo = addr.host() == null
          ? new InetSocketAddress(addr.port())
          : new InetSocketAddress(addr.host(), addr.port());
      listeners.add(b.bind(bindTo).sync().channel());
      return (InetSocketAddress) listeners.get(0).localAddress();
    }
    return bindLoopbacks(b, addr.port());
  }

  /**
   * {@code localhost:port}: 127.0.0.1 first, then ::1 on the same port (the one the first bind got
   * when {@code port} is 0). A host without one of them (IPv6 disabled, say) is served on the
   * other, with a warning; an address in use is an error, since another program would then answer
   * the clients that reach localhost through that family.
   */
  private InetSocketAddress bindLoopbacks(ServerBootstrap b, int port) throws InterruptedException {
    InetAddress[] loopbacks = {NetUtil.LOCALHOST4, NetUtil.LOCALHOST6};
    IllegalStateException unavailable = null;
    for (InetAddress a : loopbacks) {
      int p = listeners.isEmpty()
          ? port
          : ((InetSocketAddress) listeners.get(0).localAddress()).getPort();
      ChannelFuture f = b.bind(new InetSocketAddress(a, p)).await();
      if (f.isSuccess()) {
        listeners.add(f.channel());
        continue;
      }
      Throwable cause = f.cause();
      if (String.valueOf(cause.getMessage()).contains("Address already in use")) {
        listeners.forEach(Channel::close);
        listeners.clear();
        throw new IllegalStateException(
            "server.listen: " + NetUtil.toAddressString(a) + " port " + p
                + ": address already in use",
            cause);
      }
      log.atWarn()
          .setMessage("loopback address not available on this host, not listening on it")
          .addKeyValue("address", NetUtil.toAddressString(a))
          .addKeyValue("error", cause.getMessage())
          .log();
      if (unavailable == null) {
        unavailable = new IllegalStateException(
            "server.listen: cannot listen on " + NetUtil.toAddressString(a) + ": "
                + cause.getMessage(),
            cause);
      }
    }
    if (listeners.isEmpty()) {
      throw unavailable;
    }
    return (InetSocketAddress) listeners.get(0).localAddress();
  }

  /** Every address listened on (two for {@code localhost}). */
  public List<InetSocketAddress> addresses() {
    return listeners.stream().map(c -> (InetSocketAddress) c.localAddress()).toList();
  }

  /**
   * Stops accepting, lets in-flight exchanges finish for up to {@code grace}, then closes every
   * connection (a NAR stream still running then is cut, which Nix sees as a failed transfer).
   */
  public void shutdown(Duration grace) {
    for (Channel l : listeners) {
      l.close().syncUninterruptibly();
    }
    long deadline = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadline && inFlight.get() > 0) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    shutdown(Duration.ofSeconds(5));
  }
}
