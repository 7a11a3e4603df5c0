package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.LogCapture;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Upstream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * An upstream that rate-limits (429, 503 with Retry-After): it is left out of races and NAR
 * attempts for the wait it names, the others answer meanwhile, a path only it may hold is a 503
 * (never a 404 Nix would remember), and it is asked again once the wait is over.
 */
class ThrottleIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private NcroHarness ncro(List<URI> upstreams) throws Exception {
    return open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, null), Duration.ofHours(1))));
  }

  private static long narinfoRequests(TestUpstream u) {
    return u.requests().stream().filter(r -> r.path().endsWith(".narinfo")).count();
  }

  @Test
  void a429LeavesTheUpstreamOutForItsRetryAfterWhileTheOthersAnswer() throws Exception {
    TestUpstream busy = open.keep(TestUpstream.start());
    TestUpstream other = open.keep(TestUpstream.start());
    LogCapture logs = open.keep(new LogCapture());
    NcroHarness n = ncro(List.of(busy.uri(), other.uri()));
    Upstream b = n.ncro().registry().all().get(0);
    n.awaitProbedAndWarm(Duration.ZERO); // both probed: the start-up probes are not counted below
    busy.throttleAll(429, "120");

    for (int i = 0; i < 5; i++) {
      String h = TestNarinfo.hash(300 + i);
      other.putNarinfo(h, TestNarinfo.make(h, "nar/" + i + ".nar", 10, null));
      assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    }
    assertThat(narinfoRequests(busy)).as("asked once, then left alone").isEqualTo(1);
    assertThat(b.stats().throttledMillis()).isGreaterThan(100_000);
    assertThat(b.usable()).isTrue();
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"throttled\",upstream=\"" + busy.uri() + "\"}"))
        .isEqualTo(1);
    assertThat(n.get("/status").body()).asString().contains("\"throttled_ms\"");
    assertThat(logs.lines().stream().filter(l -> l.contains("asked to slow down")))
        .singleElement()
        .satisfies(l -> assertThat(l).contains("retry_after=120s"));

    // Absent from the others, and the throttled one not asked: not known to be absent.
    String onlyBusy = TestNarinfo.hash(399);
    assertThat(n.get("/" + onlyBusy + ".narinfo").statusCode()).isEqualTo(503);
    assertThat(narinfoRequests(busy)).isEqualTo(1);
  }

  @Test
  void aNarAnswered429IsFetchedFromTheNextHolderInstead() throws Exception {
    TestUpstream busy = open.keep(TestUpstream.start());
    TestUpstream other = open.keep(TestUpstream.start());
    byte[] nar = new byte[200_000];
    new Random(5).nextBytes(nar);
    String h = TestNarinfo.hash(310);
    for (TestUpstream u : List.of(busy, other)) {
      u.putNarinfo(h, TestNarinfo.make(h, "nar/t.nar", nar.length, null));
      u.putNar("/nar/t.nar", nar);
    }
    NcroHarness n = ncro(List.of(busy.uri(), other.uri()));
    n.awaitProbedAndWarm(Duration.ZERO); // both probed: the start-up probes are not counted below
    routeTo(n, busy, other, h);
    busy.throttleAll(429, null); // no Retry-After: ncro backs off on its own
    var got = n.get("/nar/t.nar");
    assertThat(got.statusCode()).isEqualTo(200);
    assertThat(got.body()).isEqualTo(nar);
    assertThat(busy.requestCount("/nar/t.nar"))
        .as("the routed holder was asked first")
        .isEqualTo(1);
    assertThat(n.ncro().registry().all().get(0).stats().throttledMillis()).isPositive();
  }

  @Test
  void aNarAnsweredWithS3sSlowDownBacksOffThatUpstream() throws Exception {
    TestUpstream bucket = open.keep(TestUpstream.start());
    TestUpstream other = open.keep(TestUpstream.start());
    byte[] nar = new byte[100_000];
    new Random(6).nextBytes(nar);
    other.putNar("/nar/s.nar", nar);
    // S3 (and S3-compatible stores) answer a request rate over the limit this way: 503, no
    // Retry-After, the reason only in the XML body
    bucket.put("/nar/s.nar", slowDown());
    other.put(
        "/nar/plain503.nar",
        new TestUpstream.Response(
            503,
            "text/html",
            "<html>maintenance</html>".getBytes(StandardCharsets.UTF_8),
            -1,
            false));
    NcroHarness n = ncro(List.of(bucket.uri(), other.uri()));
    n.awaitProbedAndWarm(Duration.ZERO);
    Upstream b = n.ncro().registry().all().get(0);
    Upstream o = n.ncro().registry().all().get(1);
    String h = TestNarinfo.hash(320);
    for (TestUpstream u : List.of(bucket, other)) {
      u.putNarinfo(h, TestNarinfo.make(h, "nar/s.nar", nar.length, null));
    }
    routeTo(n, bucket, other, h);

    var got = n.get("/nar/s.nar");
    assertThat(got.statusCode()).isEqualTo(200);
    assertThat(got.body()).isEqualTo(nar);
    assertThat(bucket.requestCount("/nar/s.nar"))
        .as("the routed bucket was asked first")
        .isEqualTo(1);
    assertThat(b.stats().throttledMillis()).as("the bucket backs off").isPositive();
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"throttled\",upstream=\"" + bucket.uri() + "\"}"))
        .isEqualTo(1);

    // A 503 without SlowDown (or Retry-After) is a plain failure: no throttle
    assertThat(n.get("/nar/plain503.nar").statusCode()).isEqualTo(502);
    assertThat(o.stats().throttledMillis()).isZero();
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"status_5xx\",upstream=\"" + other.uri() + "\"}"))
        .isEqualTo(1);
  }

  @Test
  void aBuildLogAnsweredWithS3sSlowDownBacksOffThatUpstream() throws Exception {
    TestUpstream bucket = open.keep(TestUpstream.start());
    TestUpstream other = open.keep(TestUpstream.start());
    String log = "/log/" + TestNarinfo.hash(330) + "-hello-2.12.drv";
    byte[] text = "building hello\n".getBytes(StandardCharsets.UTF_8);
    other.put(log, TestUpstream.Response.ok(text).withType("text/plain"));
    bucket.put(log, slowDown());
    NcroHarness n = ncro(List.of(bucket.uri(), other.uri()));
    n.awaitProbedAndWarm(Duration.ZERO);

    var got = n.get(log);
    assertThat(got.statusCode()).isEqualTo(200);
    assertThat(got.body()).isEqualTo(text);
    Await.until(
        "the bucket's answer settled",
        () -> n.ncro().registry().all().get(0).stats().throttledMillis() > 0);
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"throttled\",upstream=\"" + bucket.uri() + "\"}"))
        .isEqualTo(1);
    assertThat(n.metric(
            "ncro_upstream_errors_total{kind=\"protocol\",upstream=\"" + bucket.uri() + "\"}"))
        .isZero();
  }

  /** Makes {@code winner} the route of {@code h} (and so the first asked for its NAR). */
  private static void routeTo(NcroHarness n, TestUpstream winner, TestUpstream loser, String h)
      throws Exception {
    loser.setLatency(Duration.ofMillis(150));
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(n.ncro().store().get(h).orElseThrow().upstream())
        .isEqualTo(winner.uri().toString());
    loser.setLatency(Duration.ZERO);
  }

  /** S3's answer to a request rate over its limit: 503, no Retry-After, the reason in XML. */
  private static TestUpstream.Response slowDown() {
    return new TestUpstream.Response(
        503,
        "application/xml",
        ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
                + "<Message>Please reduce your request rate.</Message></Error>")
            .getBytes(StandardCharsets.UTF_8),
        -1,
        false);
  }

  @Test
  void afterTheWaitTheUpstreamIsAskedAgain() throws Exception {
    TestUpstream busy = open.keep(TestUpstream.start());
    TestUpstream other = open.keep(TestUpstream.start());
    NcroHarness n = ncro(List.of(busy.uri(), other.uri()));
    Upstream b = n.ncro().registry().all().get(0);
    n.awaitProbedAndWarm(Duration.ZERO); // both probed: the start-up probes are not counted below
    busy.throttleAll(503, "1"); // maintenance: 503 with Retry-After
    String first = TestNarinfo.hash(320);
    other.putNarinfo(first, TestNarinfo.make(first, "nar/a.nar", 10, null));
    assertThat(n.get("/" + first + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(b.available()).isFalse();
    busy.behave();
    Await.until("the wait is over", b::available);
    String second = TestNarinfo.hash(321);
    busy.putNarinfo(second, TestNarinfo.make(second, "nar/b.nar", 10, null));
    assertThat(n.get("/" + second + ".narinfo").statusCode()).isEqualTo(200);
    assertThat(n.ncro().store().get(second).orElseThrow().upstream())
        .isEqualTo(busy.uri().toString());
  }
}
