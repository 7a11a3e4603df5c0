package dev.ncro.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ncro.support.Await;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.TestNarinfo;
import dev.ncro.support.TestUpstream;
import dev.ncro.upstream.FailureKind;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code /status} JSON and the HTML page, on a real ncro after real traffic. */
class StatusIT {
  @TempDir
  Path dir;

  @Test
  void statusReportsHealthRoutesCountersAndEachUpstream() throws Exception {
    try (TestUpstream fast = TestUpstream.start();
        TestUpstream broken = TestUpstream.start()) {
      broken.status5xxForAll(500);
      try (NcroHarness n = NcroHarness.start(NcroHarness.config(
          dir.resolve("r.db"),
          NcroHarness.upstreams(List.of(fast.uri(), broken.uri()), null),
          Duration.ofMillis(200)))) {
        String h = TestNarinfo.hash(90);
        fast.putNarinfo(h, TestNarinfo.make(h, "nar/s.nar", 10, null));
        assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
        assertThat(n.get("/" + h + ".narinfo").statusCode()).isEqualTo(200);
        var upstreams = n.ncro().registry().all();
        Await.until(
            "the good upstream was probed", () -> upstreams.get(0).stats().lastProbeNanos() != 0);
        Await.until(
            "the broken upstream's 5xx counted",
            () -> upstreams.get(1).stats().errors(FailureKind.STATUS_5XX) > 0
                && upstreams.get(1).stats().consecutiveFailures() > 0);

        HttpResponse<byte[]> r = n.get("/status");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
        JsonNode s = new ObjectMapper().readTree(r.body());
        assertThat(s.get("version").asText()).matches("\\d+\\.\\d+\\.\\d+.*");
        assertThat(s.get("uptime_seconds").asDouble()).isPositive();
        assertThat(s.get("healthy").asBoolean()).isTrue();
        assertThat(s.at("/narinfo/cache_hits").asLong()).isEqualTo(1);
        assertThat(s.at("/narinfo/cache_misses").asLong()).isEqualTo(1);
        assertThat(s.at("/narinfo/hit_ratio").asDouble()).isEqualTo(0.5);
        assertThat(s.at("/routes/entries").asLong()).isEqualTo(1);

        JsonNode good = s.get("upstreams").get(0);
        assertThat(good.get("url").asText()).isEqualTo(fast.uri().toString());
        assertThat(good.get("state").asText()).isEqualTo("active");
        assertThat(good.get("priority").asInt()).isEqualTo(10);
        assertThat(good.get("race_wins").asLong()).isEqualTo(1);
        assertThat(good.get("ema_latency_ms").isNumber()).isTrue();
        assertThat(good.get("last_probe_age_seconds").asDouble()).isBetween(0.0, 5.0);
        JsonNode bad = s.get("upstreams").get(1);
        assertThat(bad.at("/errors/status_5xx").asLong()).isPositive();
        assertThat(bad.get("consecutive_failures").asInt()).isPositive();
        assertThat(bad.get("race_wins").asLong()).isZero();

        JsonNode race = s.get("recent_races").get(0);
        assertThat(race.get("hash").asText()).isEqualTo(h);
        assertThat(race.get("outcome").asText()).isEqualTo("won");
        assertThat(race.get("upstream").asText()).isEqualTo(fast.uri().toString());

        HttpResponse<byte[]> page = n.get("/");
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(new String(page.body(), StandardCharsets.UTF_8))
            .contains("<title>ncro", "/status");
      }
    }
  }
}
