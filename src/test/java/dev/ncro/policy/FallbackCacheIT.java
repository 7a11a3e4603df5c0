package dev.ncro.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.config.FallbackCacheConfig;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.config.UpstreamCredentials;
import dev.ncro.support.Await;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestKey;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.Health;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fallback cache against real loopback upstreams, counting its requests: asked only when every
 * regular upstream answered absent or could not answer, never raced; its narinfo and NAR are served
 * through ncro with {@code X-Ncro-Route: fallback}; what its answers make of a miss (404 or 503).
 */
class FallbackCacheIT {
  @TempDir
  Path dir;

  @RegisterExtension
  final Closer open = new Closer();

  private final TestKey key = new TestKey("fallback-test-1");
  private TestUpstream a;
  private TestUpstream b;
  private TestUpstream fallback;
  private NcroHarness ncro;

  @BeforeEach
  void start() throws Exception {
    a = open.keep(TestUpstream.start());
    b = open.keep(TestUpstream.start());
    fallback = open.keep(TestUpstream.start());
    ncro = open.keep(NcroHarness.start(NcroHarness.config(
            dir.resolve("routes.db"),
            NcroHarness.upstreams(
                List.of(a.uri(), b.uri()), List.of(key.publicKey(), key.publicKey())))
        .withFallbackCache(FallbackCacheConfig.of(
            new UpstreamConfig(fallback.uri(), 10, List.of(key.publicKey()))))));
  }

  private void hold(TestUpstream u, String hash) {
    u.putNarinfo(hash, TestNarinfo.make(hash, "nar/" + hash + ".nar", 4, key));
    u.putNar(
        "/nar/" + hash + ".nar", ("nar " + hash.substring(28)).getBytes(StandardCharsets.UTF_8));
  }

  /** Narinfo requests the fallback cache received, all paths together (probes not counted). */
  private long fallbackNarinfoRequests() {
    return fallback.requests().stream()
        .filter(r -> r.path().endsWith(".narinfo"))
        .count();
  }

  @Test
  void whileARegularUpstreamHasThePathTheFallbackIsNeverAsked() throws Exception {
    for (int i = 0; i < 20; i++) {
      String h = TestNarinfo.hash(100 + i);
      hold(i % 2 == 0 ? a : b, h);
      hold(fallback, h);
      HttpResponse<byte[]> r = ncro.get("/" + h + ".narinfo");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("race");
      assertThat(ncro.get("/nar/" + h + ".nar").headers().firstValue("X-Ncro-Route"))
          .hasValue("nar-route");
    }
    assertThat(fallbackNarinfoRequests()).isZero();
    assertThat(fallback.requests())
        .allSatisfy(r -> assertThat(r.path()).isEqualTo("/nix-cache-info"));
    // Never in the ordering either: the race winners are the regular upstreams only.
    JsonNode s = new ObjectMapper().readTree(ncro.get("/status").body());
    assertThat(s.get("upstreams")).hasSize(2);
    assertThat(s.get("upstreams").get(0).get("race_wins").asLong()
            + s.get("upstreams").get(1).get("race_wins").asLong())
        .isEqualTo(20);
  }

  @Test
  void whenEveryRegularUpstreamIsAbsentTheFallbackAnswersAndItsNarIsServedThroughNcro()
      throws Exception {
    String h = TestNarinfo.hash(200);
    hold(fallback, h);
    HttpResponse<byte[]> r = ncro.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo(TestNarinfo.make(h, "nar/" + h + ".nar", 4, key));
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("fallback");
    assertThat(r.headers().firstValue("X-Ncro-Upstream"))
        .hasValue(fallback.uri().getAuthority());
    assertThat(a.requestCount("/" + h + ".narinfo")).isEqualTo(1);
    assertThat(b.requestCount("/" + h + ".narinfo")).isEqualTo(1);
    assertThat(fallback.requestCount("/" + h + ".narinfo")).isEqualTo(1);

    HttpResponse<byte[]> nar = ncro.get("/nar/" + h + ".nar");
    assertThat(nar.statusCode()).isEqualTo(200);
    assertThat(new String(nar.body(), StandardCharsets.UTF_8)).isEqualTo("nar " + h.substring(28));
    assertThat(nar.headers().firstValue("X-Ncro-Route")).hasValue("fallback");
    assertThat(a.requestCount("/nar/" + h + ".nar"))
        .as("the route says the fallback: asked first")
        .isZero();

    // Stored like any route: the next lookup is a hit, with no upstream and no fallback request.
    Await.until("route stored", () -> ncro.ncro().store().count() == 1);
    assertThat(ncro.ncro().store().get(h).orElseThrow().upstream())
        .isEqualTo(fallback.uri().toString());
    HttpResponse<byte[]> again = ncro.get("/" + h + ".narinfo");
    assertThat(again.headers().firstValue("X-Ncro-Route")).hasValue("cache-hit");
    assertThat(again.headers().firstValue("X-Ncro-Upstream"))
        .hasValue(fallback.uri().getAuthority());
    assertThat(fallback.requestCount("/" + h + ".narinfo")).isEqualTo(1);

    JsonNode races = new ObjectMapper().readTree(ncro.get("/status").body()).get("recent_races");
    assertThat(races.get(0).get("outcome").asText()).isEqualTo("fallback");
    assertThat(races.get(0).get("upstream").asText()).isEqualTo(fallback.uri().toString());
    String metrics = new String(ncro.get("/metrics").body(), StandardCharsets.UTF_8);
    assertThat(metrics)
        .contains("ncro_fallback_lookups_total{outcome=\"found\"} 1.0")
        .contains("ncro_nar_bytes_total{upstream=\"" + fallback.uri() + "\"} 8.0")
        .contains("ncro_upstream_state{state=\"active\",upstream=\"" + fallback.uri() + "\"} 1.0")
        .doesNotContain("ncro_upstream_latency_seconds_count{upstream=\"" + fallback.uri() + "\"}")
        .doesNotContain("ncro_upstream_race_wins_total{upstream=\"" + fallback.uri() + "\"}");
  }

