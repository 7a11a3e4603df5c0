package dev.ncro.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.CacheConfig;
import dev.ncro.config.Config;
import dev.ncro.config.TimeoutsConfig;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * NAR first-byte hedging ({@code cache.nar_hedge_delay}) against real loopback upstreams. The
 * first-byte timeout is set far beyond the test client's 20 s patience where a hedge must do the
 * work, so a download that succeeds there can only have been served by the hedge.
 */
class NarHedgingIT {
  private static final Duration HEDGE_DELAY = Duration.ofMillis(200);

  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private TestUpstream upstream() throws Exception {
    return open.keep(TestUpstream.start());
  }

  private NcroHarness ncro(List<URI> upstreams, Duration firstByte) throws Exception {
    return ncro(upstreams, firstByte, HEDGE_DELAY);
  }

  private NcroHarness ncro(List<URI> upstreams, Duration firstByte, Duration hedgeDelay)
      throws Exception {
    return ncro(upstreams, firstByte, hedgeDelay, 2);
  }

  private NcroHarness ncro(
      List<URI> upstreams, Duration firstByte, Duration hedgeDelay, int hedgeMax) throws Exception {
    Config base =
        NcroHarness.config(dir.resolve("routes.db"), NcroHarness.upstreams(upstreams, null));
    CacheConfig c = base.cache();
    Config config = new Config(
        base.server(),
        base.upstreams(),
        c.withNarHedging(hedgeDelay, hedgeMax),
        new TimeoutsConfig(Duration.ofSeconds(2), firstByte, Duration.ofSeconds(2)),
        base.logging(),
        base.mesh());
    return open.keep(NcroHarness.start(config));
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** A narinfo for {@code h} whose URL is {@code narPath} and whose FileHash is {@code fileHash}. */
  private static byte[] narinfo(String h, String narPath, long size, String fileHash) {
    String text =
        new String(TestNarinfo.make(h, narPath.substring(1), size, null), StandardCharsets.UTF_8);
    return text.replaceAll("FileHash: .*\n", "FileHash: " + fileHash + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** Asks for the narinfo so that {@code routed} (the fastest to answer) becomes the route. */
  private static void routeTo(NcroHarness n, String h, TestUpstream routed) throws Exception {
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(routed.uri().getAuthority());
    NarinfoRoutingIT.awaitStored(n, h);
  }

  private static double hedges(NcroHarness n, String outcome) {
    String m;
    try {
      m = new String(n.get("/metrics").body(), StandardCharsets.UTF_8);
    } catch (Exception e) {
      throw new AssertionError("scraping /metrics", e);
    }
    String prefix = "ncro_nar_hedges_total{outcome=\"" + outcome + "\"} ";
    return m.lines()
        .filter(l -> l.startsWith(prefix))
        .mapToDouble(l -> Double.parseDouble(l.substring(prefix.length())))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no series " + prefix));
  }

  private static List<TestUpstream.Request> narRequests(TestUpstream u) {
    return u.requests().stream().filter(q -> q.path().startsWith("/nar/")).toList();
  }

  @Test
  void aHedgeToTheSameFileWinsAgainstARoutedUpstreamThatNeverSendsHeaders() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream holder = upstream();
    String h = TestNarinfo.hash(101);
    byte[] nar = bytes(300_000, 1);
    routed.putNarinfo(h, narinfo(h, "/nar/hung.nar.xz", nar.length, "sha256:same"));
    routed.put("/nar/hung.nar.xz", TestUpstream.Response.ok(nar).hanging());
    holder.putNarinfo(h, narinfo(h, "/nar/elsewhere.nar.xz", nar.length, "sha256:same"));
    holder.putNar("/nar/elsewhere.nar.xz", nar);
    holder.setLatency(Duration.ofMillis(150)); // loses the narinfo race: the route names `routed`
    NcroHarness n = ncro(List.of(routed.uri(), holder.uri()), Duration.ofSeconds(60));
    routeTo(n, h, routed);
    holder.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/hung.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-hedge");
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(holder.uri().getAuthority());
    assertThat(r.headers().firstValue("Content-Length")).hasValue(Integer.toString(nar.length));
    assertThat(narRequests(holder))
        .as("the hedge asks for the file under the holder's own URL")
        .singleElement()
        .satisfies(q -> assertThat(q.path()).isEqualTo("/nar/elsewhere.nar.xz"));
    Await.until(
        "the hung request to the routed upstream is cancelled",
        () -> routed.hangsEndedByPeer() == 1);
    assertThat(hedges(n, "won")).isEqualTo(1.0);
    assertThat(hedges(n, "lost")).isZero();
    assertThat(hedges(n, "none_eligible")).isZero();
  }

  @Test
  void aHolderOfADifferentFileIsNeverAskedEvenWhenItIsFaster() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream different = upstream();
    TestUpstream same = upstream();
    String h = TestNarinfo.hash(102);
    byte[] nar = bytes(200_000, 2);
    routed.putNarinfo(h, narinfo(h, "/nar/r.nar.xz", nar.length, "sha256:xz-file"));
    routed.put("/nar/r.nar.xz", TestUpstream.Response.ok(nar).hanging());
    // Same store path, other compression: another FileHash. Better placed in the plan than `same`.
    different.putNarinfo(h, narinfo(h, "/nar/d.nar.zst", nar.length, "sha256:zstd-file"));
    different.putNar("/nar/d.nar.zst", bytes(150_000, 3));
    same.putNarinfo(h, narinfo(h, "/nar/s.nar.xz", nar.length, "sha256:xz-file"));
    same.putNar("/nar/s.nar.xz", nar);
    different.setLatency(Duration.ofMillis(100));
    same.setLatency(Duration.ofMillis(200));
    NcroHarness n =
        ncro(List.of(routed.uri(), different.uri(), same.uri()), Duration.ofSeconds(60));
    routeTo(n, h, routed);
    Await.until(
        "every upstream's answer is in the latency EMA",
        () -> n.ncro().registry().all().stream()
            .allMatch(u -> !Double.isNaN(u.stats().emaMillis())));
    different.setLatency(Duration.ZERO);
    same.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/r.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(r.headers().firstValue("X-Ncro-Upstream")).hasValue(same.uri().getAuthority());
    assertThat(narRequests(different))
        .as("NAR requests to the holder of a different file")
        .isEmpty();
    assertThat(hedges(n, "won")).isEqualTo(1.0);
  }

  @Test
  void withNoOtherHolderOfTheFileNothingIsHedgedAndTheCountSaysSo() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream different = upstream();
    String h = TestNarinfo.hash(103);
    byte[] nar = bytes(100_000, 4);
    routed.putNarinfo(h, narinfo(h, "/nar/only.nar.xz", nar.length, "sha256:one"));
    routed.put("/nar/only.nar.xz", TestUpstream.Response.ok(nar).hanging());
    different.putNarinfo(h, narinfo(h, "/nar/other.nar.zst", nar.length, "sha256:another"));
    different.putNar("/nar/other.nar.zst", bytes(100_000, 5));
    different.setLatency(Duration.ofMillis(150));
    // A short first-byte timeout: without a hedge, the routed upstream times out and the plan goes
    // on.
    NcroHarness n = ncro(List.of(routed.uri(), different.uri()), Duration.ofSeconds(2));
    routeTo(n, h, routed);
    different.setLatency(Duration.ZERO);

    HttpResponse<byte[]> r = n.get("/nar/only.nar.xz");
    assertThat(r.statusCode())
        .as("the routed upstream timed out, the other has no such URL")
        .isEqualTo(502);
    assertThat(narRequests(different))
        .noneSatisfy(q -> assertThat(q.path()).isEqualTo("/nar/other.nar.zst"));
    assertThat(hedges(n, "none_eligible")).isEqualTo(1.0);
    assertThat(hedges(n, "won") + hedges(n, "lost") + hedges(n, "failed")).isZero();
  }

