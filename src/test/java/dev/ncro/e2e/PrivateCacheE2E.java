package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.config.UpstreamCredentials;
import dev.ncro.route.Route;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.LogCapture;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Nginx;
import dev.ncro.support.NixFixture;
import dev.ncro.support.TestCa;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client substituting, through ncro over plain HTTP on loopback, a closure part of
 * which only a private cache has: nginx over HTTPS (certificate from a CA made for this run) behind
 * {@code auth_basic}. Nix knows nothing of the credentials or the CA; ncro holds both.
 */
class PrivateCacheE2E {
  private static final String USER = "ci";
  private static final String PASSWORD = "e2e-Pass-41d7";
  private static NixFixture fx;

  @TempDir
  static Path shared;

  private static TestCa ca;
  private static TestCa.ServerCert cert;
  private static Path htpasswd;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro;
  private LogCapture logs;

  @BeforeAll
  static void fixture() throws Exception {
    fx = NixFixture.get();
    ca = TestCa.create(shared.resolve("ca"), "ncro e2e CA");
    cert = ca.issue(List.of("localhost"), List.of("127.0.0.1"));
    htpasswd = shared.resolve("htpasswd");
    Files.writeString(htpasswd, TestCa.htpasswd(shared, USER, PASSWORD));
  }

  /** Runs before {@code open} closes ncro and the caches (JUnit's order), so all are still up. */
  @AfterEach
  void scanForThePassword() throws Exception {
    if (ncro != null) {
      String seen = String.join("\n", logs.lines())
          + new String(ncro.get("/status").body(), StandardCharsets.UTF_8)
          + new String(ncro.get("/metrics").body(), StandardCharsets.UTF_8);
      assertThat(seen).as("log, /status and /metrics").doesNotContain(PASSWORD);
    }
  }

  /** ncro in front of the public partial cache (plain HTTP) and the private complete one (HTTPS + Basic). */
  private URI[] start(String password) throws Exception {
    Nginx pub = open.keep(Nginx.serve(fx.cache("partial-a").dir()));
    Nginx priv = open.keep(Nginx.tls(
        cert,
        "auth_basic \"private\";\n      auth_basic_user_file " + htpasswd + ";\n      root "
            + fx.cache("complete").dir() + ";\n      location / { }"));
    Path pw = dir.resolve("password");
    Files.writeString(pw, password + "\n");
    URI privUri = priv.httpsUri("localhost");
    List<UpstreamConfig> ups = List.of(
        new UpstreamConfig(pub.uri(), 10, List.of(fx.cache("partial-a").publicKey())),
        new UpstreamConfig(
            privUri,
            20,
            List.of(fx.cache("complete").publicKey()),
            ca.certificate(),
            new UpstreamCredentials.Basic(USER, password, "password_file")));
    logs = open.keep(new LogCapture());
    ncro = open.keep(NcroHarness.start(NcroHarness.config(dir.resolve("routes.db"), ups)));
    return new URI[] {ncro.uri(""), privUri};
  }

  private String state(int upstream) throws Exception {
    JsonNode s = new ObjectMapper().readTree(ncro.get("/status").body());
    return s.get("upstreams").get(upstream).get("state").asText();
  }

  @Test
  void nixSubstitutesAClosureThatOnlyAPrivateTlsCacheCompletes() throws Exception {
    URI[] u = start(PASSWORD);
    NixClient nix = new NixClient(dir.resolve("client"));
    NixFixture.Result r = nix.realise(List.of(u[0]), fx.trustedPublicKeys(), fx.root());
    assertThat(r.exitCode())
        .as("nix-store --realise through ncro:\n%s", r.output())
        .isZero();
    assertThat(nix.verify(fx.paths()).exitCode()).isZero();
    List<String> privateOnly =
        fx.paths().stream().filter(p -> !fx.cache("partial-a").holds(p)).toList();
    assertThat(privateOnly).isNotEmpty();
    for (String p : privateOnly) {
      assertThat(ncro.ncro().store().get(NixFixture.hashOf(p)).map(Route::upstream))
          .as("route of %s", p)
          .hasValue(u[1].toString());
    }
  }

  @Test
  void withWrongCredentialsThePrivatePathsAre503AndTheUpstreamUnauthorized() throws Exception {
    URI[] u = start("wrong-" + PASSWORD);
    Await.until("private upstream unauthorized", () -> {
      try {
        return state(1).equals("unauthorized");
      } catch (Exception e) {
        return false;
      }
    });
    NixClient nix = new NixClient(dir.resolve("client"));
    NixFixture.Result r = nix.realise(List.of(u[0]), fx.trustedPublicKeys(), fx.root());
    assertThat(r.exitCode()).isNotZero();
    assertThat(r.output()).contains("HTTP error 503").doesNotContain("don't know how to build");
    String privateOnly = fx.paths().stream()
        .filter(p -> !fx.cache("partial-a").holds(p))
        .findFirst()
        .orElseThrow();
    assertThat(ncro.get("/" + NixFixture.hashOf(privateOnly) + ".narinfo").statusCode())
        .isEqualTo(503);
    List<String> about =
        logs.lines().stream().filter(l -> l.contains(u[1].toString())).toList();
    assertThat(about).as("log lines about the private upstream").hasSize(1);
    assertThat(about.get(0)).contains("state changed").contains("unauthorized");
  }
}
