package dev.ncro.upstream;

import dev.ncro.config.ProxyServer;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.proxy.ProxyHandler;
import io.netty.handler.proxy.Socks5ProxyHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.resolver.NoopAddressResolverGroup;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.function.Supplier;

/**
 * How one pool's connections reach their target: directly, through a tunnel the proxy opens
 * ({@code CONNECT} for an {@code https://} target, or SOCKS5 for any), or, for a plain {@code
 * http://} target behind an HTTP proxy, by sending the proxy each request with the absolute URL
 * (Squid's default rules refuse a {@code CONNECT} to port 80, and curl does the same).
 *
 * <p>A tunnel's connect future completes once the proxy has opened the tunnel, so a proxy that
 * refuses (407, 403, an unknown host) fails the connection as a {@link FailureKind#CONNECT}, and
 * TLS to the upstream starts only inside the tunnel: certificate checks and SNI are the upstream's,
 * never the proxy's.
 *
 * <p>An {@code https://} proxy adds TLS to the proxy itself, first in the pipeline, under
 * everything else: verified against system trust with the proxy's own name (SNI and host name
 * check), and complete before a connection counts as open. A proxy certificate that does not verify
 * fails the connection as {@link FailureKind#TLS}, naming the proxy; nothing is ever sent to it in
 * the clear.
 */
final class ProxyRoute {
  enum Mode {
    DIRECT,
    TUNNEL,
    FORWARD
  }

  static final ProxyRoute DIRECT = new ProxyRoute(null, Mode.DIRECT, null);

  /** The pipeline name of the TLS handler to an {@code https://} proxy. */
  static final String PROXY_TLS = "proxy-tls";

  private final ProxyServer proxy;
  private final Mode mode;
  /** The client context for TLS to an {@code https://} proxy; null for other proxies. */
  private final Supplier<SslContext> proxyTls;

  private ProxyRoute(ProxyServer proxy, Mode mode, Supplier<SslContext> proxyTls) {
    this.proxy = proxy;
    this.mode = mode;
    this.proxyTls = proxyTls;
  }

  /**
   * The route to a {@code scheme://host:port} target through {@code proxy} (null: directly);
   * {@code systemTrust} is asked for only when the proxy is an {@code https://} one.
   */
  static ProxyRoute of(
      ProxyServer proxy, boolean https, Supplier<Supplier<SslContext>> systemTrust) {
    if (proxy == null) {
      return DIRECT;
    }
    boolean forward = proxy.kind().http() && !https;
    return new ProxyRoute(
        proxy,
        forward ? Mode.FORWARD : Mode.TUNNEL,
        proxy.kind() == ProxyServer.Kind.HTTPS ? systemTrust.get() : null);
  }

  Mode mode() {
    return mode;
  }

  /** The proxy for logs and {@code /status}, without credentials; null when direct. */
  String display() {
    return proxy == null ? null : proxy.display();
  }

  /**
   * What the bootstrap connects to: the target itself (direct; a tunnel, whose handler swaps in the
   * proxy's address), or the proxy (forwarding).
   */
  SocketAddress remoteAddress(String host, int port) {
    return switch (mode) {
      case DIRECT -> InetSocketAddress.createUnresolved(host, port);
      // Left unresolved for the proxy to resolve, except SOCKS5 without "h", resolved here as
      // curl does (the resolver below).
      case TUNNEL -> InetSocketAddress.createUnresolved(host, port);
      case FORWARD -> InetSocketAddress.createUnresolved(proxy.host(), proxy.port());
    };
  }

  /** Who resolves the bootstrap's address: the JDK here, except where the proxy must see the name. */
  AddressResolverGroup<? extends SocketAddress> resolver() {
    boolean proxyResolves = mode == Mode.TUNNEL && proxy.kind() != ProxyServer.Kind.SOCKS5;
    return proxyResolves ? NoopAddressResolverGroup.INSTANCE : DefaultAddressResolverGroup.INSTANCE;
  }

  /** The tunnel's handler, first in the pipeline (before TLS); null unless {@link Mode#TUNNEL}. */
  ProxyHandler tunnelHandler(Duration connectTimeout) {
    if (mode != Mode.TUNNEL) {
      return null;
    }
    // Resolved here, on the event loop, as the bootstrap resolves a direct target's name.
    InetSocketAddress at = new InetSocketAddress(proxy.host(), proxy.port());
    ProxyHandler h = switch (proxy.kind()) {
      case HTTP, HTTPS ->
        proxy.hasCredentials()
            ? new HttpProxyHandler(at, proxy.username(), proxy.password())
            : new HttpProxyHandler(at);
      case SOCKS5, SOCKS5H -> new Socks5ProxyHandler(at, proxy.username(), proxy.password());
    };
    h.setConnectTimeoutMillis(connectTimeout.toMillis());
    return h;
  }

  /**
   * TLS to the proxy, first in the pipeline (under the tunnel and the upstream's own TLS); null
   * unless the proxy is an {@code https://} one.
   */
  SslHandler proxyTlsHandler(ByteBufAllocator alloc, Duration handshakeTimeout) {
    if (proxyTls == null) {
      return null;
    }
    return VerifiedTls.handler(proxyTls.get(), alloc, proxy.host(), proxy.port(), handshakeTimeout);
  }

  /**
   * {@code connected} (the TCP connection), completed only once the connection can carry a
   * request: TLS to an {@code https://} proxy done, and the tunnel open when there is one. A
   * refusing proxy then fails it, as an unreachable upstream would.
   */
  ChannelFuture ready(ChannelFuture connected) {
    Channel ch = connected.channel();
    ChannelPromise done = ch.newPromise();
    connected.addListener(c -> {
      if (!c.isSuccess()) {
        done.setFailure(c.cause());
        return;
      }
      SslHandler tls = (SslHandler) ch.pipeline().get(PROXY_TLS);
      ProxyHandler tunnel = ch.pipeline().get(ProxyHandler.class);
      if (tls == null) {
        whenTunnelled(tunnel, ch, done);
        return;
      }
      tls.handshakeFuture().addListener(h -> {
        if (h.isSuccess()) {
          whenTunnelled(tunnel, ch, done);
        } else {
          done.tryFailure(proxyTlsFailure(h.cause()));
          ch.close();
        }
      });
    });
    return done;
  }

  private static void whenTunnelled(ProxyHandler tunnel, Channel ch, ChannelPromise done) {
    if (tunnel == null) {
      done.trySuccess();
      return;
    }
    tunnel.connectFuture().addListener(t -> {
      if (t.isSuccess()) {
        done.trySuccess();
      } else {
        done.tryFailure(t.cause());
        ch.close();
      }
    });
  }

  /** A failed handshake with the proxy, classified and worded as the proxy's, not the upstream's. */
  private UpstreamException proxyTlsFailure(Throwable cause) {
    String certificate = UpstreamException.certificateProblem(cause);
    return certificate != null
        ? new UpstreamException(
            FailureKind.TLS, "proxy " + proxy.display() + ": " + certificate, cause)
        : new UpstreamException(
            FailureKind.CONNECT,
            "TLS to proxy " + proxy.display() + " failed: " + cause.getMessage(),
            cause);
  }

  /** For a forwarded request: the proxy's credentials, when it has some. */
  void authorizeForward(HttpHeaders h) {
    if (mode == Mode.FORWARD && proxy.hasCredentials()) {
      String token = proxy.username() + ":" + proxy.password();
      h.set(
          HttpHeaderNames.PROXY_AUTHORIZATION,
          "Basic " + Base64.getEncoder().encodeToString(token.getBytes(StandardCharsets.UTF_8)));
    }
  }
}
