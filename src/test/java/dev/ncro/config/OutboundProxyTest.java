package dev.ncro.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The proxy variables read as curl reads them for Nix: which variable wins, and {@code no_proxy}. */
class OutboundProxyTest {
  private static final URI HTTPS = URI.create("https://cache.nixos.org");
  private static final URI HTTP = URI.create("http://cache.lan:5000/nix");

  private static String via(Map<String, String> env, URI url) {
    ProxyServer p = OutboundProxy.fromEnvironment(env).forUrl(url);
    return p == null ? "direct" : p.display();
  }

  @Test
  void eachSchemeHasItsVariableAndAllProxyIsTheFallback() {
    Map<String, String> env = Map.of(
        "https_proxy", "http://tls-proxy:3128",
        "http_proxy", "http://plain-proxy:8080",
        "all_proxy", "socks5h://everything:1080");
    assertThat(via(env, HTTPS)).isEqualTo("http://tls-proxy:3128");
    assertThat(via(env, HTTP)).isEqualTo("http://plain-proxy:8080");
    assertThat(via(Map.of("ALL_PROXY", "socks5://s:9050"), HTTPS)).isEqualTo("socks5://s:9050");
    assertThat(via(Map.of("ALL_PROXY", "socks5://s:9050"), HTTP)).isEqualTo("socks5://s:9050");
  }

  @Test
  void lowerCaseWinsAndUpperCaseHttpProxyIsIgnoredAsCurlDoes() {
    assertThat(via(Map.of("HTTPS_PROXY", "http://upper:1", "https_proxy", "http://lower:2"), HTTPS))
        .isEqualTo("http://lower:2");
    assertThat(via(Map.of("HTTPS_PROXY", "http://upper:1"), HTTPS)).isEqualTo("http://upper:1");
    // A CGI environment sets HTTP_PROXY from a request header ("httpoxy"): never trusted.
    assertThat(via(Map.of("HTTP_PROXY", "http://attacker:1"), HTTP)).isEqualTo("direct");
  }

  @Test
  void emptyVariablesCountAsUnset() {
    assertThat(via(Map.of("https_proxy", "", "HTTPS_PROXY", "http://upper:1"), HTTPS))
        .isEqualTo("http://upper:1");
    assertThat(OutboundProxy.fromEnvironment(Map.of("https_proxy", "  ")).isEmpty())
        .isTrue();
    assertThat(via(Map.of(), HTTPS)).isEqualTo("direct");
  }

  @Test
  void aProxyWithoutSchemeIsHttpAndWithoutPortUsesCurlsDefault() {
    ProxyServer p = ProxyServer.parse("proxy.corp");
    assertThat(p.kind()).isEqualTo(ProxyServer.Kind.HTTP);
    assertThat(p.port()).isEqualTo(1080);
    assertThat(ProxyServer.parse("http://[fd00::1]:3128").display())
        .isEqualTo("http://[fd00::1]:3128");
  }

  @Test
  void credentialsArePercentDecodedAndNeverShown() {
    ProxyServer p = ProxyServer.parse("http://dom%5Cuser:p%40ss+w0rd@proxy:3128");
    assertThat(p.username()).isEqualTo("dom\\user");
    assertThat(p.password()).isEqualTo("p@ss+w0rd");
    assertThat(p.toString()).isEqualTo("http://proxy:3128 (with credentials)");
    assertThat(p.display()).doesNotContain("p@ss");
    assertThat(ProxyServer.parse("http://token@proxy:3128").password()).isEmpty();
  }

