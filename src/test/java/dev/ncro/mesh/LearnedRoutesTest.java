package dev.ncro.mesh;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/** The original's merge rule: expired ignored, lower LatencyEMA wins, newer LastVerified on a tie. */
class LearnedRoutesTest {
  private static final Instant NOW = Instant.parse("2026-11-24T12:00:00Z");
  private static final String H = "0123456789abcdfghijklmnpqrsvwxyz";
  private final LearnedRoutes routes = new LearnedRoutes(100, Clock.fixed(NOW, ZoneOffset.UTC));

  private static GossipRoute route(String upstream, double ema, Instant verified, Instant expires) {
    return new GossipRoute(H, upstream, ema, ema, verified, 0, 0, expires, "", 0, "");
  }

  @Test
  void expiredRoutesAreIgnored() {
    assertThat(routes.merge(route("http://a", 5, NOW, NOW), "n1")).isFalse();
    assertThat(routes.merge(route("http://a", 5, NOW, NOW.minusSeconds(1)), "n1"))
        .isFalse();
    assertThat(routes.upstreamFor(H)).isEmpty();
  }

  @Test
  void lowerEmaWinsAndNewerVerificationBreaksTies() {
    Instant later = NOW.plus(Duration.ofHours(1));
    assertThat(routes.merge(route("http://slow", 50, NOW, later), "n1")).isTrue();
    assertThat(routes.merge(route("http://fast", 10, NOW.minusSeconds(60), later), "n2"))
        .isTrue();
    assertThat(routes.upstreamFor(H)).hasValue("http://fast");
    assertThat(routes.merge(route("http://slow", 50, NOW, later), "n1"))
        .as("worse EMA")
        .isFalse();
    assertThat(routes.merge(route("http://other", 10, NOW.minusSeconds(120), later), "n3"))
        .as("tie, older")
        .isFalse();
    assertThat(routes.merge(route("http://other", 10, NOW, later), "n3"))
        .as("tie, newer")
        .isTrue();
    assertThat(routes.upstreamFor(H)).hasValue("http://other");
    assertThat(routes.get(H).orElseThrow().fromNode()).isEqualTo("n3");
  }

  @Test
  void aRouteThatProvedWrongIsForgotten() {
    routes.merge(route("http://a", 5, NOW, NOW.plusSeconds(60)), "n1");
    routes.wrong(H);
    assertThat(routes.upstreamFor(H)).isEmpty();
  }

  @Test
  void staysBoundedByDroppingWhatExpiresSoonest() {
    LearnedRoutes small = new LearnedRoutes(10, Clock.fixed(NOW, ZoneOffset.UTC));
    for (int i = 0; i < 25; i++) {
      String h = String.format("%032d", i).replace('0', 'a');
      small.merge(
          new GossipRoute(h, "http://a", 1, 1, NOW, 0, 0, NOW.plusSeconds(100 + i), "", 0, ""),
          "n");
    }
    assertThat(small.size()).isLessThanOrEqualTo(10);
    assertThat(small.upstreamFor(String.format("%032d", 24).replace('0', 'a'))).isPresent();
  }
}
