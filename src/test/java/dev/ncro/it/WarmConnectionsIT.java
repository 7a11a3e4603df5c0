package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Health;
import dev.ncro.upstream.Upstream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 15 goal 3: {@code warm_connections}. A fresh ncro opens idle keep-alive connections to each
 * upstream once its start-up probe answered, so the first race does not pay a handshake; the
 * upstream's own accept count proves which connection a request went out on. The start-up probe
 * (a HEAD, whose connection ncro closes) is the one other connection each upstream sees.
 */
class WarmConnectionsIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private int dbs;

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private NcroHarness ncro(List<UpstreamConfig> upstreams, Duration probeInterval)
      throws Exception {
    return open.keep(NcroHarness.start(
        NcroHarness.config(dir.resolve("routes-" + dbs++ + ".db"), upstreams, probeInterval)));
  }

  private static UpstreamConfig config(TestUpstream u, int warm) {
    return new UpstreamConfig(u.uri(), 10, List.of()).withWarmConnections(warm);
  }

  private static String narinfo(TestUpstream u, int i) {
    String h = TestNarinfo.hash(i);
    u.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar", 10, null));
    return "/" + h + ".narinfo";
  }

  @Test
  void warmConnectionsAreOpenBeforeAnyRequestAndTheFirstRaceUsesOne() throws Exception {
    TestUpstream up = upstream();
    String path = narinfo(up, 1);
    NcroHarness n = ncro(List.of(config(up, 3)), Duration.ofHours(1));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until(
        "three idle connections, the probe's closed",
        () -> u.stats().idleConnections() == 3 && up.openConnections() == 3);
    assertThat(up.requests())
        .extracting(TestUpstream.Request::path)
        .containsOnly("/nix-cache-info");
    assertThat(up.connectionCount())
        .as("the probe's connection and three warm ones")
        .isEqualTo(4);
    String metrics = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(metrics).contains("ncro_upstream_idle_connections{upstream=\"" + u.name() + "\"} 3");

    HttpResponse<byte[]> r = n.get(path);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(up.uri().getAuthority());
    assertThat(up.connectionCount())
        .as("the race went out on a warm connection")
        .isEqualTo(4);
    Await.until("the connection is back in the pool", () -> u.stats().idleConnections() == 3);
  }

  @Test
  void connectionsTheUpstreamClosesAreReplaced() throws Exception {
    TestUpstream up = upstream();
    String path = narinfo(up, 2);
    NcroHarness n = ncro(List.of(config(up, 2)), Duration.ofHours(1));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until(
        "two idle connections",
        () -> u.stats().idleConnections() == 2 && up.openConnections() == 2);
    int before = up.connectionCount();

    up.closeConnections(); // as a keep-alive timeout does
    Await.until(
        "both replaced",
        () -> up.connectionCount() == before + 2
            && up.openConnections() == 2
            && u.stats().idleConnections() == 2);
    assertThat(n.get(path).statusCode()).isEqualTo(200);
    assertThat(up.connectionCount()).as("served on a replacement").isEqualTo(before + 2);
  }

  @Test
  void aServerThatKeepsClosingIdleConnectionsAtOnceIsLeftAloneUntilTheNextProbe() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(List.of(config(up, 2)), Duration.ofHours(1));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until(
        "two idle connections",
        () -> u.stats().idleConnections() == 2 && up.openConnections() == 2);
    int before = up.connectionCount();
    up.closeConnections(); // once: a restart, say; replaced
    Await.until(
        "both replaced",
        () -> up.connectionCount() == before + 2 && u.stats().idleConnections() == 2);
    up.closeConnections(); // again within seconds: a short keep-alive timeout
    Await.until(
        "ncro saw both closed",
        () -> u.stats().idleConnections() == 0 && up.openConnections() == 0);
    assertThat(up.connectionCount())
        .as("no third round of reconnects before the next probe")
        .isEqualTo(before + 2);
    assertThat(up.requests())
        .extracting(TestUpstream.Request::path)
        .containsOnly("/nix-cache-info");
  }

  @Test
  void aRequestRightAfterTheUpstreamClosedThemStillGetsItsAnswer() throws Exception {
    TestUpstream up = upstream();
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      paths.add(narinfo(up, 10 + i));
    }
    NcroHarness n = ncro(List.of(config(up, 4)), Duration.ofHours(1));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until("four idle connections", () -> u.stats().idleConnections() == 4);
    up.closeConnections();
    // Whether ncro has seen each close yet or not: a closed connection is never handed over, or
    // the request is retried once on a new one, as for any pooled connection.
    for (String p : paths) {
      assertThat(n.get(p).statusCode()).isEqualTo(200);
    }
    assertThat(u.stats().state()).isEqualTo(Health.ACTIVE);
    assertThat(u.stats().consecutiveFailures()).isZero();
  }

  @Test
  void noneToAnUpstreamThatRefusesOrFailsUntilItAnswersAgain() throws Exception {
    TestUpstream healthy = upstream();
    TestUpstream refusing = upstream();
    refusing.put("/nix-cache-info", TestUpstream.Response.status(401));
    TestUpstream failing = upstream();
    failing.status5xxForAll(503);
    NcroHarness n = ncro(
        List.of(config(healthy, 3), config(refusing, 3), config(failing, 3)),
        Duration.ofMillis(300));
    Upstream h = n.ncro().registry().all().get(0);
    Upstream r = n.ncro().registry().all().get(1);
    Upstream f = n.ncro().registry().all().get(2);
    Await.until(
        "the healthy upstream is warm and two probe rounds went by",
        () -> h.stats().idleConnections() == 3
            && refusing.requestCount("/nix-cache-info") >= 2
            && failing.requestCount("/nix-cache-info") >= 2);
    assertThat(r.stats().state()).isEqualTo(Health.UNAUTHORIZED);
    for (TestUpstream bad : List.of(refusing, failing)) {
      // One connection per probe (a HEAD's is closed after it); one more may be accepted and its
      // probe not yet read.
      assertThat(bad.connectionCount())
          .isLessThanOrEqualTo(bad.requestCount("/nix-cache-info") + 1);
      assertThat(bad.requests())
          .extracting(TestUpstream.Request::path)
          .containsOnly("/nix-cache-info");
    }
    assertThat(r.stats().idleConnections()).isZero();
    assertThat(f.stats().idleConnections()).isZero();

    failing.behave(); // back: the next successful probe warms it
    Await.until(
        "the recovered upstream is warm",
        () -> f.stats().idleConnections() == 3 && failing.openConnections() >= 3);
    assertThat(r.stats().idleConnections()).isZero();
  }

  @Test
  void neverMoreThanMaxInflight() throws Exception {
    TestUpstream up = upstream();
    NcroHarness n = ncro(
        List.of(
            new UpstreamConfig(up.uri(), 10, List.of()).withMaxInflight(2).withWarmConnections(5)),
        Duration.ofHours(1));
    Upstream u = n.ncro().registry().all().get(0);
    Await.until(
        "two idle connections, the probe's closed",
        () -> u.stats().idleConnections() == 2 && up.openConnections() == 2);
    assertThat(up.connectionCount()).as("the probe's and two warm ones").isEqualTo(3);
  }
}
