package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** Reading a request to slow down, and what the upstream's state does with it. */
class ThrottleTest {
  private static final Instant NOW = Instant.parse("2026-12-02T10:00:00Z");

  private static HttpHeaders retryAfter(String v) {
    return new DefaultHttpHeaders().set("Retry-After", v);
  }

  @Test
  void a429AlwaysAsksAnd503OnlyWithRetryAfter() {
    assertThat(Throttle.asked(429, new DefaultHttpHeaders())).isTrue();
    assertThat(Throttle.asked(503, retryAfter("5"))).isTrue();
    assertThat(Throttle.asked(503, new DefaultHttpHeaders())).isFalse();
    assertThat(Throttle.asked(502, retryAfter("5"))).isFalse();
    assertThat(Throttle.asked(404, retryAfter("5"))).isFalse();
    byte[] slowDown = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            + "<Message>Please reduce your request rate.</Message></Error>")
        .getBytes(StandardCharsets.UTF_8);
    assertThat(Throttle.asked(503, new DefaultHttpHeaders(), slowDown))
        .as("S3's SlowDown")
        .isTrue();
    assertThat(Throttle.asked(500, new DefaultHttpHeaders(), slowDown)).isFalse();
    assertThat(
            Throttle.asked(503, new DefaultHttpHeaders(), "busy".getBytes(StandardCharsets.UTF_8)))
        .isFalse();
  }

  @Test
  void retryAfterInSecondsOrAsAnHttpDateCappedAtTenMinutes() {
    assertThat(Throttle.retryAfter(retryAfter("7"), NOW)).isEqualTo(Duration.ofSeconds(7));
    assertThat(Throttle.retryAfter(retryAfter("Wed, 02 Dec 2026 10:00:30 GMT"), NOW))
        .isEqualTo(Duration.ofSeconds(30));
    assertThat(Throttle.retryAfter(retryAfter("Wed, 02 Dec 2026 09:59:00 GMT"), NOW))
        .as("a date already past")
        .isEqualTo(Duration.ZERO);
    assertThat(Throttle.retryAfter(retryAfter("86400"), NOW)).isEqualTo(Duration.ofMinutes(10));
    assertThat(Throttle.retryAfter(retryAfter("soon"), NOW)).isNull();
    assertThat(Throttle.retryAfter(retryAfter("-3"), NOW)).isNull();
    assertThat(Throttle.retryAfter(new DefaultHttpHeaders(), NOW)).isNull();
  }

  @Test
  void withoutRetryAfterTheBackoffDoublesUpToAMinute() {
    assertThat(Throttle.backoff(1)).isEqualTo(Duration.ofSeconds(1));
    assertThat(Throttle.backoff(2)).isEqualTo(Duration.ofSeconds(2));
    assertThat(Throttle.backoff(4)).isEqualTo(Duration.ofSeconds(8));
    assertThat(Throttle.backoff(7)).isEqualTo(Duration.ofMinutes(1));
    assertThat(Throttle.backoff(100)).isEqualTo(Duration.ofMinutes(1));
  }

  @Test
  void aThrottledUpstreamIsUsableButNotAvailableUntilTheWaitIsOver() {
    UpstreamStats s = new UpstreamStats(0.3);
    assertThat(s.throttle(Duration.ofMinutes(5))).as("starts a throttle").isTrue();
    assertThat(s.available()).isFalse();
    assertThat(s.usable()).as("busy, not down").isTrue();
    assertThat(s.throttledMillis()).isBetween(Duration.ofMinutes(4).toMillis(), 300_000L);
    assertThat(s.throttle(Duration.ofSeconds(1))).as("already running").isFalse();
    assertThat(s.throttledMillis())
        .as("a shorter wait does not end the longer one")
        .isGreaterThan(Duration.ofMinutes(4).toMillis());
    s.recordSuccess(5); // another answer: still throttled until the time is up
    assertThat(s.available()).isFalse();

    UpstreamStats quick = new UpstreamStats(0.3);
    quick.throttle(Duration.ZERO);
    assertThat(quick.available()).isTrue();
    assertThat(quick.throttledMillis()).isZero();
  }

  @Test
  void theBackoffGrowsWithThrottlesInARowAndStartsOverAfterAnotherAnswer() {
    UpstreamStats s = new UpstreamStats(0.3);
    s.throttle(null);
    assertThat(s.throttledMillis()).isBetween(1L, 1000L);
    s.throttle(null);
    s.throttle(null);
    assertThat(s.throttledMillis()).as("third in a row: 4 s").isBetween(3001L, 4000L);
    s.recordAlive();
    UpstreamStats fresh = new UpstreamStats(0.3);
    fresh.throttle(null);
    assertThat(fresh.throttledMillis()).isBetween(1L, 1000L);
  }
}
