package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.ProxyServer;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.proxy.HttpProxyHandler;
import io.netty.handler.proxy.Socks5ProxyHandler;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.resolver.NoopAddressResolverGroup;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Which way a pool's connections go for each kind of proxy and target, and who resolves names. */
class ProxyRouteTest {
  private static final ProxyServer HTTP =
      new ProxyServer(ProxyServer.Kind.HTTP, "127.0.0.1", 3128, "u", "pw");
  private static final ProxyServer SOCKS5 =
      new ProxyServer(ProxyServer.Kind.SOCKS5, "127.0.0.1", 1080, null, null);
  private static final ProxyServer SOCKS5H =
      new ProxyServer(ProxyServer.Kind.SOCKS5H, "127.0.0.1", 1080, null, null);

  @Test
  void withoutAProxyTheTargetIsResolvedHereAndConnectedDirectly() {
    ProxyRoute r = ProxyRoute.of(null, true);
    assertThat(r.mode()).isEqualTo(ProxyRoute.Mode.DIRECT);
    assertThat(r.resolver()).isSameAs(DefaultAddressResolverGroup.INSTANCE);
    assertThat(r.tunnelHandler(Duration.ofSeconds(1))).isNull();
    assertThat(((InetSocketAddress) r.remoteAddress("cache.example", 443)).getHostString())
        .isEqualTo("cache.example");
  }

  @Test
  void anHttpsTargetGoesThroughAConnectTunnelAndTheProxyResolvesItsName() {
    ProxyRoute r = ProxyRoute.of(HTTP, true);
    assertThat(r.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(r.resolver()).isSameAs(NoopAddressResolverGroup.INSTANCE);
    assertThat(r.tunnelHandler(Duration.ofSeconds(1))).isInstanceOf(HttpProxyHandler.class);
    InetSocketAddress target = (InetSocketAddress) r.remoteAddress("cache.example", 443);
    assertThat(target.isUnresolved()).isTrue();
    assertThat(target.getHostString()).isEqualTo("cache.example");
  }

  @Test
  void aPlainHttpTargetIsForwardedToTheProxyWithItsCredentials() {
    ProxyRoute r = ProxyRoute.of(HTTP, false);
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
    ProxyRoute local = ProxyRoute.of(SOCKS5, false);
    assertThat(local.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(local.resolver()).isSameAs(DefaultAddressResolverGroup.INSTANCE);
    assertThat(local.tunnelHandler(Duration.ofSeconds(1))).isInstanceOf(Socks5ProxyHandler.class);
    ProxyRoute remote = ProxyRoute.of(SOCKS5H, true);
    assertThat(remote.mode()).isEqualTo(ProxyRoute.Mode.TUNNEL);
    assertThat(remote.resolver()).isSameAs(NoopAddressResolverGroup.INSTANCE);
  }

  @Test
  void aProxyWithoutCredentialsSendsNoProxyAuthorization() {
    ProxyRoute r = ProxyRoute.of(new ProxyServer(ProxyServer.Kind.HTTP, "p", 1, null, null), false);
    HttpHeaders h = new DefaultHttpHeaders();
    r.authorizeForward(h);
    assertThat(h.contains(HttpHeaderNames.PROXY_AUTHORIZATION)).isFalse();
  }
}
