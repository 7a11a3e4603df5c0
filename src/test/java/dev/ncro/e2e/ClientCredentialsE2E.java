package dev.ncro.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.NixFixture;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Nix client (nix-bin 2.8) and an ncro that requires client credentials: with them in
 * Nix's {@code netrc-file} (what curl sends as Basic authentication) the closure arrives; without
 * them Nix fails on a 401 and the cache behind ncro never sees a request.
 */
class ClientCredentialsE2E {
  private static final String USER = "ci";
  private static final String PASSWORD = "n1x-netrc-secret";
  private static NixFixture fx;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @BeforeAll
  static void fixture() {
    fx = NixFixture.get();
  }

  @Test
  void nixSubstitutesWithNetrcCredentialsAndIsRefusedWithoutThem() throws Exception {
    FarCache complete =
        open.keep(FarCache.serving("complete", fx.cache("complete").dir(), Duration.ofMillis(5)));
    Path password = Files.writeString(dir.resolve("ci.password"), PASSWORD + "\n");
    NcroHarness ncro = open.keep(NcroHarness.start(ConfigLoader.load(
        """
        server:
          listen: "127.0.0.1:0"
          clients:
            - username: "%s"
              password_file: "%s"
        upstreams:
          - url: "%s"
            public_key: "%s"
        cache:
          db_path: "%s"
        """.formatted(
                USER,
                password,
                complete.uri(),
                fx.cache("complete").publicKey(),
                dir.resolve("routes.db")),
        "test.yaml",
        Map.of())));
    URI proxy = ncro.uri("");

    NixClient anonymous = new NixClient(dir.resolve("anonymous"));
    // --debug: Nix 2.8 logs each transfer's HTTP status there; its error only says the URL
    // "does not appear to be a binary cache" (the 401 on nix-cache-info disables it for the run).
    NixFixture.Result refused =
        anonymous.realise(List.of(proxy), fx.trustedPublicKeys(), fx.root(), "--debug");
    assertThat(refused.exitCode())
        .as("nix-store --realise without credentials:\n%s", refused.output())
        .isNotZero();
    assertThat(refused.output())
        .contains("HTTP status = 401", "does not appear to be a binary cache");
    assertThat(complete.nginx().accessLog())
        .as("requests the cache behind ncro saw (its own health probes aside)")
        .allSatisfy(l -> assertThat(l.split(" ")[1]).isEqualTo("/nix-cache-info"));

    Path netrc = Files.writeString(
        dir.resolve("netrc"), "machine 127.0.0.1 login " + USER + " password " + PASSWORD + "\n");
    NixClient nix = new NixClient(dir.resolve("with-netrc"));
    NixFixture.Result r = nix.realise(
        List.of(proxy),
        fx.trustedPublicKeys(),
        fx.root(),
        "--option",
        "netrc-file",
        netrc.toString());
    assertThat(r.exitCode())
        .as("nix-store --realise with netrc-file:\n%s", r.output())
        .isZero();
    nix.assertHoldsValid(fx);

    String basic = "Basic "
        + Base64.getEncoder()
            .encodeToString((USER + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    String metrics = HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(ncro.uri("/metrics"))
                .header("Authorization", basic)
                .build(),
            HttpResponse.BodyHandlers.ofString())
        .body();
    assertThat(metrics)
        .doesNotContain(PASSWORD)
        .doesNotContain("missing_credentials\"} 0.0")
        .contains("ncro_client_rejected_total{reason=\"bad_credentials\"} 0.0");
  }
}
