package dev.ncro.access;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.ncro.config.Config;
import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.ListeningSockets;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Client access control on a real ncro, with clients on different loopback addresses (all of
 * 127/8 is local on Linux, so a client socket bound to 127.0.0.2 is a different client). Every
 * rejection is checked for what must not happen: no upstream request, no log line.
 */
class AccessControlIT {
  private static final String ADMIN = "127.0.0.1";
  private static final String OTHER = "127.0.0.2";
  private static final String PROXY = "127.0.0.3";

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
  private final Logger ncroLog = (Logger) LoggerFactory.getLogger("dev.ncro");
  private TestUpstream up;
  private String hash;
  private byte[] narinfo;
  private NcroHarness ncro;
  /** The Authorization header that lets this test read /metrics, when clients are configured. */
  private String[] metricsAuth = {};

  @BeforeEach
  void upstream() throws Exception {
    up = open.keep(TestUpstream.start());
    hash = TestNarinfo.hash(19);
    narinfo = TestNarinfo.make(hash, "nar/access.nar", 5, null);
    up.putNarinfo(hash, narinfo);
    up.putNar("/nar/access.nar", "nar!!".getBytes(StandardCharsets.US_ASCII));
  }

  @AfterEach
  void stopCapturingLogs() {
    ncroLog.detachAppender(logged);
    ncroLog.setLevel(null);
  }

  private void start(String serverYaml) throws Exception {
    String server =
        serverYaml.contains("listen:") ? serverYaml : "listen: \"127.0.0.1:0\"\n" + serverYaml;
    String yaml =
        """
        server:
        %s
        upstreams:
          - url: "%s"
        cache:
          db_path: "%s"
        """.formatted(server.indent(2).stripTrailing(), up.uri(), dir.resolve("routes.db"));
    Config c = ConfigLoader.load(yaml, "test.yaml", Map.of("HOME", dir.toString()));
    ncro = open.keep(NcroHarness.start(c));
    // Everything ncro logs from here on, at every level (the prober's own lines aside).
    logged.start();
    ncroLog.addAppender(logged);
    ncroLog.setLevel(Level.DEBUG);
  }

