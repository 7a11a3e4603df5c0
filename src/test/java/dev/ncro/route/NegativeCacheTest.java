package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.MutableClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class NegativeCacheTest {
  private final MutableClock clock = new MutableClock();

  @Test
  void remembersAbsenceForTheTtlOnly() {
    NegativeCache c = new NegativeCache(Duration.ofMinutes(10), 100, clock);
    c.add("a");
    assertThat(c.contains("a")).isTrue();
    assertThat(c.contains("b")).isFalse();
    clock.advance(Duration.ofMinutes(10).toMillis() - 1);
    assertThat(c.contains("a")).isTrue();
    clock.advance(1);
    assertThat(c.contains("a")).as("expired at exactly the TTL").isFalse();
    assertThat(c.size()).as("an expired entry is dropped when seen").isZero();
  }

  @Test
  void addingAgainRestartsTheTtlAndRemoveForgets() {
    NegativeCache c = new NegativeCache(Duration.ofSeconds(10), 100, clock);
    c.add("a");
    clock.advance(8_000);
    c.add("a");
    clock.advance(8_000);
    assertThat(c.contains("a")).isTrue();
    c.remove("a");
    assertThat(c.contains("a")).isFalse();
  }

  @Test
  void whenFullExpiredEntriesGoFirst() {
    NegativeCache c = new NegativeCache(Duration.ofSeconds(10), 4, clock);
    c.add("old1");
    c.add("old2");
    clock.advance(5_000);
    c.add("new1");
    c.add("new2");
    clock.advance(6_000); // old1 and old2 expired, new1 and new2 have 4 s left
    c.add("newest");
    assertThat(c.size()).isEqualTo(3);
    assertThat(c.contains("new1")).isTrue();
    assertThat(c.contains("new2")).isTrue();
    assertThat(c.contains("newest")).isTrue();
  }

  @Test
  void whenFullOfLiveEntriesTheOldestHalfIsDropped() {
    NegativeCache c = new NegativeCache(Duration.ofHours(1), 4, clock);
    for (String h : new String[] {"h1", "h2", "h3", "h4"}) {
      c.add(h);
      clock.advance(1_000);
    }
    c.add("h5");
    assertThat(c.size()).as("never above capacity").isLessThanOrEqualTo(4);
    assertThat(c.contains("h1")).isFalse();
    assertThat(c.contains("h2")).isFalse();
    assertThat(c.contains("h4")).isTrue();
    assertThat(c.contains("h5")).isTrue();
  }
}
