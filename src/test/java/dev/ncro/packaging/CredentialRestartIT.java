package dev.ncro.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ncro.support.Await;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The module's credential rotation under Debian's real systemd: LoadCredential copies a token
 * file when ncro.service starts, so ncro's own watching sees only that copy; the module's
 * {@code ncro-credentials.path} watches the host file and its oneshot restarts ncro, which then
 * sends the new token upstream. The units are the module's rendering ({@link ModuleEvalIT}'s
 * {@code rotation} set-up); drop-ins change only the programs (the test's classes, the host's
 * systemctl), the logs and boot ordering.
 */
class CredentialRestartIT {
  private static final String FIRST = "first-Token-91ab";
  private static final String SECOND = "second-Token-c3d2";

  @Test
  void aRotatedHostFileRestartsNcroWhichThenSendsTheNewToken() throws Exception {
    try (SystemdNamespace sd = SystemdNamespace.prepare("ncro-credential-restart-");
        TestUpstream up = TestUpstream.start()) {
      List<String> hashes = List.of(TestNarinfo.hash(5151), TestNarinfo.hash(5252));
      for (String h : hashes) {
        up.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar", 64, null));
      }
      int port = freePort();
      String classpath = sd.stageClasspath();
      Files.writeString(sd.payload().resolve("token"), FIRST + "\n");
      Files.writeString(sd.payload().resolve("config.yaml"), """
          server:
            listen: "127.0.0.1:%d"
          upstreams:
            - url: "%s"
              bearer_token_file: "/run/credentials/ncro.service/upstream0-token"
          cache:
            db_path: "/var/lib/ncro/routes.db"
          logging:
            format: text
          """.formatted(port, up.uri()));
      stageUnits(sd.units(), classpath);
      sd.boot("ncro.service", true);

      assertThat(sd.awaitState("ncro.service", Set.of("active", "failed")))
          .as(sd.log("ncro"))
          .isEqualTo("active");
      assertThat(sd.systemctl("start", "ncro-credentials.path").exit()).isZero();
      HttpClient http =
          HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      assertThat(narinfo(http, port, hashes.get(0))).as(sd.log("ncro")).isEqualTo(200);
      assertThat(authorizationFor(up, hashes.get(0))).isEqualTo("Bearer " + FIRST);
      String before = sd.show("ncro.service", "InvocationID");

      // Rotated as a secret manager does it: a new file renamed over the old one.
      assertThat(sd.exec(
                  "sh",
                  "-c",
                  "printf '%s\\n' > /run/ncro-test/token.new && mv /run/ncro-test/token.new /run/ncro-test/token"
                      .formatted(SECOND))
              .exit())
          .isZero();
      Await.until("ncro.service restarted", Duration.ofSeconds(60), () -> {
        try {
          String now = sd.show("ncro.service", "InvocationID");
          return !now.isEmpty()
              && !now.equals(before)
              && sd.show("ncro.service", "ActiveState").equals("active");
        } catch (Exception e) {
          return false;
        }
      });
      assertThat(sd.show("ncro-credentials.service", "Result")).isEqualTo("success");
      assertThat(narinfo(http, port, hashes.get(1))).as(sd.log("ncro")).isEqualTo(200);
      assertThat(authorizationFor(up, hashes.get(1))).isEqualTo("Bearer " + SECOND);
      assertThat(sd.log("ncro")).doesNotContain(FIRST).doesNotContain(SECOND);
    }
  }

  /** The rendered units, with drop-ins for what differs on a test host. */
  private static void stageUnits(Path units, String classpath) throws Exception {
    JsonNode rendered = ModuleEvalIT.eval("rotation").get("units");
    for (String unit :
        List.of("ncro.service", "ncro-credentials.path", "ncro-credentials.service")) {
      Files.writeString(units.resolve(unit), rendered.get(unit).asText());
    }
    Path service = Files.createDirectories(units.resolve("ncro.service.d"));
    Files.writeString(
        service.resolve("test.conf"), SystemdNamespace.moduleServiceDropIn(classpath, ""));
    Path path = Files.createDirectories(units.resolve("ncro-credentials.path.d"));
    Files.writeString(path.resolve("test.conf"), "[Unit]\nDefaultDependencies=no\n");
    Path oneshot = Files.createDirectories(units.resolve("ncro-credentials.service.d"));
    Files.writeString(oneshot.resolve("test.conf"), """
        [Unit]
        DefaultDependencies=no
        [Service]
        ExecStart=
        ExecStart=%s try-restart ncro.service
        """.formatted(
            PackagingIT.tool("systemctl").orElse("/bin/systemctl")));
  }

  private static int narinfo(HttpClient http, int port, String hash) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (true) {
      try {
        return http.send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/" + hash + ".narinfo"))
                    .timeout(Duration.ofSeconds(10))
                    .build(),
                HttpResponse.BodyHandlers.discarding())
            .statusCode();
      } catch (IOException starting) {
        if (System.nanoTime() > deadline) {
          throw starting;
        }
        Thread.sleep(200);
      }
    }
  }

  private static String authorizationFor(TestUpstream up, String hash) {
    return up.requests().stream()
        .filter(r -> r.path().equals("/" + hash + ".narinfo"))
        .map(r -> r.headers().get("authorization"))
        .reduce((a, b) -> b)
        .orElseThrow(() -> new AssertionError("no request for " + hash + " reached the upstream"));
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
