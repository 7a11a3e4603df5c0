package dev.ncro.privatecache;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.Ncro;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Private, HTTPS and redirecting caches against real nginx: TLS with a CA made for this run
 * (ca_file), Basic auth from password_file and from a netrc file, a Bearer token, a redirect chain
 * to a second host, certificate problems, and refused credentials. After every test, the captured
 * log, {@code /status} and {@code /metrics} are scanned for each secret used.
 */
class PrivateCacheIT {
  private static final String USER = "nixuser";
  private static final String PASSWORD = "pw-Secret-7f3a9c";
  private static final String TOKEN = "tok-Secret-e41b0d";
  private static final int PATHS = 6;
  private static final TestKey KEY = new TestKey("private-1");
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  static Path shared;

  private static TestCa ca;
  private static TestCa.ServerCert cert;
  private static SignedCache cache;
  private static List<String> hashes;
  private static Path htpasswd;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private final Set<String> secrets = new HashSet<>();
  private LogCapture logs;
  private Ncro ncro;
  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void cacheAndCa() throws Exception {
    ca = TestCa.create(shared.resolve("ca"), "ncro test CA");
    cert = ca.issue(List.of("localhost"), List.of("127.0.0.1"));
    cache = SignedCache.create(shared.resolve("cache"), KEY, PATHS, 7000, 100_000, 12);
    hashes = cache.hashes();
    htpasswd = shared.resolve("htpasswd");
    Files.writeString(htpasswd, TestCa.htpasswd(shared, USER, PASSWORD));
  }