  @Test
  void unsupportedOrMalformedProxiesNameTheVariableAndNotThePassword() {
    assertThatThrownBy(() ->
            OutboundProxy.fromEnvironment(Map.of("https_proxy", "socks4://u:hunter2@proxy:1")))
        .isInstanceOfSatisfying(OutboundProxy.Malformed.class, e -> {
          assertThat(e.variable()).isEqualTo("https_proxy");
          assertThat(e.getMessage()).contains("not supported").doesNotContain("hunter2");
        });
    assertThatThrownBy(() -> OutboundProxy.fromEnvironment(Map.of("all_proxy", "socks4://p:1")))
        .isInstanceOfSatisfying(OutboundProxy.Malformed.class, e -> {
          assertThat(e.variable()).isEqualTo("all_proxy");
          assertThat(e.getMessage()).contains("socks4");
        });
    assertThatThrownBy(() ->
            OutboundProxy.fromEnvironment(Map.of("http_proxy", "http://u:hunter2@bad host:1")))
        .isInstanceOfSatisfying(
            OutboundProxy.Malformed.class,
            e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
    // "://" past the start is no scheme at all (found by ConfigLoaderFuzzTest in CI).
    assertThatThrownBy(() -> OutboundProxy.fromEnvironment(Map.of("http_proxy", "/x://y")))
        .isInstanceOfSatisfying(OutboundProxy.Malformed.class, e -> {
          assertThat(e.variable()).isEqualTo("http_proxy");
          assertThat(e.getMessage()).contains("not a proxy URL");
        });
  }

  @Test
  void anHttpsProxyIsReachedOverTlsOnPort443UnlessTold() {
    OutboundProxy p = OutboundProxy.fromEnvironment(Map.of(
        "https_proxy", "https://u:hunter2@tls-proxy", "http_proxy", "https://tls-proxy:8443"));
    assertThat(p.forUrl(HTTPS).kind()).isEqualTo(ProxyServer.Kind.HTTPS);
    assertThat(p.forUrl(HTTPS).port()).isEqualTo(443);
    assertThat(p.forUrl(URI.create("http://cache.local")).port()).isEqualTo(8443);
    assertThat(p.usesTls()).isTrue();
    assertThat(p.describe()).contains("https://tls-proxy:443").doesNotContain("hunter2");
    assertThat(OutboundProxy.fromEnvironment(Map.of("all_proxy", "http://p:1")).usesTls())
        .isFalse();
  }

  @Test
  void noProxyMatchesNamesAndTheirSubdomainsButNotLookalikes() {
    NoProxy n = NoProxy.parse(".corp.example, cache.lan  Internal.");
    assertThat(n.matches("corp.example")).isTrue();
    assertThat(n.matches("nix.corp.example")).isTrue();
    assertThat(n.matches("NIX.CORP.EXAMPLE.")).isTrue();
    assertThat(n.matches("cache.lan")).isTrue();
    assertThat(n.matches("a.cache.lan")).isTrue();
    assertThat(n.matches("internal")).isTrue();
    assertThat(n.matches("notcorp.example")).isFalse();
    assertThat(n.matches("cache.lan.evil")).isFalse();
    assertThat(n.matches("cache.nixos.org")).isFalse();
    assertThat(NoProxy.parse("*.corp.example").matches("nix.corp.example")).isTrue();
  }

  @Test
  void noProxyMatchesAddressesByNetworkAndNeverResolvesNames() {
    NoProxy n = NoProxy.parse("10.0.0.0/8,192.168.1.7,::1,fd00::/8,10.1.2.3/33");
    assertThat(n.matches("10.200.0.1")).isTrue();
    assertThat(n.matches("192.168.1.7")).isTrue();
    assertThat(n.matches("192.168.1.8")).isFalse();
    assertThat(n.matches("[::1]")).isTrue();
    assertThat(n.matches("fd12::5")).isTrue();
    assertThat(n.matches("11.0.0.1")).isFalse();
    assertThat(n.matches("localhost")).as("a name is not resolved to match ::1").isFalse();
    // Host bits are masked, as curl does, rather than refused.
    assertThat(NoProxy.parse("192.168.1.7/24").matches("192.168.1.200")).isTrue();
  }

  @Test
  void aLoneStarMeansEveryHost() {
    assertThat(via(Map.of("https_proxy", "http://p:1", "NO_PROXY", "*"), HTTPS))
        .isEqualTo("direct");
    assertThat(via(Map.of("https_proxy", "http://p:1", "no_proxy", "nixos.org"), HTTPS))
        .isEqualTo("direct");
    assertThat(via(Map.of("https_proxy", "http://p:1", "no_proxy", "example.org"), HTTPS))
        .isEqualTo("http://p:1");
  }

  @Test
  void aMalformedProxyIsAConfigErrorNamingTheVariable() {
    assertThatThrownBy(() ->
            ConfigLoader.load("", "test.yaml", Map.of("HTTPS_PROXY", "ftp://u:hunter2@proxy:21")))
        .isInstanceOfSatisfying(ConfigException.class, e -> {
          assertThat(e.problems())
              .singleElement()
              .satisfies(p -> assertThat(p)
                  .startsWith("environment HTTPS_PROXY: ")
                  .contains("\"ftp\"")
                  .doesNotContain("hunter2"));
        });
  }

  @Test
  void theConfigCarriesTheProxyFromTheEnvironment() throws Exception {
    Config c = ConfigLoader.load(
        "", "test.yaml", Map.of("https_proxy", "http://u:pw@proxy:3128", "no_proxy", "lan"));
    assertThat(c.proxy().forUrl(HTTPS).display()).isEqualTo("http://proxy:3128");
    assertThat(c.proxy().describe())
        .isEqualTo("https via http://proxy:3128 (with credentials), no_proxy lan");
  }
}