  @Test
  void whenARegularUpstreamIsUnavailableTheFallbackIsAsked() throws Exception {
    String h = TestNarinfo.hash(300);
    hold(fallback, h);
    a.put("/" + h + ".narinfo", TestUpstream.Response.status(502));
    HttpResponse<byte[]> r = ncro.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("fallback");
    assertThat(fallbackNarinfoRequests()).isEqualTo(1);
  }

  @Test
  void whenEveryRegularUpstreamRefusesNcroTheFallbackIsStillAsked() throws Exception {
    // The start-up probe round first: a probe answered 200 after the refusals below are recorded
    // would lift them again (a CI run saw exactly that).
    Await.until(
        "the start-up probes answered",
        () -> ncro.ncro().registry().all().stream()
            .allMatch(u -> u.stats().lastProbeNanos() != 0 && u.stats().state() == Health.ACTIVE));
    a.status5xxForAll(401);
    b.status5xxForAll(401);
    // What the prober records when /nix-cache-info answers 401 (its next round is 30 s away).
    ncro.ncro()
        .registry()
        .all()
        .forEach(
            u -> ncro.ncro().registry().unauthorized(u, "probe: /nix-cache-info answered 401"));
    String h = TestNarinfo.hash(350);
    hold(fallback, h);
    HttpResponse<byte[]> r = ncro.get("/" + h + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("X-Ncro-Route")).hasValue("fallback");
    assertThat(a.requestCount("/" + h + ".narinfo"))
        .as("an unauthorized upstream is not asked")
        .isZero();
    // And a path the fallback does not have is unknown, not absent: some upstream refused us.
    assertThat(ncro.get("/" + TestNarinfo.hash(351) + ".narinfo").statusCode()).isEqualTo(503);
  }

  @Test
  void absentEverywhereIncludingTheFallbackIsA404RememberedAndTheFallbackIsNotAskedAgain()
      throws Exception {
    String h = TestNarinfo.hash(400);
    assertThat(ncro.get("/" + h + ".narinfo").statusCode()).isEqualTo(404);
    assertThat(fallbackNarinfoRequests()).isEqualTo(1);
    HttpResponse<byte[]> again = ncro.get("/" + h + ".narinfo");
    assertThat(again.statusCode()).isEqualTo(404);
    assertThat(again.headers().firstValue("X-Ncro-Route")).hasValue("negative");
    assertThat(fallbackNarinfoRequests()).isEqualTo(1);
  }

  @Test
  void aFallbackNarinfoThatDoesNotVerifyCountsAsAbsent() throws Exception {
    String h = TestNarinfo.hash(450);
    fallback.putNarinfo(
        h, TestNarinfo.make(h, "nar/" + h + ".nar", 4, new TestKey("someone-else-1")));
    assertThat(ncro.get("/" + h + ".narinfo").statusCode()).isEqualTo(404);
    assertThat(fallbackNarinfoRequests()).isEqualTo(1);
  }

