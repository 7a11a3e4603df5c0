package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.ProxyServer;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.proxy.Socks5ProxyHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.resolver.NoopAddressResolverGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.Test;

/** Which way a pool's connections go for each kind of proxy and target, and who resolves names. */
class ProxyRouteTest {
  private static final ProxyServer HTTP =
      new ProxyServer(ProxyServer.Kind.HTTP, "127.0.0.1", 3128, "u", "pw");
  private static final ProxyServer HTTPS =
      new ProxyServer(ProxyServer.Kind.HTTPS, "proxy.corp", 443, null, null);
  /** Only an https:// proxy may ask for trust. */
  private static final Supplier<Supplier<SslContext>> NO_TLS = () -> {
    throw new AssertionError("trust asked for a proxy without TLS");
  };

  private static final ProxyServer SOCKS5 =
      new ProxyServer(ProxyServer.Kind.SOCKS5, "127.0.0.1", 1080, null, null);
  private static final ProxyServer SOCKS5H =
      new ProxyServer(ProxyServer.Kind.SOCKS5H, "127.0.0.1", 1080, null, null);

  @Test
  void withoutAProxyTheTargetIsResolvedHereAndConnectedDirectly() {
    ProxyRoute r = ProxyRoute.of(null, true, NO_TLS);
    assertThat(r.mode()).isEqualTo(ProxyRoute.Mode.DIRECT);
    assertThat(r.resolver()).isSameAs(DefaultAddressResolverGroup.INSTANCE);
    assertThat(r.tunnelHandler(Duration.ofSeconds(1))).isNull();
    assertThat(((InetSocketAddress) r.remoteAddress("cache.example", 443)).getHostString())
        .isEqualTo("cache.example");
  }

  @Test
  void anHttpsTargetGoesThroughAConnectTunnelAndTheProxyResolvesItsName() {
    ProxyRoute r = ProxyRoute.of(HTTP, true, NO_TLS);
    assertThat(r.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(r.resolver()).isSameAs(NoopAddressResolverGroup.INSTANCE);
    assertThat(r.tunnelHandler(Duration.ofSeconds(1))).isInstanceOf(HttpProxyHandler.class);
    InetSocketAddress target = (InetSocketAddress) r.remoteAddress("cache.example", 443);
    assertThat(target.isUnresolved()).isTrue();
    assertThat(target.getHostString()).isEqualTo("cache.example");
  }

  @Test
  void aPlainHttpTargetIsForwardedToTheProxyWithItsCredentials() {
    ProxyRoute r = ProxyRoute.of(HTTP, false, NO_TLS);
    assertThat(r.mode()).isEqualTo(ProxyRoute.Mode.FORWARD);
    assertThat(r.tunnelHandler(Duration.ofSeconds(1))).isNull();
    InetSocketAddress to = (InetSocketAddress) r.remoteAddress("cache.example", 80);
    assertThat(to.getHostString()).isEqualTo("127.0.0.1");
    assertThat(to.getPort()).isEqualTo(3128);
    HttpHeaders h = new DefaultHttpHeaders();
    r.authorizeForward(h);
    assertThat(h.get(HttpHeaderNames.PROXY_AUTHORIZATION)).isEqualTo("Basic dTpwdw==");
  }

  @Test
  void socks5ResolvesHereAndSocks5hLeavesTheNameToTheProxy() {
    ProxyRoute local = ProxyRoute.of(SOCKS5, false, NO_TLS);
    assertThat(local.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(local.resolver()).isSameAs(DefaultAddressResolverGroup.INSTANCE);
    assertThat(local.tunnelHandler(Duration.ofSeconds(1))).isInstanceOf(Socks5ProxyHandler.class);
    ProxyRoute remote = ProxyRoute.of(SOCKS5H, true, NO_TLS);
    assertThat(remote.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(remote.resolver()).isSameAs(NoopAddressResolverGroup.INSTANCE);
  }

  @Test
  void anHttpsProxyTunnelsAndForwardsLikeAnHttpOneOverTlsCheckedForItsOwnName() throws Exception {
    SslContext context =
        SslContextBuilder.forClient().sslProvider(SslProvider.JDK).build();
    ProxyRoute tunnel = ProxyRoute.of(HTTPS, true, () -> () -> context);
    assertThat(tunnel.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(tunnel.tunnelHandler(Duration.ofSeconds(1))).isInstanceOf(HttpProxyHandler.class);
    ProxyRoute forward = ProxyRoute.of(HTTPS, false, () -> () -> context);
    assertThat(forward.mode()).isEqualTo(ProxyRoute.Mode.FORWARD);
    InetSocketAddress to = (InetSocketAddress) forward.remoteAddress("cache.example", 80);
    assertThat(to.getHostString()).isEqualTo("proxy.corp");
    assertThat(to.getPort()).isEqualTo(443);
    for (ProxyRoute r : List.of(tunnel, forward)) {
      SslHandler tls = r.proxyTlsHandler(ByteBufAllocator.DEFAULT, Duration.ofSeconds(1));
      SSLParameters p = tls.engine().getSSLParameters();
      assertThat(tls.engine().getPeerHost()).isEqualTo("proxy.corp");
      assertThat(p.getEndpointIdentificationAlgorithm()).isEqualTo("HTTPS");
      assertThat(p.getServerNames()).containsExactly(new SNIHostName("proxy.corp"));
    }
    assertThat(ProxyRoute.of(HTTP, true, NO_TLS)
            .proxyTlsHandler(ByteBufAllocator.DEFAULT, Duration.ofSeconds(1)))
        .isNull();
  }

  @Test
  void aProxyWithoutCredentialsSendsNoProxyAuthorization() {
    ProxyRoute r =
        ProxyRoute.of(new ProxyServer(ProxyServer.Kind.HTTP, "p", 1, null, null), false, NO_TLS);
    HttpHeaders h = new DefaultHttpHeaders();
    r.authorizeForward(h);
    assertThat(h.contains(HttpHeaderNames.PROXY_AUTHORIZATION)).isFalse();
  }
}
