package dev.ncro.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.NcroProcess;
import dev.ncro.support.ProcessResources;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A node on PostgreSQL that lives through outages and failovers holds no more file descriptors,
 * threads or database sessions after five more of them. Each outage makes the pool fail, retry and
 * reconnect, and each failover ends every session under it; a reconnect path that forgets one
 * socket or one session leaks a little per outage, which a fleet on a flaky database would only
 * notice weeks later as EMFILE or PostgreSQL's {@code too many clients}. ncro runs as its own
 * process so its descriptors and threads are counted from {@code /proc}; the sessions are counted
 * from {@code pg_stat_activity} for the node's own role.
 */
class PostgresResourceStabilityIT extends WithPostgresFleet {
  private static final int POOL_SIZE = 4; // PostgresFleet.cacheYaml
  private static final int ROUNDS = 5;

  private int seed = 1_000;

  @Test
  void outagesAndFailoversLeakNeitherDescriptorsThreadsNorSessions() throws Exception {
    TestUpstream upstream = open.keep(TestUpstream.start());
    Path cfg = dir.resolve("ncro.yaml");
    Files.writeString(cfg, """
        server:
          listen: "127.0.0.1:0"
        upstreams:
          - {url: "%s", priority: 10, warm_connections: 0}
        timeouts:
          connect: 2s
          first_byte: 3s
        logging:
          format: text
        %s""".formatted(upstream.uri(), fleet.cacheYaml("")));
    NcroProcess ncro = open.keep(NcroProcess.start(cfg));

    round(ncro, upstream);
    awaitStoreUp(ncro);
    long fds = ProcessResources.descriptors(ncro.pid());
    long threads = ProcessResources.threads(ncro.pid());
    long sessions = sessions();
    assertThat(sessions).as("the node's sessions after the first round").isBetween(1L, (long)
        POOL_SIZE);
    for (int r = 0; r < ROUNDS; r++) {
      round(ncro, upstream);
    }
    awaitStoreUp(ncro);
    // The pool may hold up to POOL_SIZE connections where it held fewer after the first round.
    ProcessResources.atMost(
        "ncro's descriptors", () -> ProcessResources.descriptors(ncro.pid()), fds, POOL_SIZE + 2);
    ProcessResources.atMost(
        "ncro's threads", () -> ProcessResources.threads(ncro.pid()), threads, 4);
    ProcessResources.atMost(
        "the node's database sessions", this::sessions, sessions, POOL_SIZE - sessions);
  }

  /**
   * Routes learned and read while the database is up, then while it is down, then after a failover
   * (every session ended under the node): each phase is answered, and the node reconnects.
   */
  private void round(NcroProcess ncro, TestUpstream upstream) throws Exception {
    try (HttpClient client = HttpClient.newHttpClient()) {
      traffic(client, ncro, upstream);
      pg.stop();
      Await.until(
          "the store reported down", () -> ncro.text("/status").contains("\"state\":\"down\""));
      traffic(client, ncro, upstream);
      pg.restart();
      awaitStoreUp(ncro);
      fleet.dropSessions(); // a failover: every session of the node's role ends at once
      traffic(client, ncro, upstream);
      awaitStoreUp(ncro);
    }
  }

  /** Four new routes (raced, stored) and each read back, and a miss: all answered. */
  private void traffic(HttpClient client, NcroProcess ncro, TestUpstream upstream)
      throws Exception {
    for (int i = 0; i < 4; i++) {
      String h = TestNarinfo.hash(seed++);
      byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar", 1_000, null);
      upstream.putNarinfo(h, body);
      for (int twice = 0; twice < 2; twice++) {
        HttpResponse<byte[]> r = get(client, ncro, "/" + h + ".narinfo");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo(body);
      }
    }
    assertThat(get(client, ncro, "/" + TestNarinfo.hash(seed++) + ".narinfo").statusCode())
        .isEqualTo(404);
  }

  private static void awaitStoreUp(NcroProcess ncro) throws InterruptedException {
    Await.until(
        "the store reported up",
        Duration.ofSeconds(30),
        () -> ncro.text("/status").contains("\"state\":\"up\""));
  }

  private long sessions() {
    try (Connection c = pg.connect("postgres");
        PreparedStatement ps =
            c.prepareStatement("SELECT count(*) FROM pg_stat_activity WHERE usename = ?")) {
      ps.setString(1, fleet.database);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  private static HttpResponse<byte[]> get(HttpClient client, NcroProcess ncro, String path)
      throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(ncro.uri(path)).timeout(Duration.ofSeconds(20)).build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }
}