  private HttpResponse<String> get(String from, String path, String... headers) throws Exception {
    HttpClient http = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .localAddress(InetAddress.getByName(from))
        .build();
    HttpRequest.Builder b = HttpRequest.newBuilder(ncro.uri(path)).timeout(Duration.ofSeconds(20));
    if (headers.length > 0) {
      b.headers(headers);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private long rejected(String reason) throws Exception {
    String m = get(ADMIN, "/metrics", metricsAuth).body();
    String prefix = "ncro_client_rejected_total{reason=\"" + reason + "\"} ";
    return m.lines()
        .filter(l -> l.startsWith(prefix))
        .map(l -> (long) Double.parseDouble(l.substring(prefix.length())))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no series " + prefix + " in\n" + m));
  }

  /** What ncro logged, the prober's lines (upstream health, on its own schedule) aside. */
  private List<String> requestLog() {
    return logged.list.stream()
        .filter(e -> !e.getLoggerName().startsWith("dev.ncro.upstream"))
        .map(ILoggingEvent::getFormattedMessage)
        .toList();
  }

  private int upstreamRequests() {
    return (int)
        up.requests().stream().filter(r -> !r.path().equals("/nix-cache-info")).count();
  }

  private static String basic(String user, String password) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void allowDecidesByTheClientAddressAndARejectionCostsNothing() throws Exception {
    start("allow: [\"127.0.0.1/32\", \"::1/128\"]");
    assertThat(rejected("network")).as("the series exists at zero").isZero();
    for (String path : List.of(
        "/" + hash + ".narinfo",
        "/nar/access.nar",
        "/nix-cache-info",
        "/health",
        "/status",
        "/metrics",
        "/",
        "/nope",
        "/%2e%2e/etc")) {
      HttpResponse<String> r = get(OTHER, path);
      assertThat(r.statusCode()).as("%s from %s", path, OTHER).isEqualTo(403);
    }
    assertThat(upstreamRequests()).as("requests an upstream saw").isZero();
    assertThat(requestLog()).as("log lines for rejected requests").isEmpty();
    assertThat(rejected("network")).isEqualTo(9);
    assertThat(ncro.ncro().store().get(hash)).as("no race, no route").isEmpty();

    HttpResponse<String> ok = get(ADMIN, "/" + hash + ".narinfo");
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ok.body()).isEqualTo(new String(narinfo, StandardCharsets.UTF_8));
    assertThat(get(ADMIN, "/nar/access.nar").body()).isEqualTo("nar!!");
    assertThat(requestLog())
        .as("the capture works: an accepted miss logs its race")
        .isNotEmpty();
  }

  @Test
  void credentialsAreRequiredEverywhereButHealthAndAWrongOneNeverReachesAnUpstream()
      throws Exception {
    Path pw = Files.writeString(dir.resolve("ci.pw"), "correct horse\n");
    Path token = Files.writeString(dir.resolve("robot.token"), "t0ken");
    start("""
        clients:
          - username: ci
            password_file: "%s"
          - bearer_token_file: "%s"
        """.formatted(pw, token));
    metricsAuth = new String[] {"Authorization", "Bearer t0ken"};
    assertThat(rejected("missing_credentials")).isZero();
    assertThat(rejected("bad_credentials")).isZero();

    HttpResponse<String> none = get(ADMIN, "/" + hash + ".narinfo");
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.headers().firstValue("WWW-Authenticate")).hasValue("Basic realm=\"ncro\"");
    for (String wrong : List.of(
        basic("ci", "correct horse "),
        basic("ci", "Correct horse"),
        basic("cj", "correct horse"),
        "Bearer t0ke",
        "Bearer correct horse",
        basic("t0ken", ""))) {
      HttpResponse<String> r = get(ADMIN, "/" + hash + ".narinfo", "Authorization", wrong);
      assertThat(r.statusCode()).as(wrong).isEqualTo(401);
      assertThat(r.headers().firstValue("WWW-Authenticate")).hasValue("Basic realm=\"ncro\"");
    }
    assertThat(get(ADMIN, "/nar/access.nar").statusCode()).isEqualTo(401);
    assertThat(get(ADMIN, "/status").statusCode()).isEqualTo(401);
    assertThat(get(ADMIN, "/metrics").statusCode()).isEqualTo(401);
    assertThat(upstreamRequests()).isZero();
    assertThat(requestLog()).isEmpty();

    assertThat(get(OTHER, "/health").statusCode())
        .as("/health without credentials")
        .isEqualTo(200);
    HttpResponse<String> basic =
        get(ADMIN, "/" + hash + ".narinfo", "Authorization", basic("ci", "correct horse"));
    assertThat(basic.statusCode()).isEqualTo(200);
    assertThat(basic.body()).isEqualTo(new String(narinfo, StandardCharsets.UTF_8));
    assertThat(get(ADMIN, "/nar/access.nar", "Authorization", "Bearer t0ken").body())
        .isEqualTo("nar!!");

    String m = new String(
        get(ADMIN, "/metrics", "Authorization", "Bearer t0ken")
            .body()
            .getBytes(StandardCharsets.UTF_8),
        StandardCharsets.UTF_8);
    assertThat(m)
        .contains(
            "ncro_client_rejected_total{reason=\"missing_credentials\"} 4.0",
            "ncro_client_rejected_total{reason=\"bad_credentials\"} 6.0");
    assertThat(m + String.join("\n", requestLog())).doesNotContain("correct horse", "t0ken");
  }

