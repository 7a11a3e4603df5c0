package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The lock-free reads see every write: each mutation publishes a new view. */
class UpstreamStatsTest {
  @Test
  void readsFollowEveryKindOfWrite() {
    UpstreamStats s = new UpstreamStats(0.5);
    assertThat(s.available()).isTrue();
    assertThat(s.emaMillis()).isNaN();

    s.recordSuccess(10);
    s.recordSuccess(20);
    assertThat(s.emaMillis()).isEqualTo(15.0);

    s.suspend();
    assertThat(s.suspended()).isTrue();
    assertThat(s.usable()).isTrue();
    assertThat(s.available()).isFalse();
    s.recordAlive();
    assertThat(s.available()).isTrue();

    for (int i = 0; i < 10 && s.health() != Health.DOWN; i++) {
      s.recordFailure();
    }
    assertThat(s.health()).isEqualTo(Health.DOWN);
    assertThat(s.consecutiveFailures()).isPositive();
    assertThat(s.usable()).isFalse();
    s.recordSuccess(30);
    assertThat(s.health()).isEqualTo(Health.ACTIVE);
    assertThat(s.consecutiveFailures()).isZero();

    s.block(Health.UNAUTHORIZED, "401 from /nix-cache-info");
    assertThat(s.state()).isEqualTo(Health.UNAUTHORIZED);
    assertThat(s.stateReason()).isEqualTo("401 from /nix-cache-info");
    assertThat(s.blocked()).isTrue();
    assertThat(s.available()).isFalse();
    s.recordSuccess(5); // an answer does not lift a refusal; only unblock (a good probe) does
    assertThat(s.state()).isEqualTo(Health.UNAUTHORIZED);
    s.unblock();
    assertThat(s.state()).isEqualTo(Health.ACTIVE);
    assertThat(s.stateReason()).isEmpty();
    assertThat(s.available()).isTrue();
  }
}