  /**
   * Scans, then stops ncro. Runs before {@code open} closes the caches (JUnit runs a class's
   * {@code @AfterEach} methods before its extensions), so ncro stops before its upstreams go.
   */
  @AfterEach
  void scanForSecretsThenStop() throws Exception {
    try {
      if (ncro != null) {
        String status = new String(get("/status").body(), StandardCharsets.UTF_8);
        String metrics = new String(get("/metrics").body(), StandardCharsets.UTF_8);
        String log = String.join("\n", logs.lines());
        for (String s : secrets) {
          assertThat(log).as("log output").doesNotContain(s);
          assertThat(status).as("/status").doesNotContain(s);
          assertThat(metrics).as("/metrics").doesNotContain(s);
          String b64 =
              Base64.getEncoder().encodeToString((USER + ":" + s).getBytes(StandardCharsets.UTF_8));
          assertThat(log + status + metrics).as("Basic credentials, encoded").doesNotContain(b64);
        }
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

  private Nginx nginx(String server) throws Exception {
    return open.keep(Nginx.tls(cert, server));
  }

  private static String basicAuth() {
    return "auth_basic \"private cache\";\n      auth_basic_user_file " + htpasswd + ";\n      ";
  }

  private static String serveCache() {
    return "root " + cache.root() + ";\n      location / { }";
  }

  private Path secretFile(String name, String value) throws Exception {
    secrets.add(value);
    Path p = dir.resolve(name);
    Files.writeString(p, value + "\n");
    return p;
  }

  /** Starts ncro from YAML text (the real config path: files read, fields checked), capturing its log. */
  private void start(String upstreamsYaml, String topLevelYaml) throws Exception {
    String yaml = "server:\n  listen: \"127.0.0.1:0\"\n"
        + "cache:\n  db_path: \"" + dir.resolve("routes.db") + "\"\n  probe_interval: 1h\n"
        + "timeouts:\n  connect: 3s\n  first_byte: 5s\n  stall: 5s\n"
        + topLevelYaml + "upstreams:\n" + upstreamsYaml;
    Config config = ConfigLoader.load(yaml, "test.yaml", Map.of());
    logs = new LogCapture();
    ncro = Ncro.start(config);
  }

  private static String upstream(URI url, String extra) {
    return "  - url: \"" + url + "\"\n    public_key: \"" + KEY.publicKey() + "\"\n" + extra;
  }

  private String caFile() {
    return "    ca_file: \"" + ca.certificate() + "\"\n";
  }

  private HttpResponse<byte[]> get(String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + ncro.address().getPort() + path))
        .timeout(Duration.ofSeconds(30));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private JsonNode upstreamStatus(int i) throws Exception {
    return JSON.readTree(get("/status").body()).get("upstreams").get(i);
  }

  private void awaitState(int upstream, String state) throws InterruptedException {
    Await.until("upstream " + upstream + " " + state, () -> {
      try {
        return upstreamStatus(upstream).get("state").asText().equals(state);
      } catch (Exception e) {
        return false;
      }
    });
  }

  private void assertServesTheCache() throws Exception {
    cache.assertServedBy(this::get);
  }

  private long metric(String line) throws Exception {
    for (String l : new String(get("/metrics").body(), StandardCharsets.UTF_8).split("\n")) {
      if (l.startsWith(line + " ")) {
        return (long) Double.parseDouble(l.substring(line.length() + 1));
      }
    }
    throw new AssertionError("no metric " + line);
  }

  private List<String> linesAbout(String upstream) {
    return logs.lines().stream().filter(l -> l.contains(upstream)).toList();
  }

  // ---- tests ----

  @Test
  void basicAuthOverTlsWithTheTestCaAndSni() throws Exception {
    // Answers only when the client sent SNI "localhost": proves SNI goes out with every handshake.
    Nginx n = nginx("if ($ssl_server_name != \"localhost\") { return 421; }\n      " + basicAuth()
        + serveCache());
    Path pw = secretFile("password", PASSWORD);
    start(
        upstream(
            n.httpsUri("localhost"),
            caFile() + "    username: \"" + USER + "\"\n    password_file: \"" + pw + "\"\n"),
        "");
    awaitState(0, "active");
    assertServesTheCache();
    JsonNode s = upstreamStatus(0);
    assertThat(s.get("auth").asText()).isEqualTo("basic");
    assertThat(s.get("credentials_from").asText()).isEqualTo("password_file");
    assertThat(n.authorizationLog())
        .isNotEmpty()
        .allSatisfy(l -> assertThat(l).contains(" Basic "));
  }

  @Test
  void bearerTokenFromAFile() throws Exception {
    Nginx n = nginx("if ($http_authorization != \"Bearer " + TOKEN + "\") { return 401; }\n      "
        + serveCache());
    Path token = secretFile("token", TOKEN);
    start(
        upstream(n.httpsUri("localhost"), caFile() + "    bearer_token_file: \"" + token + "\"\n"),
        "");
    awaitState(0, "active");
    assertServesTheCache();
    assertThat(upstreamStatus(0).get("auth").asText()).isEqualTo("bearer");
  }

  @Test
  void aRotatedTokenFileTakesEffectWithoutARestart() throws Exception {
    String rotated = "tok-Rotated-5c1d88";
    Nginx n = nginx("if ($http_authorization != \"Bearer " + rotated + "\") { return 401; }\n      "
        + serveCache());
    Path token = secretFile("token", TOKEN); // the old token: refused
    secrets.add(rotated);
    start(
        upstream(n.httpsUri("localhost"), caFile() + "    bearer_token_file: \"" + token + "\"\n"),
        "");
    awaitState(0, "unauthorized");
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);

    // Rotated the way secret managers do it: a new file renamed over the old one. Probes run once
    // an hour here, so only the credential watcher's own probe can bring the upstream back.
    Path next = dir.resolve("token.new");
    Files.writeString(next, rotated + "\n");
    Files.move(next, token, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    awaitState(0, "active");
    assertServesTheCache();
    assertThat(logs.lines()).anyMatch(l -> l.contains("credential file changed"));
    assertThat(upstreamStatus(0).get("credentials_from").asText()).isEqualTo("bearer_token_file");
    assertThat(upstreamStatus(0).get("credentials_file").asText()).isEqualTo("ok");

    // A broken rewrite is reported and changes nothing: the last good token stays in use.
    Files.writeString(token, "");
    Await.until(
        "the broken file reported",
        () -> logs.lines().stream()
            .anyMatch(l -> l.contains("cannot be used") && l.contains("empty")));
    assertServesTheCache(); // the NARs are fetched again, with the last good token
    assertThat(upstreamStatus(0).get("state").asText()).isEqualTo("active");
    assertThat(metric("ncro_credential_files_unusable{kind=\"upstream\"}")).isEqualTo(1);
    assertThat(upstreamStatus(0).get("credentials_file").asText()).isEqualTo("unusable");
    Files.writeString(token, rotated + "\n");
    Await.until("the file usable again", () -> {
      try {
        return metric("ncro_credential_files_unusable{kind=\"upstream\"}") == 0;
      } catch (Exception e) {
        return false;
      }
    });
  }

  @Test
  void netrcEntryForTheHostIsUsedAndExplicitCredentialsWin() throws Exception {
    Nginx n = nginx(basicAuth() + serveCache());
    secrets.add(PASSWORD);
    Path netrc = dir.resolve("netrc");
    Files.writeString(
        netrc,
        "# as Nix's netrc-file\nmachine other.example login x password \"not this one\"\n"
            + "machine localhost\n  login " + USER + "\n  password " + PASSWORD
            + "\ndefault login nobody password wrong-default\n");
    Nginx other = nginx(basicAuth() + serveCache());
    Path pw = secretFile("password", PASSWORD);
    // 127.0.0.1 matches no machine: "default" (wrong) applies, unless explicit credentials are
    // given.
    start(
        upstream(n.httpsUri("localhost"), caFile())
            + "    priority: 10\n"
            + upstream(
                other.httpsUri("127.0.0.1"),
                caFile() + "    username: \"" + USER + "\"\n    password_file: \"" + pw + "\"\n"),
        "netrc_file: \"" + netrc + "\"\n");
    awaitState(0, "active");
    awaitState(1, "active");
    assertThat(upstreamStatus(0).get("credentials_from").asText()).isEqualTo("netrc_file line 3");
    assertThat(upstreamStatus(1).get("credentials_from").asText()).isEqualTo("password_file");
    assertServesTheCache();
  }

  @Test
  void redirectChainIsFollowedInsideNcroAndCredentialsStayOnTheUpstreamsHost() throws Exception {
    Nginx storage =
        nginx(serveCache()); // the "presigned storage" host: no auth, records what it sees
    // narinfo: 301 to a relative Location on the same host; NAR: 307 to the storage host.
    Nginx front = nginx("absolute_redirect off;\n      " + basicAuth()
        + "location ~ ^/[a-z0-9]+\\.narinfo$ { return 301 /moved$uri; }\n"
        + "      location /moved/ { alias " + cache.root() + "/; }\n"
        + "      location /nar/ { return 307 " + storage.httpsUri("127.0.0.1")
        + "$uri?X-Signature=sig-secret-99; }\n"
        + "      location = /nix-cache-info { root " + cache.root() + "; }\n"
        + "      location /loop/ { return 302 /loop/again; }\n"
        + "      location /plain/ { return 302 http://127.0.0.1:" + storage.port() + "/nar/x; }");
    Path pw = secretFile("password", PASSWORD);
    secrets.add("sig-secret-99"); // a presigned URL's signature is a credential too
    start(
        upstream(
            front.httpsUri("localhost"),
            caFile() + "    username: \"" + USER + "\"\n    password_file: \"" + pw + "\"\n"),
        "");
    awaitState(0, "active");
    assertServesTheCache();

    // Range is kept on the redirected NAR request; bytes are counted under the upstream that
    // redirected.
    String h = hashes.get(0);
    HttpResponse<byte[]> part = get("/nar/" + h + ".nar.xz", "Range", "bytes=1000-");
    assertThat(part.statusCode()).isEqualTo(206);
    assertThat(part.body()).isEqualTo(Arrays.copyOfRange(cache.nar(h), 1000, cache.nar(h).length));
    assertThat(storage.authorizationLog())
        .as("the storage host never saw credentials")
        .isNotEmpty()
        .allSatisfy(l -> assertThat(l).contains(" none "));
    assertThat(storage.authorizationLog())
        .anySatisfy(l -> assertThat(l).contains("\"bytes=1000-\""));
    assertThat(front.authorizationLog())
        .anySatisfy(l -> assertThat(l).startsWith("/moved/").contains(" Basic "));
    long expected = cache.narBytes() + cache.nar(h).length - 1000;
    assertThat(metric("ncro_nar_bytes_total{upstream=\"" + front.httpsUri("localhost") + "\"}"))
        .isEqualTo(expected);
  }

  @Test
  void aRedirectLoopOrHttpsToHttpIsAClearFailureNotAHang() throws Exception {
    Nginx front =
        nginx("absolute_redirect off;\n      location /nar/ { return 302 /nar/again$uri; }\n"
            + "      location /nar/plain { return 302 http://127.0.0.1:1/nar/x; }\n"
            + serveCache().replace("location / { }", "location = /nix-cache-info { }"));
    start(upstream(front.httpsUri("localhost"), caFile()), "");
    awaitState(0, "active");
    assertThat(get("/nar/loop.nar.xz").statusCode()).isEqualTo(502);
    assertThat(get("/nar/plain.nar.xz").statusCode()).isEqualTo(502);
    Await.until(
        "redirect loop logged",
        () -> logs.lines().stream().anyMatch(l -> l.contains("more than 5 redirects")));
    Await.until(
        "https to http refused",
        () -> logs.lines().stream()
            .anyMatch(l ->
                l.contains("refused redirect from https to http: \"http://127.0.0.1:1/nar/x\"")));
    long hops = front.accessLog().stream()
        .filter(l -> l.contains("/nar/") && !l.contains("plain"))
        .count();
    assertThat(hops).as("first request + 5 redirects followed").isEqualTo(6);
    assertThat(upstreamStatus(0).at("/errors/protocol").asLong()).isEqualTo(2);
  }

  @Test
  void theDefaultTlsEngineIsBoringSslAndTheJdkEngineVerifiesTheSameWay() throws Exception {
    Nginx n =
        nginx("if ($ssl_server_name != \"localhost\") { return 421; }\n      " + serveCache());
    TestCa.ServerCert wrongHost = ca.issue(List.of("wrong.example"), List.of());
    Nginx misnamed = open.keep(Nginx.tls(wrongHost, serveCache()));
    System.setProperty("ncro.tls.provider", "jdk");
    try {
      start(
          upstream(n.httpsUri("localhost"), caFile())
              + upstream(misnamed.httpsUri("localhost"), caFile()),
          "");
    } finally {
      System.clearProperty("ncro.tls.provider");
    }
    assertThat(logs.lines())
        .anySatisfy(l -> assertThat(l).contains("ncro listening").contains("tls_engine=jdk"));
    awaitState(0, "active");
    awaitState(1, "certificate_error");
    assertServesTheCache();
    assertThat(upstreamStatus(1).get("state_reason").asText()).contains("certificate: ");
  }

  @Test
  void aCaFileReplacedUnderNcroIsFollowedWithoutARestart() throws Exception {
    // The cache's certificate comes from a new company CA; ncro's ca_file still holds the old one.
    TestCa next = TestCa.create(dir.resolve("next-ca"), "ncro test CA, next");
    Nginx n = open.keep(Nginx.tls(next.issue(List.of("localhost"), List.of()), serveCache()));
    Path caFile = dir.resolve("company-ca.pem");
    Files.copy(ca.certificate(), caFile);
    start(upstream(n.httpsUri("localhost"), "    ca_file: \"" + caFile + "\"\n"), "");
    awaitState(0, "certificate_error");
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(upstreamStatus(0).get("ca_file").asText()).isEqualTo("ok");

    // A half-written file (no certificate yet) keeps the last good trust and is reported.
    Files.writeString(caFile, "-----BEGIN CERT");
    Await.until(
        "the unusable file reported",
        () -> logs.lines().stream()
            .anyMatch(l -> l.contains("TLS trust changed but cannot be used")));
    assertThat(upstreamStatus(0).get("state").asText()).isEqualTo("certificate_error");
    assertThat(metric("ncro_credential_files_unusable{kind=\"ca\"}")).isEqualTo(1);
    assertThat(upstreamStatus(0).get("ca_file").asText()).isEqualTo("unusable");

    // The new CA rolled out the way configuration management does it: renamed over the old file.
    // Probes run once an hour here: only the change's own probe brings the upstream back.
    Path staged = dir.resolve("company-ca.pem.new");
    Files.writeString(
        staged, Files.readString(ca.certificate()) + Files.readString(next.certificate()));
    Files.move(staged, caFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    awaitState(0, "active");
    assertServesTheCache();
    assertThat(logs.lines())
        .anySatisfy(l -> assertThat(l)
            .contains("TLS trust changed; new upstream connections use it")
            .contains(caFile.toString()));
    assertThat(metric("ncro_credential_files_unusable{kind=\"ca\"}")).isZero();
    assertThat(upstreamStatus(0).get("ca_file").asText()).isEqualTo("ok");
  }

  @Test
  void certificateProblemsAreAVisibleStateWithTheReason() throws Exception {
    Nginx n = nginx(serveCache());
    TestCa.ServerCert wrongHost = ca.issue(List.of("wrong.example"), List.of());
    Nginx misnamed = open.keep(Nginx.tls(wrongHost, serveCache()));
    // No ca_file: the test CA is not in the system trust. And a certificate for another host name.
    start(
        upstream(n.httpsUri("localhost"), "") + upstream(misnamed.httpsUri("localhost"), caFile()),
        "");
    assertThat(logs.lines())
        .as("the default engine, which every other test here uses")
        .anySatisfy(l -> assertThat(l).contains("ncro listening").contains("tls_engine=openssl"));
    awaitState(0, "certificate_error");
    awaitState(1, "certificate_error");
    assertThat(upstreamStatus(0).get("state_reason").asText())
        .startsWith("probe: certificate: ")
        .containsIgnoringCase("certification path");
    assertThat(upstreamStatus(1).get("state_reason").asText())
        .contains("certificate: ")
        .contains("localhost");
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(metric("ncro_upstream_state{state=\"certificate_error\",upstream=\""
            + n.httpsUri("localhost") + "\"}"))
        .isEqualTo(1);
    assertThat(linesAbout(n.httpsUri("localhost").toString()))
        .filteredOn(l -> l.contains("state changed"))
        .hasSize(1);
  }

  @Test
  void wrongOrMissingCredentialsAnswer503WithOneLogLinePerStateChange() throws Exception {
    Nginx wrong = nginx(basicAuth() + serveCache());
    Nginx missing = nginx("if ($http_authorization != \"Bearer " + TOKEN
        + "\") { return 401; }\n      " + serveCache());
    Path pw = secretFile("password", "not-the-" + PASSWORD);
    start(
        upstream(
                wrong.httpsUri("localhost"),
                caFile() + "    username: \"" + USER + "\"\n    password_file: \"" + pw + "\"\n")
            + upstream(missing.httpsUri("127.0.0.1"), caFile()),
        "");
    awaitState(0, "unauthorized");
    awaitState(1, "unauthorized");
    assertThat(upstreamStatus(0).get("state_reason").asText())
        .isEqualTo("probe: /nix-cache-info answered 401");
    for (int round = 0; round < 3; round++) {
      for (String h : hashes) {
        assertThat(get("/" + h + ".narinfo").statusCode())
            .as("narinfo with refused credentials")
            .isEqualTo(503);
      }
    }
    String a = wrong.httpsUri("localhost").toString();
    assertThat(linesAbout(a)).as("log lines about %s", a).hasSize(1);
    assertThat(linesAbout(a).get(0))
        .contains("WARN")
        .contains("state changed")
        .contains("unauthorized");
    assertThat(metric("ncro_upstream_errors_total{kind=\"auth\",upstream=\"" + a + "\"}"))
        .isGreaterThanOrEqualTo(1);
    assertThat(metric("ncro_upstream_state{state=\"unauthorized\",upstream=\"" + a + "\"}"))
        .isEqualTo(1);
    // Races left them out: nginx saw no narinfo request after the state was set.
    assertThat(wrong.accessLog()).noneMatch(l -> l.contains(".narinfo"));
  }

  @Test
  void aRefusedObjectIsUnavailableNotAbsentAndA403StaysAbsent() throws Exception {
    // nix-cache-info is public (the probe succeeds), every object needs credentials ncro lacks.
    Nginx n = nginx("location = /nix-cache-info { root " + cache.root() + "; }\n"
        + "      location / { " + basicAuth() + "root " + cache.root() + "; }");
    Nginx s3 = nginx("location = /nix-cache-info { root " + cache.root()
        + "; }\n      location / { return 403; }");
    start(
        upstream(n.httpsUri("localhost"), caFile()) + upstream(s3.httpsUri("127.0.0.1"), caFile()),
        "");
    // The start-up probe's success is an answer that re-arms the warning: wait for it to be in.
    Await.until("start-up probe of the refusing upstream", () -> {
      try {
        return upstreamStatus(0).get("ema_latency_ms").isNumber();
      } catch (Exception e) {
        return false;
      }
    });
    for (int round = 0; round < 3; round++) {
      for (String h : hashes) {
        assertThat(get("/" + h + ".narinfo").statusCode())
            .as("401 from the only holder: unknown, not absent")
            .isEqualTo(503);
      }
    }
    String a = n.httpsUri("localhost").toString();
    assertThat(linesAbout(a))
        .as("one warning for %d refusals", 3 * hashes.size())
        .singleElement()
        .asString()
        .contains("WARN")
        .contains("refused a request")
        .contains("status=401");
    assertThat(metric("ncro_upstream_errors_total{kind=\"auth\",upstream=\"" + a + "\"}"))
        .isEqualTo(3L * hashes.size());
    assertThat(upstreamStatus(0).get("state").asText()).isEqualTo("active");

    // Without the refusing upstream, the 403 everywhere is "absent": S3 without list permission.
    ncro.stop();
    logs.close();
    start(upstream(s3.httpsUri("127.0.0.1"), caFile()), "");
    awaitState(0, "active");
    assertThat(get("/" + hashes.get(0) + ".narinfo").statusCode()).isEqualTo(404);
  }

  @Test
  void aWarmRaceMakesNoNewTlsHandshakes() throws Exception {
    Nginx n = nginx(basicAuth() + serveCache());
    Path pw = secretFile("password", PASSWORD);
    start(
        upstream(
            n.httpsUri("localhost"),
            caFile() + "    username: \"" + USER + "\"\n    password_file: \"" + pw + "\"\n"),
        "");
    awaitState(0, "active");
    // The warm connections (warm_connections) finish their TLS handshakes before any race.
    Await.until("the warm connections are open", () -> {
      try {
        JsonNode u = upstreamStatus(0);
        return u.get("idle_connections").asInt() == u.get("warm_connections").asInt();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    long before = upstreamStatus(0).get("tls_handshakes").asLong();
    assertThat(before)
        .as("the probe's handshake and one per warm connection")
        .isEqualTo(1 + upstreamStatus(0).get("warm_connections").asLong());
    for (String h : hashes) {
      assertThat(get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    }
    long after = upstreamStatus(0).get("tls_handshakes").asLong();
    assertThat(before).isPositive();
    assertThat(after).as("handshakes after %d more races", hashes.size() - 1).isEqualTo(before);
    assertThat(metric(
            "ncro_upstream_tls_handshakes_total{upstream=\"" + n.httpsUri("localhost") + "\"}"))
        .isEqualTo(after);
  }
}
