package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL backend with no server behind its port (nothing installed): start-up is degraded,
 * not failed; lookups are misses; writes queue up to the bound, then are dropped and counted; the
 * password appears in no state it reports.
 */
class PostgresRouteBackendTest {
  private static final String PASSWORD = "very-secret-pw";

  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress("127.0.0.1", 0));
      return s.getLocalPort();
    }
  }

  private static Route route(int i) {
    String h = String.format("%032d", i).replace('0', 'a');
    return new Route(
        h,
        "http://up",
        1,
        "nar/" + h + ".nar",
        "sha256:f",
        "sha256:n",
        1,
        new byte[] {'x'},
        1,
        Long.MAX_VALUE);
  }

  @Test
  void unreachableAtStartIsDegradedAndWritesBeyondTheQueueAreDroppedAndCounted() throws Exception {
    int port = closedPort();
    PostgresSettings settings = new PostgresSettings(
        "jdbc:postgresql://127.0.0.1:" + port + "/ncro",
        "postgresql://ncro@127.0.0.1:" + port + "/ncro",
        "ncro",
        PASSWORD,
        null,
        Map.of("connectTimeout", "1"),
        2);
    try (PostgresRouteBackend b = PostgresRouteBackend.open(settings, 100, Clock.systemUTC())) {
      assertThat(b.state()).isEqualTo(StoreStatus.State.DOWN);
      assertThat(b.reason()).isNotEmpty().doesNotContain(PASSWORD);
      assertThat(b.location()).doesNotContain(PASSWORD);
      assertThat(b.find(route(1).hash())).isEmpty();
      assertThat(b.findByNarUrl("nar/x.nar")).isEmpty();
      assertThat(b.recentLive(0, 10)).isEmpty();
      assertThat(b.failedReads()).isEqualTo(3);

      for (int i = 0; i < PostgresRouteBackend.QUEUE + 5; i++) {
        b.upsert(route(i));
      }
      assertThat(b.queuedWrites()).isEqualTo(PostgresRouteBackend.QUEUE);
      assertThat(b.droppedWrites()).isEqualTo(5);
      b.negatives().added("h", Long.MAX_VALUE);
      b.touch(List.of(new RouteBackend.Touch("h", 1)));
      assertThat(b.droppedWrites()).isEqualTo(7);
      assertThat(b.negatives().learned("h")).isZero();
    }
  }

  @Test
  void settingsNeverPrintThePassword() {
    PostgresSettings s = new PostgresSettings(
        "jdbc:postgresql://db/ncro",
        "postgresql://ncro@db/ncro",
        "ncro",
        PASSWORD,
        null,
        Map.of(),
        8);
    assertThat(s.toString()).doesNotContain(PASSWORD);
    PostgresPassword p = new PostgresPassword("ncro", PASSWORD, null);
    assertThat(p.toString()).doesNotContain(PASSWORD);
    assertThat(p.scrub("FATAL: something " + PASSWORD + " echoed"))
        .isEqualTo("FATAL: something ******** echoed");
  }
}