  @Test
  void aRoutedUpstreamAnsweringFirstWinsAndTheHedgeIsCancelled() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream holder = upstream();
    String h = TestNarinfo.hash(104);
    byte[] nar = bytes(100_000, 6);
    routed.putNarinfo(h, narinfo(h, "/nar/slow.nar.xz", nar.length, "sha256:same"));
    routed.putNar("/nar/slow.nar.xz", nar);
    holder.putNarinfo(h, narinfo(h, "/nar/hung-hedge.nar.xz", nar.length, "sha256:same"));
    holder.put("/nar/hung-hedge.nar.xz", TestUpstream.Response.ok(nar).hanging());
    holder.setLatency(Duration.ofMillis(150));
    NcroHarness n = ncro(List.of(routed.uri(), holder.uri()), Duration.ofSeconds(60));
    routeTo(n, h, routed);
    holder.setLatency(Duration.ZERO);
    // The routed upstream is slow, not dead: it answers once the hedge is out (which then hangs).
    routed.setLatency(Duration.ofSeconds(3));

    HttpResponse<byte[]> r = n.get("/nar/slow.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(nar);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-route");
    assertThat(narRequests(holder)).as("the hedge was sent").hasSize(1);
    Await.until("the hedge's request is cancelled", () -> holder.hangsEndedByPeer() == 1);
    assertThat(hedges(n, "lost")).isEqualTo(1.0);
    assertThat(hedges(n, "won")).isZero();
  }

  @Test
  void aNarAnsweredWithinTheDelayIsNeverHedged() throws Exception {
    TestUpstream routed = upstream();
    TestUpstream holder = upstream();
    String h = TestNarinfo.hash(105);
    byte[] nar = bytes(100_000, 7);
    routed.putNarinfo(h, narinfo(h, "/nar/quick.nar.xz", nar.length, "sha256:same"));
    routed.putNar("/nar/quick.nar.xz", nar);
    holder.putNarinfo(h, narinfo(h, "/nar/q2.nar.xz", nar.length, "sha256:same"));
    holder.putNar("/nar/q2.nar.xz", nar);
    holder.setLatency(Duration.ofMillis(150));
    // A delay far beyond the routed upstream's answer on loopback, however loaded the machine.
    NcroHarness n =
        ncro(List.of(routed.uri(), holder.uri()), Duration.ofSeconds(60), Duration.ofSeconds(8));
    routeTo(n, h, routed);
    Await.until(
        "the race's narinfo request reached the slower upstream",
        () -> holder.requestCount("/" + h + ".narinfo") == 1);

    HttpResponse<byte[]> r = n.get("/nar/quick.nar.xz");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-route");
    assertThat(holder.requestCount("/" + h + ".narinfo"))
        .as("no narinfo lookup for a hedge")
        .isEqualTo(1);
    assertThat(narRequests(holder)).isEmpty();
    assertThat(
            hedges(n, "won") + hedges(n, "lost") + hedges(n, "failed") + hedges(n, "none_eligible"))
        .isZero();
  }

  /**
   * The routed upstream and the first holder found both hang; a second holder would serve. With
   * {@code nar_hedge_max: 3} a second hedge goes to it one delay later and wins; with 2, the two
   * requests in flight are the limit: it is never asked while the client waits, and when the client
   * gives up both hung requests are cancelled.
   */
  @ParameterizedTest
  @ValueSource(ints = {2, 3})
  void noMoreThanNarHedgeMaxRequestsAreInFlight(int max) throws Exception {
    TestUpstream routed = upstream();
    TestUpstream first = upstream();
    TestUpstream second = upstream();
    String h = TestNarinfo.hash(106);
    byte[] nar = bytes(100_000, 8);
    routed.putNarinfo(h, narinfo(h, "/nar/m.nar.xz", nar.length, "sha256:same"));
    routed.put("/nar/m.nar.xz", TestUpstream.Response.ok(nar).hanging());
    first.putNarinfo(h, narinfo(h, "/nar/m1.nar.xz", nar.length, "sha256:same"));
    first.put("/nar/m1.nar.xz", TestUpstream.Response.ok(nar).hanging());
    second.putNarinfo(h, narinfo(h, "/nar/m2.nar.xz", nar.length, "sha256:same"));
    second.putNar("/nar/m2.nar.xz", nar);
    first.setLatency(Duration.ofMillis(100));
    second.setLatency(Duration.ofMillis(100));
    NcroHarness n = ncro(
        List.of(routed.uri(), first.uri(), second.uri()), Duration.ofSeconds(60), HEDGE_DELAY, max);
    routeTo(n, h, routed);
    first.setLatency(Duration.ZERO);
    // Its narinfo answers after the first holder's: the first hedge goes to `first`.
    second.setLatency(Duration.ofMillis(100));

    HttpClient http =
        HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpRequest get = HttpRequest.newBuilder(n.uri("/nar/m.nar.xz"))
        .timeout(Duration.ofSeconds(4))
        .build();
    if (max == 3) {
      HttpResponse<byte[]> r = http.send(get, HttpResponse.BodyHandlers.ofByteArray());
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).isEqualTo(nar);
      assertThat(r.headers().firstValue("X-Ncro-Upstream"))
          .hasValue(second.uri().getAuthority());
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("nar-hedge");
      Await.until(
          "both hung requests are cancelled",
          () -> routed.hangsEndedByPeer() == 1 && first.hangsEndedByPeer() == 1);
      assertThat(hedges(n, "won")).isEqualTo(1.0);
      assertThat(hedges(n, "lost")).isEqualTo(1.0);
    } else {
      Assertions.assertThatThrownBy(() -> http.send(get, HttpResponse.BodyHandlers.ofByteArray()))
          .isInstanceOf(HttpTimeoutException.class);
      Await.until(
          "both hung requests are cancelled when the client leaves",
          () -> routed.hangsEndedByPeer() == 1 && first.hangsEndedByPeer() == 1);
      assertThat(narRequests(first)).hasSize(1);
      assertThat(narRequests(second))
          .as("a third request would exceed nar_hedge_max: 2")
          .isEmpty();
      Await.until("the cancelled hedge is counted", () -> hedges(n, "lost") == 1.0);
    }
  }
}
