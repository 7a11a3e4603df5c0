package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.NcroProcess;
import dev.ncro.support.NixFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code listen: "localhost:PORT"} on a host without ::1: ncro serves 127.0.0.1 and says it could
 * not listen on ::1, instead of refusing to start. The host is a network namespace of its own
 * ({@code unshare -n}) whose loopback has IPv6 disabled, so nothing outside it is touched.
 */
class LoopbackFallbackIT {
  @TempDir
  Path dir;

  @Test
  void withoutIpv6LoopbackNcroServesIpv4AndLogsIt() throws Exception {
    Path cfg = Files.writeString(dir.resolve("ncro.yaml"), """
        server:
          listen: "localhost:0"
        upstreams:
          - url: "http://127.0.0.1:9"
        cache:
          db_path: "%s"
        logging:
          format: text
        """.formatted(dir.resolve("routes.db")));
    boolean root = System.getProperty("user.name").equals("root");
    List<String> wrapper = List.of(
        "unshare",
        root ? "-n" : "-rn",
        "sh",
        "-c",
        "ip link set lo up && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && exec \"$@\"",
        "sh");
    try (NcroProcess ncro = NcroProcess.start(wrapper, cfg)) {
      assertThat(ncro.log())
          .anySatisfy(l -> assertThat(l)
              .contains(
                  "loopback address not available on this host, not listening on it",
                  "address=\"::1\""));
      assertThat(ncro.log())
          .anySatisfy(l -> assertThat(l)
              .contains("ncro listening", "addresses=\"127.0.0.1:" + ncro.port() + "\"")
              .doesNotContain("::1"));
      NixFixture.Result curl = NixFixture.exec(
          List.of(
              "nsenter",
              "--net=/proc/" + ncro.pid() + "/ns/net",
              "curl",
              "-sS",
              "http://127.0.0.1:" + ncro.port() + "/nix-cache-info"),
          System.getenv(),
          Duration.ofSeconds(30));
      assertThat(curl.exitCode()).as(curl.output()).isZero();
      assertThat(curl.stdout()).startsWith("StoreDir: /nix/store\n");
    }
  }
}
