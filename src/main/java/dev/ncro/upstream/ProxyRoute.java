package dev.ncro.upstream;

import dev.ncro.config.ProxyServer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.proxy.ProxyHandler;
import io.netty.handler.proxy.Socks5ProxyHandler;
import io.netty.resolver.AddressResolverGroup;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.resolver.NoopAddressResolverGroup;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;

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
 */
final class ProxyRoute {
  enum Mode {
    DIRECT,
    TUNNEL,
    FORWARD
  }

  static final ProxyRoute DIRECT = new ProxyRoute(null, Mode.DIRECT);

  private final ProxyServer proxy;
  private final Mode mode;

  private ProxyRoute(ProxyServer proxy, Mode mode) {
    this.proxy = proxy;
    this.mode = mode;
  }

  /** The route to a {@code scheme://host:port} target through {@code proxy} (null: directly). */
  static ProxyRoute of(ProxyServer proxy, boolean https) {
    if (proxy == null) {
      return DIRECT;
    }
    boolean forward = proxy.kind() == ProxyServer.Kind.HTTP && !https;
    return new ProxyRoute(proxy, forward ? Mode.FORWARD : Mode.TUNNEL);
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
      case HTTP ->
        proxy.hasCredentials()
            ? new HttpProxyHandler(at, proxy.username(), proxy.password())
            : new HttpProxyHandler(at);
      case SOCKS5, SOCKS5H -> new Socks5ProxyHandler(at, proxy.username(), proxy.password());
    };
    h.setConnectTimeoutMillis(connectTimeout.toMillis());
    return h;
  }

  /**
   * {@code connected} (the TCP connection), completed only once the tunnel is open when there is
   * one: a refusing proxy then fails it, as an unreachable upstream would.
   */
  static ChannelFuture tunnelled(ChannelFuture connected) {
    Channel ch = connected.channel();
    ChannelPromise done = ch.newPromise();
    connected.addListener(c -> {
      if (!c.isSuccess()) {
        done.setFailure(c.cause());
        return;
      }
      ProxyHandler tunnel = ch.pipeline().get(ProxyHandler.class);
      if (tunnel == null) {
        done.setSuccess();
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
    });
    return done;
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
