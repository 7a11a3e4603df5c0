package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.CacheConfig;
import dev.ncro.config.Config;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cache.max_concurrent_races} and {@code max_inflight} under a burst: 200 concurrent misses
 * never put more than {@code max_inflight} requests (or connections, beyond one probe's) on an
 * upstream, every request is answered, and the waits show in {@code /status} and the histogram.
 */
class RaceLimitsIT {
  private static final int MISSES = 200;

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  @Test
  void twoHundredConcurrentMissesStayWithinTheLimitsAndAllAnswer() throws Exception {
    TestKey key = new TestKey("test-1");
    TestUpstream holder = open.keep(TestUpstream.start());
    TestUpstream absent = open.keep(TestUpstream.start());
    // Long enough for the burst to pile up behind the limits while /status is read: 200 ms keeps
    // 64 races running for about 2.5 s (100 ms left that to about 1.3 s once warm connections
    // spared the handshakes, and a /status read on the busy test machine took up to 0.5 s).
    holder.setLatency(Duration.ofMillis(200));
    absent.setLatency(Duration.ofMillis(200));
    List<String> hashes = new ArrayList<>();
    for (int i = 0; i < MISSES; i++) {
      String h = TestNarinfo.hash(1000 + i);
      hashes.add(h);
      holder.putNarinfo(h, TestNarinfo.make(h, "nar/" + h + ".nar.xz", 1000, key));
    }
    Config base = NcroHarness.config(
        dir.resolve("routes.db"),
        List.of(
            new UpstreamConfig(holder.uri(), 10, List.of(key.publicKey())).withMaxInflight(16),
            new UpstreamConfig(absent.uri(), 20, List.of(key.publicKey())).withMaxInflight(8)),
        Duration.ofHours(1)); // no probe during the burst: its connection would not be limited
    CacheConfig c = base.cache();
    Config config = new Config(
        base.server(),
        base.upstreams(),
        c.withMaxConcurrentRaces(64),
        base.timeouts(),
        base.logging(),
        base.mesh());
    NcroHarness n = open.keep(NcroHarness.start(config));
    // The first probe runs at start (a HEAD, whose connection ncro closes), then each upstream's
    // warm connections open (warm_connections: by default as many as max_inflight, 16 and 8
    // here): let both settle, so every connection counted below is a race's, and the limits below
    // hold with the warm ones counted.
    Await.until(
        "the start-up probes answered, their connections closed, the warm ones open",
        () -> holder.requestCount("/nix-cache-info") >= 1
            && absent.requestCount("/nix-cache-info") >= 1
            && holder.openConnections() == 16
            && absent.openConnections() == 8
            && n.ncro().registry().all().stream()
                .allMatch(u -> u.stats().idleConnections() == u.warmConnections()));
    int connectionsBefore = holder.connectionCount();
    // From here: the burst's peaks (the probe's connection may have closed, as this side saw it,
    // only after the warm ones were accepted).
    holder.resetPeaks();
    absent.resetPeaks();

    ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
    open.keep(clients::shutdownNow);
    List<CompletableFuture<HttpResponse<byte[]>>> answers = new ArrayList<>();
    for (String h : hashes) {
      answers.add(CompletableFuture.supplyAsync(
          () -> {
            try {
              return n.get("/" + h + ".narinfo");
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          },
          clients));
    }
    // While the burst is held up: /status shows the race queue.
    Await.until("/status shows 64 races running and others waiting", () -> {
      String s;
      try {
        s = status(n);
      } catch (
          IllegalStateException e) { // a keep-alive connection closed under the client: ask again
        return false;
      }
      return s.matches("(?s).*\"races\":\\{\"running\":64,\"queued\":[1-9][0-9]*,.*");
    });

    for (CompletableFuture<HttpResponse<byte[]>> a : answers) {
      assertThat(a.get().statusCode()).isEqualTo(200);
    }
    assertThat(holder.requests().stream()
            .filter(r -> r.path().endsWith(".narinfo"))
            .count())
        .isEqualTo(MISSES);
    assertThat(holder.peakConcurrentRequests()).isLessThanOrEqualTo(16);
    assertThat(absent.peakConcurrentRequests()).isLessThanOrEqualTo(8);
    assertThat(holder.connectionCount() - connectionsBefore)
        .as("every request went out on one of the 16 warm connections")
        .isZero();
    assertThat(holder.peakOpenConnections()).isLessThanOrEqualTo(16);
    assertThat(absent.peakOpenConnections()).isLessThanOrEqualTo(8);

    String metrics = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(histogramCount(metrics, "max_concurrent_races")).isEqualTo(MISSES);
    // Some races waited longer than 100 ms (one upstream answer) for their slot.
    assertThat(histogramBucket(metrics, "max_concurrent_races", "0.1")).isLessThan(MISSES);
    assertThat(histogramCount(metrics, "max_inflight")).isGreaterThanOrEqualTo(MISSES);
    assertThat(metrics).contains("ncro_upstream_inflight{upstream=\"" + holder.uri() + "\"} 0");
    String s = status(n);
    assertThat(s).contains("\"races\":{\"running\":0,\"queued\":0,\"max_concurrent\":64}");
    assertThat(s).contains("\"inflight\":0,\"queued\":0,\"max_inflight\":16");
  }

  private static String status(NcroHarness n) {
    try {
      return new String(n.get("/status").body(), StandardCharsets.UTF_8);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static long histogramCount(String metrics, String limit) {
    Matcher m = Pattern.compile(
            "ncro_race_queue_wait_seconds_count\\{limit=\"" + limit + "\"} (\\S+)")
        .matcher(metrics);
    assertThat(m.find()).as("count for %s in\n%s", limit, metrics).isTrue();
    return (long) Double.parseDouble(m.group(1));
  }

  private static long histogramBucket(String metrics, String limit, String le) {
    Matcher m = Pattern.compile("ncro_race_queue_wait_seconds_bucket\\{limit=\"" + limit
            + "\",le=\"" + Pattern.quote(le) + "\"} (\\S+)")
        .matcher(metrics);
    assertThat(m.find()).as("bucket %s for %s in\n%s", le, limit, metrics).isTrue();
    return (long) Double.parseDouble(m.group(1));
  }
}
