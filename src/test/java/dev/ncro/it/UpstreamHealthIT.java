package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Health;
import dev.ncro.upstream.Upstream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Probes, health states and recovery, against real loopback upstreams that fail in real ways. */
class UpstreamHealthIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro(List<URI> upstreams, Duration probeInterval) throws Exception {
    return open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, null), probeInterval)));
  }

  @Test
  void probesUseGetWhenHeadIsRefusedAndFeedTheEma() throws Exception {
    TestUpstream old = open.keep(TestUpstream.start());
    old.refuseHead(true);
    NcroHarness n = ncro(List.of(old.uri()), Duration.ofMillis(200));
    Upstream u = n.ncro().registry().all().get(0);

    Await.until(
        "a GET probe",
        () -> old.requests().stream()
            .anyMatch(r -> r.method().equals("GET") && r.path().equals("/nix-cache-info")));
    Await.until("an EMA sample", () -> !Double.isNaN(u.stats().emaMillis()));
    assertThat(u.stats().health()).isEqualTo(Health.ACTIVE);
    long heads = count(old, "HEAD");
    long gets = count(old, "GET");
    // Three more probes (200 ms apart) prove the prober is still running; none of them is a HEAD.
    Await.until("three more GET probes", () -> count(old, "GET") >= gets + 3);
    assertThat(count(old, "HEAD")).as("HEAD is not retried once refused").isEqualTo(heads);
  }

  @Test
  void startsWithEveryUpstreamUnreachableThenGoesDownAndRecovers() throws Exception {
    TestUpstream gone = TestUpstream.start();
    int port = gone.uri().getPort();
    gone.close(); // connections are now refused
    NcroHarness n = ncro(List.of(URI.create("http://127.0.0.1:" + port)), Duration.ofMillis(100));
    Upstream u = n.ncro().registry().all().get(0);

    String h = TestNarinfo.hash(40);
    assertThat(n.get("/" + h + ".narinfo").statusCode())
        .as("unknown, not absent")
        .isEqualTo(503);
    Await.until("DOWN after 10 failures", () -> u.stats().health() == Health.DOWN);
    assertThat(n.get("/health").statusCode()).isEqualTo(503);
    assertThat(n.get("/nix-cache-info").statusCode()).isEqualTo(200);

    TestUpstream back = open.keep(TestUpstream.start(port));
    back.putNarinfo(h, TestNarinfo.make(h, "nar/z.nar", 10, null));
    Await.until("ACTIVE after a successful probe", () -> u.stats().health() == Health.ACTIVE);
    assertThat(n.get("/health").statusCode()).isEqualTo(200);
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
  }

  @Test
  void liveTrafficFailuresCountBeforeAnyProbe() throws Exception {
    TestUpstream good = open.keep(TestUpstream.start());
    TestUpstream broken = open.keep(TestUpstream.start());
    NcroHarness n = ncro(List.of(good.uri(), broken.uri()), Duration.ofHours(1));
    Upstream bad = n.ncro().registry().all().get(1);
    Await.until("start-up probe answered", () -> broken.requestCount("/nix-cache-info") > 0);
    broken.status5xxForAll(502);

    for (int i = 0; i < 3; i++) {
      String h = TestNarinfo.hash(50 + i);
      good.putNarinfo(h, TestNarinfo.make(h, "nar/" + i + ".nar", 10, null));
      assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    }
    Await.until("DEGRADED after 3 live failures", () -> bad.stats().health() == Health.DEGRADED);
    assertThat(bad.stats().consecutiveFailures()).isEqualTo(3);
  }

  @Test
  void aBlackHoleDoesNotDelayAnAnswerAnotherUpstreamHas() throws Exception {
    TestUpstream good = open.keep(TestUpstream.start());
    TestUpstream hole = open.keep(TestUpstream.start());
    NcroHarness n = ncro(List.of(hole.uri(), good.uri()), Duration.ofSeconds(1));
    Await.until(
        "start-up probes answered",
        () -> hole.requestCount("/nix-cache-info") > 0 && good.requestCount("/nix-cache-info") > 0);
    hole.hangAll();
    String h = TestNarinfo.hash(60);
    good.putNarinfo(h, TestNarinfo.make(h, "nar/g.nar", 10, null));
    long t0 = System.nanoTime();
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(Duration.ofNanos(System.nanoTime() - t0))
        .as("not the 2 s first-byte timeout")
        .isLessThan(Duration.ofMillis(1500));

    // Absent from the good one while the hole never answers: unknown → 503 after the first-byte
    // timeout.
    assertThat(n.get("/" + TestNarinfo.hash(61) + ".narinfo").statusCode()).isEqualTo(503);
    Upstream holeStats = n.ncro().registry().all().get(0);
    assertThat(holeStats.stats().suspended()).as("suspended after its timeout").isTrue();

    // Suspended: no longer asked, so it costs no more timeouts, but its silence still means
    // "unknown".
    String next = TestNarinfo.hash(62);
    assertThat(n.get("/" + next + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(hole.requestCount("/" + next + ".narinfo")).isZero();
    assertThat(n.get("/" + TestNarinfo.hash(63) + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .isEmpty();

    // It answers again: the next probe lifts the suspension and races include it again.
    hole.behave();
    Await.until("probe lifts the suspension", () -> !holeStats.stats().suspended());
    String later = TestNarinfo.hash(64);
    assertThat(n.get("/" + later + ".narinfo").statusCode()).isEqualTo(404);
    assertThat(hole.requestCount("/" + later + ".narinfo")).isEqualTo(1);
  }

  private static long count(TestUpstream u, String method) {
    return u.requests().stream()
        .filter(r -> r.method().equals(method) && r.path().equals("/nix-cache-info"))
        .count();
  }
}
