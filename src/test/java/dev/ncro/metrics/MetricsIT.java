package dev.ncro.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Upstream;
import java.io.File;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code /metrics} on a real ncro: the series exist from start-up, count real traffic, and pass promtool. */
class MetricsIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private String scrape(NcroHarness n) throws Exception {
    HttpResponse<byte[]> r = n.get("/metrics");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type"))
        .hasValueSatisfying(t -> assertThat(t).startsWith("text/plain; version=0.0.4"));
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  @Test
  void everyKnownSeriesExistsAtZeroThenCountsTraffic() throws Exception {
    TestUpstream fast = open.keep(TestUpstream.start());
    TestUpstream slow = open.keep(TestUpstream.start());
    slow.setLatency(Duration.ofMillis(100));
    NcroHarness n = open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("r.db"), NcroHarness.upstreams(List.of(fast.uri(), slow.uri()), null))));
    String f = fast.uri().toString();
    String s = slow.uri().toString();

    String m = scrape(n);
    promtoolAccepts(m);
    assertThat(m)
        .contains(
            "ncro_narinfo_cache_hits_total 0.0",
            "ncro_narinfo_cache_misses_total 0.0",
            "ncro_narinfo_requests_total{status=\"200\"} 0.0",
            "ncro_narinfo_requests_total{status=\"503\"} 0.0",
            "ncro_nar_requests_total 0.0",
            "ncro_upstream_race_wins_total{upstream=\"" + f + "\"} 0.0",
            "ncro_upstream_race_wins_total{upstream=\"" + s + "\"} 0.0",
            "ncro_upstream_latency_seconds_bucket{upstream=\"" + s + "\",le=\"0.001\"} 0",
            "ncro_upstream_latency_seconds_count{upstream=\"" + s + "\"} 0",
            "ncro_upstream_errors_total{kind=\"timeout\",upstream=\"" + s + "\"} 0.0",
            "ncro_upstream_errors_total{kind=\"bad_signature\",upstream=\"" + f + "\"} 0.0",
            "ncro_upstream_state{state=\"active\",upstream=\"" + f + "\"} 1.0",
            "ncro_upstream_state{state=\"down\",upstream=\"" + f + "\"} 0.0",
            "ncro_nar_bytes_total{upstream=\"" + f + "\"} 0.0",
            "ncro_nar_streams_in_flight 0.0",
            "ncro_route_entries 0.0",
            // the JVM and the process, registered at this first scrape
            "jvm_memory_used_bytes{area=\"heap\"}",
            "jvm_memory_max_bytes{area=\"heap\"}",
            "jvm_threads_current",
            "process_open_fds",
            "process_max_fds",
            "process_resident_memory_bytes");

    String h = TestNarinfo.hash(80);
    byte[] info = TestNarinfo.make(h, "nar/m.nar", 10, null);
    fast.putNarinfo(h, info);
    slow.putNarinfo(h, info);
    fast.putNar("/nar/m.nar", new byte[12345]);
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200); // race, won by fast
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200); // cache hit
    assertThat(n.get("/" + TestNarinfo.hash(81) + ".narinfo").statusCode())
        .isEqualTo(404); // race, absent
    assertThat(n.get("/" + TestNarinfo.hash(81) + ".narinfo").statusCode())
        .isEqualTo(404); // negative hit
    assertThat(n.get("/nar/m.nar").body()).hasSize(12345);
    String slowAnswers = "ncro_upstream_latency_seconds_count{upstream=\"" + s + "\"} 2";
    Await.until(
        "both of the slow loser's answers are in the histogram",
        () -> scrapeQuietly(n).contains(slowAnswers));

    m = scrape(n);
    promtoolAccepts(m);
    assertThat(m)
        .contains(
            "ncro_narinfo_cache_hits_total 1.0",
            "ncro_narinfo_cache_misses_total 2.0",
            "ncro_narinfo_negative_hits_total 1.0",
            "ncro_narinfo_requests_total{status=\"200\"} 2.0",
            "ncro_narinfo_requests_total{status=\"404\"} 2.0",
            "ncro_upstream_race_wins_total{upstream=\"" + f + "\"} 1.0",
            "ncro_upstream_race_wins_total{upstream=\"" + s + "\"} 0.0",
            "ncro_upstream_latency_seconds_count{upstream=\"" + s + "\"} 2",
            "ncro_upstream_latency_seconds_bucket{upstream=\"" + s + "\",le=\"0.05\"} 0",
            "ncro_nar_requests_total 1.0",
            "ncro_nar_bytes_total{upstream=\"" + f + "\"} 12345.0",
            "ncro_nar_streams_in_flight 0.0",
            "ncro_route_entries 1.0");
  }

  @Test
  void eachUpstreamErrorIncrementsItsKind() throws Exception {
    TestKey key = new TestKey("k-1");
    TestKey forger = new TestKey("k-1");
    TestUpstream good = TestUpstream.start();
    TestUpstream fiveHundred = TestUpstream.start();
    TestUpstream liar = TestUpstream.start();
    TestUpstream garbage = TestUpstream.start();
    TestUpstream hole = TestUpstream.start();
    TestUpstream gone = TestUpstream.start();
    List.of(good, fiveHundred, liar, garbage, hole).forEach(open::keep);
    int gonePort = gone.uri().getPort();
    gone.close();
    URI goneUri = URI.create("http://127.0.0.1:" + gonePort);
    NcroHarness n = open.keep(NcroHarness.start(NcroHarness.config(
        dir.resolve("e.db"),
        NcroHarness.upstreams(
            List.of(good.uri(), fiveHundred.uri(), liar.uri(), garbage.uri(), hole.uri(), goneUri),
            List.of(
                key.publicKey(),
                key.publicKey(),
                key.publicKey(),
                key.publicKey(),
                key.publicKey(),
                key.publicKey())),
        Duration.ofHours(1))));
    // Start-up probes are in (and counted) before the baseline: every upstream was probed once.
    List<Upstream> all = n.ncro().registry().all();
    Await.until(
        "every start-up probe answered or failed",
        () -> all.stream()
            .allMatch(u -> u.stats().lastProbeNanos() != 0
                && (!Double.isNaN(u.stats().emaMillis()) || u.stats().consecutiveFailures() > 0)));
    String before = scrape(n);
    fiveHundred.status5xxForAll(500);
    hole.hangAll();
    String h = TestNarinfo.hash(82);
    good.putNarinfo(h, TestNarinfo.make(h, "nar/e.nar", 10, key));
    good.setLatency(Duration.ofMillis(50));
    liar.putNarinfo(h, TestNarinfo.make(h, "nar/e.nar", 10, forger));
    garbage.putNarinfo(h, "StorePath: not a narinfo\n".getBytes(StandardCharsets.UTF_8));
    assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
    String holeTimeout =
        "ncro_upstream_errors_total{kind=\"timeout\",upstream=\"" + hole.uri() + "\"}";
    Await.until(
        "the black hole's first-byte timeout (2 s in the harness)",
        () -> delta(before, scrapeQuietly(n), holeTimeout) >= 1);

    String after = scrape(n);
    promtoolAccepts(after);
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"status_5xx\",upstream=\"" + fiveHundred.uri()
                + "\"}"))
        .isEqualTo(1);
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"bad_signature\",upstream=\"" + liar.uri() + "\"}"))
        .isEqualTo(1);
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"bad_narinfo\",upstream=\"" + garbage.uri() + "\"}"))
        .isEqualTo(1);
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"bad_signature\",upstream=\"" + garbage.uri()
                + "\"}"))
        .isZero();
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"timeout\",upstream=\"" + hole.uri() + "\"}"))
        .isEqualTo(1);
    // The refusing upstream failed its start-up probe and is suspended since, so races skip it.
    assertThat(value(
            after, "ncro_upstream_errors_total{kind=\"connect\",upstream=\"" + goneUri + "\"}"))
        .isPositive();
    assertThat(delta(
            before,
            after,
            "ncro_upstream_errors_total{kind=\"connect\",upstream=\"" + good.uri() + "\"}"))
        .isZero();
    assertThat(
            delta(before, after, "ncro_upstream_race_wins_total{upstream=\"" + good.uri() + "\"}"))
        .isEqualTo(1);
  }

  private String scrapeQuietly(NcroHarness n) {
    try {
      return scrape(n);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private static double delta(String before, String after, String series) {
    return value(after, series) - value(before, series);
  }

  private static double value(String exposition, String series) {
    return exposition
        .lines()
        .filter(l -> l.startsWith(series + " "))
        .findFirst()
        .map(l -> Double.parseDouble(l.substring(series.length() + 1)))
        .orElseThrow(() -> new AssertionError("no series " + series));
  }

  /** {@code promtool check metrics} (Debian package prometheus) reports no problem. */
  static void promtoolAccepts(String exposition) throws Exception {
    File promtool = new File("/usr/bin/promtool");
    assertThat(promtool)
        .as(
            "promtool is missing: install the Debian package 'prometheus' (bin/test does when root)")
        .isExecutable();
    Process p = new ProcessBuilder(promtool.getPath(), "check", "metrics")
        .redirectErrorStream(true)
        .start();
    p.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(out).as("promtool output").isEmpty();
    assertThat(p.exitValue()).as("promtool exit code, output: %s", out).isZero();
  }
}