  @Test
  void aRotatedClientPasswordOrTokenTakesEffectWithoutARestart() throws Exception {
    Path pw = Files.writeString(dir.resolve("ci.pw"), "old horse\n");
    Path token = Files.writeString(dir.resolve("robot.token"), "t0ken-1\n");
    start("""
        clients:
          - username: ci
            password_file: "%s"
          - bearer_token_file: "%s"
        """.formatted(pw, token));
    String path = "/" + hash + ".narinfo";
    assertThat(get(ADMIN, path, "Authorization", basic("ci", "old horse")).statusCode())
        .isEqualTo(200);

    Path next = dir.resolve("ci.pw.new");
    Files.writeString(next, "new horse\n");
    Files.move(next, pw, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(token, "t0ken-2\n");
    Await.until("the new password and token accepted", () -> {
      try {
        return get(ADMIN, path, "Authorization", basic("ci", "new horse")).statusCode() == 200
            && get(ADMIN, path, "Authorization", "Bearer t0ken-2").statusCode() == 200;
      } catch (Exception e) {
        return false;
      }
    });
    assertThat(get(ADMIN, path, "Authorization", basic("ci", "old horse")).statusCode())
        .isEqualTo(401);
    assertThat(get(ADMIN, path, "Authorization", "Bearer t0ken-1").statusCode()).isEqualTo(401);

    // A broken rewrite locks nobody out: the last good token stays valid.
    Files.writeString(token, "");
    Await.until(
        "the broken file reported",
        () ->
            logged.list.stream().anyMatch(e -> e.getFormattedMessage().contains("cannot be used")));
    assertThat(get(ADMIN, path, "Authorization", "Bearer t0ken-2").statusCode()).isEqualTo(200);
    metricsAuth = new String[] {"Authorization", "Bearer t0ken-2"};
    assertThat(get(ADMIN, "/metrics", metricsAuth).body())
        .contains("ncro_credential_files_unusable{kind=\"client\"} 1.0")
        .contains("ncro_credential_files_unusable{kind=\"upstream\"} 0.0")
        .contains("ncro_credential_files_unusable{kind=\"database\"} 0.0");
    assertThat(String.join("\n", requestLog()))
        .doesNotContain("old horse", "new horse", "t0ken-1", "t0ken-2");
  }

  @Test
  void adminAllowKeepsStatusAndMetricsFromAClientThatMayStillFetch() throws Exception {
    start("""
        allow: ["127.0.0.0/8"]
        admin_allow: ["127.0.0.1/32"]
        """);
    assertThat(get(OTHER, "/" + hash + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(get(OTHER, "/nar/access.nar").body()).isEqualTo("nar!!");
    assertThat(get(OTHER, "/nix-cache-info").statusCode()).isEqualTo(200);
    assertThat(get(OTHER, "/health").statusCode()).isEqualTo(200);
    for (String admin : List.of("/status", "/metrics", "/", "/ui")) {
      assertThat(get(OTHER, admin).statusCode()).as(admin + " from " + OTHER).isEqualTo(403);
      assertThat(get(ADMIN, admin).statusCode()).as(admin + " from " + ADMIN).isEqualTo(200);
    }
    assertThat(rejected("admin")).isEqualTo(4);
    assertThat(rejected("network")).isZero();
  }

  @Test
  void aForgedForwardedForChangesNothingUnlessItComesFromATrustedProxy() throws Exception {
    start("""
        allow: ["127.0.0.1/32"]
        admin_allow: ["127.0.0.1/32"]
        trusted_proxies: ["%s/32"]
        """.formatted(PROXY));
    String narinfoPath = "/" + hash + ".narinfo";
    // From an untrusted peer the header is ignored both ways.
    assertThat(get(OTHER, narinfoPath, "X-Forwarded-For", ADMIN).statusCode()).isEqualTo(403);
    assertThat(get(OTHER, "/status", "X-Forwarded-For", "127.0.0.1, 127.0.0.1").statusCode())
        .isEqualTo(403);
    assertThat(get(ADMIN, narinfoPath, "X-Forwarded-For", "192.0.2.66").statusCode())
        .isEqualTo(200);
    assertThat(get(ADMIN, "/status", "X-Forwarded-For", "192.0.2.66").statusCode())
        .isEqualTo(200);
    // From the trusted proxy, the right-most address it did not add itself decides.
    assertThat(get(PROXY, narinfoPath, "X-Forwarded-For", ADMIN).statusCode()).isEqualTo(200);
    assertThat(get(PROXY, narinfoPath, "X-Forwarded-For", "192.0.2.66").statusCode())
        .isEqualTo(403);
    assertThat(
            get(PROXY, narinfoPath, "X-Forwarded-For", ADMIN + ", 192.0.2.66").statusCode())
        .as("a client forging the left part through the proxy")
        .isEqualTo(403);
    assertThat(get(PROXY, narinfoPath).statusCode())
        .as("the proxy itself is not allowed")
        .isEqualTo(403);
    assertThat(rejected("network")).isEqualTo(5);
  }

  @Test
  void localhostMeansBothLoopbackAddressesAndNothingElse() throws Exception {
    start("listen: \"localhost:0\"");
    int port = ncro.ncro().address().getPort();
    assertThat(ListeningSockets.on(port))
        .as("sockets listening on port %d", port)
        .isNotEmpty()
        .allSatisfy(a -> assertThat(a.isLoopbackAddress()).as(a.toString()).isTrue());
    for (String host : List.of("127.0.0.1", "[::1]")) {
      HttpResponse<String> r = HttpClient.newHttpClient()
          .send(
              HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + "/nix-cache-info"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(r.body()).as(host).startsWith("StoreDir: /nix/store");
    }
    Optional<InetAddress> lan = ListeningSockets.nonLoopbackAddress();
    if (lan.isPresent()) {
      try (Socket s = new Socket()) {
        assertThatThrownBy(() -> s.connect(new InetSocketAddress(lan.get(), port), 5000))
            .as("connecting through %s", lan.get())
            .isInstanceOf(ConnectException.class);
      }
    }
  }
}
