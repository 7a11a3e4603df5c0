package dev.ncro.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.LogCapture;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Three ncro nodes on one real PostgreSQL ({@code cache.store: postgresql}): what one node learns,
 * every node knows (routes and negative entries), and the database going away never fails a
 * request.
 */
class PostgresFleetIT extends WithPostgresFleet {
  private static final TestKey KEY = new TestKey("fleet-1");

  private TestUpstream fast;
  private TestUpstream slow;

  @BeforeEach
  void startUpstreams() throws Exception {
    fast = open.keep(TestUpstream.start());
    slow = open.keep(TestUpstream.start());
  }

  private NcroHarness node() throws Exception {
    return fleet.node(List.of(fast.uri(), slow.uri()), KEY);
  }

  private byte[] publish(int i) {
    String h = TestNarinfo.hash(i);
    byte[] body = TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000 + i, KEY);
    fast.putNarinfo(h, body);
    slow.putNarinfo(h, body);
    return body;
  }

  private int narinfoRequests(String h) {
    return fast.requestCount("/" + h + ".narinfo") + slow.requestCount("/" + h + ".narinfo");
  }

  @Test
  void aRouteResolvedOnOneNodeIsACacheHitOnTheOthersWithNoUpstreamContact() throws Exception {
    NcroHarness a = node();
    NcroHarness b = node();
    NcroHarness c = node();
    String h = TestNarinfo.hash(1);
    byte[] body = publish(1);

    HttpResponse<byte[]> first = a.get("/" + h + ".narinfo");
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.headers().firstValue("X-Ncro-Route")).hasValue("race");
    Await.until("node A's route reached the database", () -> fleet.hasRoute(h));
    fast.clearRequests();
    slow.clearRequests();

    for (NcroHarness other : List.of(b, c)) {
      HttpResponse<byte[]> r = other.get("/" + h + ".narinfo");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(body);
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("cache-hit");
      // The upstream node A's race chose.
      assertThat(r.headers().firstValue("X-Ncro-Upstream"))
          .isEqualTo(first.headers().firstValue("X-Ncro-Upstream"));
    }
    assertThat(narinfoRequests(h)).isZero();
    assertThat(fast.requests()).isEmpty();
    assertThat(slow.requests()).isEmpty();
    // Read again soon on B: the doorkeeper lets it into B's memory (a route read once is left to
    // the database), where later hits need no database round trip either.
    assertThat(b.ncro().store().getCached(h)).isNull();
    assertThat(b.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .hasValue("cache-hit");
    assertThat(b.ncro().store().getCached(h)).isNotNull();
  }

  @Test
  void aPathEveryUpstreamLacksIsNegativeOnAllThreeNodes() throws Exception {
    NcroHarness a = node();
    NcroHarness b = node();
    NcroHarness c = node();
    String h = TestNarinfo.hash(2);

    HttpResponse<byte[]> first = a.get("/" + h + ".narinfo");
    assertThat(first.statusCode()).isEqualTo(404);
    assertThat(first.headers().firstValue("X-Ncro-Route")).isEmpty();
    Await.until("node A's negative entry reached the database", () -> fleet.hasNegative(h));
    fast.clearRequests();
    slow.clearRequests();

    for (NcroHarness n : List.of(a, b, c)) {
      HttpResponse<byte[]> r = n.get("/" + h + ".narinfo");
      assertThat(r.statusCode()).isEqualTo(404);
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("negative");
    }
    assertThat(narinfoRequests(h)).isZero();
  }

  @Test
  void postgresStoppedMidRunEveryNodeKeepsAnsweringThenReconnectsAndSharesAgain() throws Exception {
    NcroHarness a = node();
    NcroHarness b = node();
    NcroHarness c = node();
    List<NcroHarness> all = List.of(a, b, c);
    String known = TestNarinfo.hash(3);
    publish(3);
    assertThat(a.get("/" + known + ".narinfo").statusCode()).isEqualTo(200);
    Await.until("route shared", () -> fleet.hasRoute(known));

    LogCapture logs = open.keep(new LogCapture());
    pg.stop();
    int i = 10;
    for (NcroHarness n : all) {
      // A route in this node's memory, a route only the database had, a path never seen: all
      // answered.
      assertThat(n.get("/" + known + ".narinfo").statusCode()).isEqualTo(200);
      String fresh = TestNarinfo.hash(i);
      byte[] body = publish(i++);
      HttpResponse<byte[]> r = n.get("/" + fresh + ".narinfo");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(body);
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("race");
      String absent = TestNarinfo.hash(i++);
      assertThat(n.get("/" + absent + ".narinfo").statusCode()).isEqualTo(404);
    }
    for (NcroHarness n : all) {
      Await.until("the store is reported down", () -> status(n).contains("\"state\":\"down\""));
      HttpResponse<byte[]> health = n.get("/health");
      assertThat(health.statusCode()).isEqualTo(200);
      assertThat(PostgresFleet.text(health.body())).contains("route store postgresql down");
      assertThat(PostgresFleet.text(n.get("/metrics").body()))
          .contains("ncro_store_up{store=\"postgresql\"} 0");
    }

    pg.restart();
    for (NcroHarness n : all) {
      Await.until("node reconnected", () -> status(n).contains("\"state\":\"up\""));
    }
    // Writes queued during the outage arrived.
    String queued = TestNarinfo.hash(10);
    Await.until(
        "a route learned during the outage reached the database", () -> fleet.hasRoute(queued));
    String after = TestNarinfo.hash(40);
    byte[] body = publish(40);
    assertThat(c.get("/" + after + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .hasValue("race");
    Await.until("route learned after the restart shared", () -> fleet.hasRoute(after));
    fast.clearRequests();
    slow.clearRequests();
    for (NcroHarness n : List.of(a, b)) {
      HttpResponse<byte[]> r = n.get("/" + after + ".narinfo");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(body);
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("cache-hit");
    }
    assertThat(narinfoRequests(after)).isZero();
    for (NcroHarness n : all) {
      assertThat(PostgresFleet.text(n.get("/metrics").body()))
          .contains("ncro_store_up{store=\"postgresql\"} 1");
    }
    // The outage is logged as state changes (a node may see a second one if a connection broken by
    // the restart fails after it reconnected), not as a warning per pooled connection.
    List<String> lines = logs.lines();
    assertThat(lines).noneMatch(l -> l.contains("com.zaxxer") && !l.startsWith("DEBUG"));
    assertThat(
            lines.stream().filter(l -> l.contains("route database unavailable")).count())
        .isBetween(3L, 6L);
    assertThat(
            lines.stream().filter(l -> l.contains("route database connected")).count())
        .isBetween(3L, 6L);
  }

  @Test
  void theLruBoundIsSharedAndEnforcedByOneNode() throws Exception {
    NcroHarness a =
        fleet.node(List.of(fast.uri(), slow.uri()), KEY.publicKey(), "  max_entries: 3\n");
    NcroHarness b =
        fleet.node(List.of(fast.uri(), slow.uri()), KEY.publicKey(), "  max_entries: 3\n");
    for (int i = 50; i < 56; i++) {
      publish(i);
      NcroHarness n = i % 2 == 0 ? a : b;
      assertThat(n.get("/" + TestNarinfo.hash(i) + ".narinfo").statusCode()).isEqualTo(200);
    }
    Await.until("the table is back within max_entries", () -> {
      try {
        return fleet.routeCount() <= 3;
      } catch (Exception e) {
        return false;
      }
    });
    // The newest route stays.
    assertThat(fleet.hasRoute(TestNarinfo.hash(55))).isTrue();
  }

  /**
   * A secret manager rotates the role's password and the file; the server then drops ncro's
   * sessions (as a failover or max lifetime would). New connections must use the file's new
   * password, with no restart: new routes reach the database again.
   */
  @Test
  void aRotatedDatabasePasswordIsUsedForNewConnectionsWithoutARestart() throws Exception {
    NcroHarness a = node();
    publish(70);
    assertThat(a.get("/" + TestNarinfo.hash(70) + ".narinfo").statusCode()).isEqualTo(200);
    Await.until("the first route shared", () -> fleet.hasRoute(TestNarinfo.hash(70)));

    String rotated = "pw-rotated-" + Long.toHexString(System.nanoTime());
    try (LogCapture logs = new LogCapture()) {
      pg.sql("postgres", "ALTER ROLE " + fleet.database + " PASSWORD '" + rotated + "'");
      Path next = fleet.passwordFile.resolveSibling("db-password.new");
      Files.writeString(next, rotated + "\n");
      Files.move(
          next,
          fleet.passwordFile,
          StandardCopyOption.ATOMIC_MOVE,
          StandardCopyOption.REPLACE_EXISTING);
      fleet.dropSessions();

      String h = TestNarinfo.hash(71);
      publish(71);
      assertThat(a.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
      Await.until(
          "a route learned after the rotation reached the database",
          Duration.ofSeconds(30),
          () -> fleet.hasRoute(h));
      Await.until("the store is up", () -> status(a).contains("\"state\":\"up\""));
      assertThat(logs.lines())
          .anyMatch(l -> l.contains("credential file changed") && l.contains("cache.postgresql"));

      // A broken rewrite: new connections keep the last good password, and the metric tells.
      Files.writeString(fleet.passwordFile, "");
      fleet.dropSessions();
      String h2 = TestNarinfo.hash(72);
      publish(72);
      assertThat(a.get("/" + h2 + ".narinfo").statusCode()).isEqualTo(200);
      Await.until(
          "a route reached the database on the last good password",
          Duration.ofSeconds(30),
          () -> fleet.hasRoute(h2));
      assertThat(PostgresFleet.text(a.get("/metrics").body()))
          .contains("ncro_credential_files_unusable{kind=\"database\"} 1.0");
      String everything = status(a)
          + PostgresFleet.text(a.get("/metrics").body())
          + String.join("\n", logs.lines());
      assertThat(everything).doesNotContain(rotated).doesNotContain(fleet.password);
    }
  }

  @Test
  void thePasswordAppearsNowhere() throws Exception {
    try (LogCapture logs = new LogCapture()) {
      NcroHarness a = node();
      publish(60);
      a.get("/" + TestNarinfo.hash(60) + ".narinfo");
      pg.stop();
      Await.until("the store is reported down", () -> status(a).contains("\"state\":\"down\""));
      String everything = status(a)
          + PostgresFleet.text(a.get("/metrics").body())
          + PostgresFleet.text(a.get("/health").body())
          + String.join("\n", logs.lines());
      assertThat(everything).contains(fleet.database).doesNotContain(fleet.password);
      pg.restart();
    }
  }

  private static String status(NcroHarness n) {
    try {
      return PostgresFleet.text(n.get("/status").body());
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
