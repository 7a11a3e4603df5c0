package dev.ncro.upstream;

import dev.ncro.transport.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.NetUtil;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * Keep-alive connections to one upstream (scheme, host, port). Idle connections wait in a LIFO
 * deque (the most recently used is the least likely to have been closed by the server); a closed
 * idle connection removes itself. The number of idle connections is capped; the number in use is
 * not, since the server side already bounds concurrency.
 */
final class ConnectionPool {
  private static final int MAX_IDLE = 64;
  private final Bootstrap bootstrap;
  private final ConcurrentLinkedDeque<Channel> idle = new ConcurrentLinkedDeque<>();

  /** {@code onHandshake} runs after each completed TLS handshake (a count proves reuse). */
  ConnectionPool(
      Transport transport, URI url, SslContext ssl, Duration connectTimeout, Runnable onHandshake) {
    String host = url.getHost();
    boolean https = "https".equals(url.getScheme());
    int port = url.getPort() > 0 ? url.getPort() : (https ? 443 : 80);
    this.bootstrap = new Bootstrap()
        .group(transport.group())
        .channel(transport.socketChannel())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
        .option(ChannelOption.TCP_NODELAY, true)
        // Up to 256 KiB per read (Netty's default stops at 64 KiB): a NAR body arrives in a
        // quarter of the reads, chunks and wake-ups of the client's event loop.
        .option(
            ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(64, 2048, 256 << 10))
        .remoteAddress(host, port)
        .handler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            if (https) {
              SslHandler tls = ssl.newHandler(ch.alloc(), host, port);
              tls.setHandshakeTimeoutMillis(connectTimeout.toMillis());
              SSLEngine engine = tls.engine();
              SSLParameters params = engine.getSSLParameters();
              params.setEndpointIdentificationAlgorithm("HTTPS");
              if (!NetUtil.isValidIpV4Address(host) && !NetUtil.isValidIpV6Address(host)) {
                // Explicitly: the JDK leaves SNI out for a name without a dot ("localhost", an
                // intranet "cache"), and a server with several certificates then picks the wrong
                // one.
                params.setServerNames(List.of(new SNIHostName(host)));
              }
              engine.setSSLParameters(params);
              ch.pipeline().addLast("tls", tls);
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
   * A fresh codec in place of the connection's one, whose decoder is mid-body: after a body was
   * spliced past it ({@link BodySplice}), the next response on the connection starts clean.
   */
  static void renewCodec(Channel ch) {
    ch.pipeline().replace("codec", "codec", codec());
  }

  /** A live idle connection, or null when a new one must be opened. */
  Channel pollIdle() {
    Channel ch;
    while ((ch = idle.pollFirst()) != null) {
      if (ch.isActive()) {
        return ch;
      }
    }
    return null;
  }

  ChannelFuture connect() {
    ChannelFuture f = bootstrap.connect();
    Channel ch = f.channel();
    ch.closeFuture().addListener(x -> idle.remove(ch));
    return f;
  }

  void release(Channel ch) {
    if (!ch.isActive() || idle.size() >= MAX_IDLE) {
      ch.close();
      return;
    }
    idle.addFirst(ch);
  }

  void close() {
    Channel ch;
    while ((ch = idle.pollFirst()) != null) {
      ch.close();
    }
  }
}