  @Test
  void whenTheTruthIsUnknownTheAnswerIs503() throws Exception {
    // A regular upstream could not answer and the fallback does not have it: unknown, not absent.
    String h1 = TestNarinfo.hash(500);
    b.put("/" + h1 + ".narinfo", TestUpstream.Response.status(503));
    assertThat(ncro.get("/" + h1 + ".narinfo").statusCode()).isEqualTo(503);
    // The regulars said absent but the fallback could not answer: unknown too.
    String h2 = TestNarinfo.hash(501);
    fallback.put("/" + h2 + ".narinfo", TestUpstream.Response.status(500));
    HttpResponse<byte[]> r = ncro.get("/" + h2 + ".narinfo");
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(new String(r.body(), StandardCharsets.UTF_8))
        .contains("fallback cache could not answer");
    assertThat(fallbackNarinfoRequests()).isEqualTo(2);
    // Nothing remembered: once the fallback answers, the path is served.
    hold(fallback, h2);
    assertThat(ncro.get("/" + h2 + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .hasValue("fallback");
  }

  @Test
  void aNarTheRoutedUpstreamLostIsServedByAnotherAsFailoverAndByTheFallbackLast() throws Exception {
    String h = TestNarinfo.hash(600);
    hold(a, h);
    assertThat(ncro.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Upstream"))
        .hasValue(a.uri().getAuthority());
    a.put("/nar/" + h + ".nar", TestUpstream.Response.status(404));
    b.putNar("/nar/" + h + ".nar", "nar b".getBytes(StandardCharsets.UTF_8));
    fallback.putNar("/nar/" + h + ".nar", "nar f".getBytes(StandardCharsets.UTF_8));
    HttpResponse<byte[]> viaB = ncro.get("/nar/" + h + ".nar");
    assertThat(viaB.headers().firstValue("X-Ncro-Route")).hasValue("failover");
    assertThat(new String(viaB.body(), StandardCharsets.UTF_8)).isEqualTo("nar b");
    assertThat(fallback.requestCount("/nar/" + h + ".nar")).isZero();

    b.put("/nar/" + h + ".nar", TestUpstream.Response.status(404));
    HttpResponse<byte[]> viaFallback = ncro.get("/nar/" + h + ".nar");
    assertThat(viaFallback.statusCode()).isEqualTo(200);
    assertThat(viaFallback.headers().firstValue("X-Ncro-Route")).hasValue("fallback");
    assertThat(new String(viaFallback.body(), StandardCharsets.UTF_8)).isEqualTo("nar f");
  }

  private JsonNode status() {
    try {
      return new ObjectMapper().readTree(ncro.get("/status").body());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void theFallbackSendsItsOwnCredentialsAndTheyNeverShow() throws Exception {
    String token = "fallback-T0ken-9f2c";
    TestUpstream secured = open.keep(TestUpstream.start());
    NcroHarness n = open.keep(NcroHarness.start(NcroHarness.config(
            dir.resolve("secured.db"),
            NcroHarness.upstreams(List.of(a.uri()), List.of(key.publicKey())))
        .withFallbackCache(FallbackCacheConfig.of(new UpstreamConfig(
            secured.uri(),
            10,
            List.of(key.publicKey()),
            null,
            new UpstreamCredentials.Bearer(token, "bearer_token_file"))))));
    String h = TestNarinfo.hash(800);
    hold(secured, h);
    assertThat(n.get("/" + h + ".narinfo").headers().firstValue("X-Ncro-Route"))
        .hasValue("fallback");
    assertThat(secured.requests())
        .filteredOn(r -> r.path().endsWith(".narinfo"))
        .singleElement()
        .satisfies(r -> assertThat(r.headers().get("authorization")).isEqualTo("Bearer " + token));
    assertThat(a.requests())
        .allSatisfy(r -> assertThat(r.headers()).doesNotContainKey("authorization"));
    JsonNode f = new ObjectMapper().readTree(n.get("/status").body()).get("fallback_cache");
    assertThat(f.get("auth").asText()).isEqualTo("bearer");
    assertThat(f.get("credentials_from").asText()).isEqualTo("bearer_token_file");
    assertThat(new String(n.get("/status").body(), StandardCharsets.UTF_8)
            + new String(n.get("/metrics").body(), StandardCharsets.UTF_8))
        .doesNotContain(token);
  }

  @Test
  void statusShowsTheFallbackCacheAndItsProbedHealth() throws Exception {
    Await.until(
        "fallback probed",
        () -> !status().get("fallback_cache").get("last_probe_age_seconds").isNull());
    JsonNode f = new ObjectMapper().readTree(ncro.get("/status").body()).get("fallback_cache");
    assertThat(f.get("url").asText()).isEqualTo(fallback.uri().toString());
    assertThat(f.get("state").asText()).isEqualTo("active");
    assertThat(f.has("race_wins")).isFalse();
    assertThat(f.has("priority")).isFalse();
    assertThat(fallback.requestCount("/nix-cache-info")).isGreaterThanOrEqualTo(1);

    // Its failures show there too: a lookup that reaches it while it answers 500.
    fallback.status5xxForAll(500);
    assertThat(ncro.get("/" + TestNarinfo.hash(700) + ".narinfo").statusCode()).isEqualTo(503);
    JsonNode failing =
        new ObjectMapper().readTree(ncro.get("/status").body()).get("fallback_cache");
    assertThat(failing.get("consecutive_failures").asInt()).isEqualTo(1);
    assertThat(failing.get("errors").get("status_5xx").asInt()).isEqualTo(1);
  }
}
