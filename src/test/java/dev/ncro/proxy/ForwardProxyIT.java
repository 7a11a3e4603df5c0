package dev.ncro.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.Ncro;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.ForwardProxy;
import dev.ncro.support.LogCapture;
import dev.ncro.support.Nginx;
import dev.ncro.support.SignedCache;
import dev.ncro.support.TestCa;
import dev.ncro.support.TestKey;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upstreams behind a forward proxy, as on a network whose only way out is {@code https_proxy}:
 * real tinyproxy (CONNECT tunnels, absolute-URL forwarding, Basic proxy credentials), real Dante
 * (SOCKS5) and real microsocks (SOCKS5 with a username and password). Each cache (real nginx) admits only {@link ForwardProxy#OUTGOING}, the address the
 * proxy connects from, so a cache that answers proves the request went through the proxy; the one
 * reached directly ({@code no_proxy}) admits only 127.0.0.1. After every test the log, {@code
 * /status} and {@code /metrics} are scanned for the proxy's password.
 */
class ForwardProxyIT {
  private static final String PROXY_USER = "corp";
  private static final String PROXY_PASSWORD = "proxy-Secret-91c2e7";
  private static final TestKey KEY = new TestKey("proxied-1");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int PATHS = 4;

  @TempDir
  static Path shared;

  private static TestCa.ServerCert cert;
  private static TestCa ca;
  private static SignedCache cache;
  private static List<String> hashes;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private LogCapture logs;
  private Ncro ncro;
  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void cacheAndCa() throws Exception {
    ca = TestCa.create(shared.resolve("ca"), "ncro proxy test CA");
    cert = ca.issue(List.of("localhost"), List.of("127.0.0.1"));
    cache = SignedCache.create(shared.resolve("cache"), KEY, PATHS, 9100, 300_000, 31);
    hashes = cache.hashes();
  }

  /**
   * Scans, then stops ncro. Runs before {@code open} closes the caches and proxies (JUnit runs a
   * class's {@code @AfterEach} methods before its extensions), so ncro stops before they go.
   */
  @AfterEach
  void scanForTheProxyPasswordThenStop() throws Exception {
    try {
      if (ncro != null) {
        String everything = String.join("\n", logs.lines())
            + new String(get("/status").body(), StandardCharsets.UTF_8)
            + new String(get("/metrics").body(), StandardCharsets.UTF_8);
        assertThat(everything).doesNotContain(PROXY_PASSWORD);
      }
    } finally {
      if (ncro != null) {
        ncro.stop();
      }
      if (logs != null) {
        logs.close();
      }
    }
  }

  // ---- set-up helpers ----

  /** A cache over TLS that admits only {@code admit} and clients that sent SNI "localhost". */
  private Nginx tlsCache(String admit) throws Exception {
    return open.keep(Nginx.tls(
        cert,
        "allow " + admit + ";\n      deny all;\n"
            + "      if ($ssl_server_name != \"localhost\") { return 421; }\n"
            + "      root " + cache.root() + ";\n      location / { }"));
  }

  private Nginx plainCache(String admit) throws Exception {
    return open.keep(Nginx.custom("allow " + admit + ";\n      deny all;\n      root "
        + cache.root() + ";\n      location / { }"));
  }

  /** Starts ncro from YAML through the real config path, with {@code env} as its environment. */
  private void start(URI upstream, boolean tls, Map<String, String> env) throws Exception {
    String yaml = "server:\n  listen: \"127.0.0.1:0\"\n"
        + "cache:\n  db_path: \"" + dir.resolve("routes.db") + "\"\n  probe_interval: 1h\n"
        + "timeouts:\n  connect: 3s\n  first_byte: 5s\n  stall: 5s\n"
        + "upstreams:\n  - url: \"" + upstream + "\"\n    public_key: \"" + KEY.publicKey()
        + "\"\n" + (tls ? "    ca_file: \"" + ca.certificate() + "\"\n" : "");
    Config config = ConfigLoader.load(yaml, "test.yaml", env);
    logs = new LogCapture();
    ncro = Ncro.start(config, env);
  }

  private HttpResponse<byte[]> get(String path) throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ncro.address().getPort() + path))
            .timeout(Duration.ofSeconds(30))
            .build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  private JsonNode upstreamStatus() throws Exception {
    return JSON.readTree(get("/status").body()).get("upstreams").get(0);
  }

  private void awaitState(String state) throws InterruptedException {
    Await.until("upstream " + state, () -> {
      try {
        return upstreamStatus().get("state").asText().equals(state);
      } catch (Exception e) {
        return false;
      }
    });
  }

  private void assertServesTheCache() throws Exception {
    cache.assertServedBy(this::get);
  }

  // ---- tests ----

  @Test
  void anHttpsCacheIsReachedThroughAConnectTunnelWithProxyCredentials() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(PROXY_USER, PROXY_PASSWORD));
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    start(
        n.httpsUri("localhost"),
        true,
        Map.of("https_proxy", proxy.url("http", PROXY_USER + ":" + PROXY_PASSWORD)));
    awaitState("active");
    assertServesTheCache();
    // TLS ran end to end inside the tunnel: the certificate checked was the cache's (ca_file),
    // with SNI "localhost" (nginx answers 421 otherwise).
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("CONNECT localhost:" + n.port()));
    assertThat(n.accessLog()).hasSizeGreaterThanOrEqualTo(2 * PATHS);
    assertThat(upstreamStatus().get("proxy").asText()).isEqualTo(proxy.url("http", null));
    assertThat(logs.lines())
        .anySatisfy(l -> assertThat(l)
            .contains("ncro listening")
            .contains("https via http://127.0.0.1:" + proxy.port() + " (with credentials)"));
  }

  @Test
  void aPlainHttpCacheIsForwardedWithTheAbsoluteUrl() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    Nginx n = plainCache(ForwardProxy.OUTGOING);
    start(n.uri(), false, Map.of("http_proxy", proxy.url("http", null)));
    awaitState("active");
    assertServesTheCache();
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l)
            .contains("GET http://127.0.0.1:" + n.port() + "/" + hashes.get(0) + ".narinfo"))
        .noneSatisfy(l -> assertThat(l).contains("CONNECT 127.0.0.1"));
  }

  @Test
  void anHttpsProxyCarriesTheCachesOwnTlsInsideItsTlsWithProxyCredentials() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(PROXY_USER, PROXY_PASSWORD));
    Nginx front = open.keep(Nginx.tlsStream(cert, proxy.port())); // TLS only: no plain listener
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    String proxyUrl = "https://" + PROXY_USER + ":" + PROXY_PASSWORD + "@localhost:" + front.port();
    start(
        n.httpsUri("localhost"),
        true,
        Map.of("https_proxy", proxyUrl, "NIX_SSL_CERT_FILE", ca.certificate().toString()));
    awaitState("active");
    assertServesTheCache();
    // Through the TLS front to tinyproxy (the only way to it ncro was given), then a tunnel in
    // which the cache's own TLS ran (SNI "localhost", or nginx answers 421).
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("CONNECT localhost:" + n.port()));
    assertThat(n.accessLog()).hasSizeGreaterThanOrEqualTo(2 * PATHS);
    assertThat(upstreamStatus().get("proxy").asText())
        .isEqualTo("https://localhost:" + front.port());
  }

  @Test
  void aPlainHttpCacheIsForwardedOverTlsToAnHttpsProxy() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    Nginx front = open.keep(Nginx.tlsStream(cert, proxy.port()));
    Nginx n = plainCache(ForwardProxy.OUTGOING);
    start(
        n.uri(),
        false,
        Map.of(
            "http_proxy",
            "https://localhost:" + front.port(),
            "NIX_SSL_CERT_FILE",
            ca.certificate().toString()));
    awaitState("active");
    assertServesTheCache();
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l)
            .contains("GET http://127.0.0.1:" + n.port() + "/" + hashes.get(0) + ".narinfo"));
  }

  @Test
  void anHttpsProxyWhoseCertificateDoesNotVerifyGetsNothing() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(PROXY_USER, PROXY_PASSWORD));
    Nginx front = open.keep(Nginx.tlsStream(cert, proxy.port()));
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    // The test CA is trusted for the cache (ca_file) but not as system trust: the proxy's
    // certificate, issued by it, must not verify.
    start(
        n.httpsUri("localhost"),
        true,
        Map.of(
            "https_proxy",
            "https://" + PROXY_USER + ":" + PROXY_PASSWORD + "@localhost:" + front.port(),
            "NIX_SSL_CERT_FILE",
            dir.resolve("no-such-bundle.crt").toString()));
    awaitState("certificate_error");
    assertThat(upstreamStatus().get("state_reason").asText())
        .contains("proxy https://localhost:" + front.port())
        .contains("certificate");
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(proxy.log())
        .as("no request reached the proxy (its log has one line per request): the TLS handshake"
            + " with its front failed first")
        .noneSatisfy(l -> assertThat(l).contains("Request"));
  }

  @Test
  void aRedirectToAnotherHostFollowsThatHostsRule() throws Exception {
    // The cache (through the proxy) sends NARs to a storage host that no_proxy names: the
    // redirected request goes direct, the cache's own through the tunnel.
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    Nginx storage = open.keep(Nginx.tls(
        cert,
        "allow 127.0.0.1;\n      deny all;\n      root " + cache.root()
            + ";\n      location / { }"));
    Nginx front = open.keep(Nginx.tls(
        cert,
        "allow " + ForwardProxy.OUTGOING + ";\n      deny all;\n      root " + cache.root()
            + ";\n      location /nar/ { return 307 " + storage.httpsUri("127.0.0.1") + "$uri; }\n"
            + "      location / { }"));
    start(
        front.httpsUri("localhost"),
        true,
        Map.of("https_proxy", proxy.url("http", null), "no_proxy", "127.0.0.1"));
    awaitState("active");
    assertServesTheCache();
    assertThat(front.accessLog())
        .anySatisfy(l -> assertThat(l).startsWith("GET /nar/").contains(" 307 "));
    assertThat(storage.accessLog())
        .anySatisfy(l -> assertThat(l).startsWith("GET /nar/").contains(" 200 "));
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("CONNECT localhost:" + front.port()))
        .noneSatisfy(l -> assertThat(l).contains(":" + storage.port()));
  }

  @Test
  void noProxyHostsAreReachedDirectly() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(null, null));
    Nginx n = plainCache("127.0.0.1");
    start(
        n.uri(),
        false,
        Map.of("http_proxy", proxy.url("http", null), "no_proxy", "cache.internal, 127.0.0.0/8"));
    awaitState("active");
    assertServesTheCache();
    assertThat(proxy.log()).noneSatisfy(l -> assertThat(l).contains("Request"));
    assertThat(upstreamStatus().get("proxy").asText()).isEqualTo("none");
  }

  @Test
  void aProxyRefusingOurCredentialsMakesTheCacheUnavailableNotAbsent() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.http(PROXY_USER, PROXY_PASSWORD));
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    start(
        n.httpsUri("localhost"),
        true,
        Map.of("HTTPS_PROXY", proxy.url("http", PROXY_USER + ":wrong-" + PROXY_PASSWORD)));
    // A 404 would make Nix record a miss for an hour; the cache may well hold the path.
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(n.accessLog()).isEmpty();
    assertThat(logs.lines())
        .anySatisfy(l -> assertThat(l).contains("127.0.0.1:" + proxy.port()).contains("401"));
  }

  @Test
  void socks5hTunnelsAnHttpsCache() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.socks5());
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    start(n.httpsUri("localhost"), true, Map.of("all_proxy", proxy.url("socks5h", null)));
    awaitState("active");
    assertServesTheCache();
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("tcp/connect").contains("127.0.0.1." + n.port()));
  }

  @Test
  void socks5TunnelsAPlainHttpCache() throws Exception {
    // Dante logs the address it connected to either way, so which side resolved "localhost"
    // (here for socks5, the proxy for socks5h) is checked in ProxyRouteTest.
    ForwardProxy proxy = open.keep(ForwardProxy.socks5());
    Nginx n = plainCache(ForwardProxy.OUTGOING);
    start(
        URI.create("http://localhost:" + n.port()),
        false,
        Map.of("all_proxy", proxy.url("socks5", null)));
    awaitState("active");
    assertServesTheCache();
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("tcp/connect").contains("127.0.0.1." + n.port()));
  }

  @Test
  void socks5hWithCredentialsTunnelsAnHttpsCache() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.socks5(PROXY_USER, PROXY_PASSWORD));
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    start(
        n.httpsUri("localhost"),
        true,
        Map.of("all_proxy", proxy.url("socks5h", PROXY_USER + ":" + PROXY_PASSWORD)));
    awaitState("active");
    assertServesTheCache();
    // socks5h: the proxy was given the name and resolved it.
    assertThat(proxy.log())
        .anySatisfy(l -> assertThat(l).contains("connected to localhost:" + n.port()));
    assertThat(upstreamStatus().get("proxy").asText()).isEqualTo(proxy.url("socks5h", null));
  }

  @Test
  void aSocksProxyRefusingOurCredentialsMakesTheCacheUnavailableNotAbsent() throws Exception {
    ForwardProxy proxy = open.keep(ForwardProxy.socks5(PROXY_USER, PROXY_PASSWORD));
    Nginx n = tlsCache(ForwardProxy.OUTGOING);
    start(
        n.httpsUri("localhost"),
        true,
        Map.of("all_proxy", proxy.url("socks5h", PROXY_USER + ":wrong-" + PROXY_PASSWORD)));
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(n.accessLog()).isEmpty();
    assertThat(proxy.log()).as("no tunnel opened").isEmpty();
  }
}
