package dev.ncro.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.config.UpstreamConfig;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class UpstreamOrderTest {
  private static Upstream upstream(String host, int priority, double... samples) {
    Upstream u =
        new Upstream(new UpstreamConfig(URI.create("http://" + host), priority, List.of()), 0.3);
    for (double s : samples) {
      u.stats().recordSuccess(s);
    }
    return u;
  }

  @Test
  void emaSeedsWithFirstSampleThenSmooths() {
    Upstream u = upstream("a", 10, 100);
    assertThat(u.stats().emaMillis()).isEqualTo(100.0);
    u.stats().recordSuccess(200);
    assertThat(u.stats().emaMillis()).isCloseTo(0.3 * 200 + 0.7 * 100, Offset.offset(1e-9));
  }

  @Test
  void lowerLatencyFirst() {
    Upstream slow = upstream("slow", 1, 80);
    Upstream fast = upstream("fast", 50, 10);
    Upstream mid = upstream("mid", 20, 40);
    assertThat(UpstreamOrder.order(List.of(slow, fast, mid))).containsExactly(fast, mid, slow);
  }

  @Test
  void priorityBreaksTiesWithinTenPercent() {
    Upstream a = upstream("a", 20, 100);
    Upstream b = upstream("b", 10, 105);
    assertThat(UpstreamOrder.order(List.of(a, b))).containsExactly(b, a);
  }

  @Test
  void priorityDoesNotOverrideARealDifference() {
    Upstream a = upstream("a", 20, 100);
    Upstream b = upstream("b", 10, 120);
    assertThat(UpstreamOrder.order(List.of(b, a))).containsExactly(a, b);
  }

  @Test
  void unmeasuredUpstreamsComeLastByPriority() {
    Upstream measured = upstream("m", 30, 500);
    Upstream p20 = upstream("p20", 20);
    Upstream p10 = upstream("p10", 10);
    assertThat(UpstreamOrder.order(List.of(p20, measured, p10)))
        .containsExactly(measured, p10, p20);
  }

  @Test
  void healthFollowsConsecutiveFailures() {
    Upstream u = upstream("a", 10, 5);
    for (int i = 1; i <= 2; i++) {
      u.stats().recordFailure();
    }
    assertThat(u.stats().health()).isEqualTo(Health.ACTIVE);
    u.stats().recordFailure();
    assertThat(u.stats().health()).isEqualTo(Health.DEGRADED);
    assertThat(u.usable()).isTrue();
    for (int i = 4; i <= 10; i++) {
      u.stats().recordFailure();
    }
    assertThat(u.stats().health()).isEqualTo(Health.DOWN);
    assertThat(u.usable()).isFalse();
    u.stats().recordSuccess(7);
    assertThat(u.stats().health()).isEqualTo(Health.ACTIVE);
    assertThat(u.stats().consecutiveFailures()).isZero();
  }

  @Test
  void registryLeavesDownUpstreamsOut() {
    Upstream up = upstream("up", 10, 50);
    Upstream down = upstream("down", 10, 5);
    for (int i = 0; i < 10; i++) {
      down.stats().recordFailure();
    }
    UpstreamRegistry reg = new UpstreamRegistry(List.of(up, down), Duration.ofMinutes(1));
    assertThat(reg.availableOrdered()).containsExactly(up);
    assertThat(reg.anyUsable()).isTrue();
  }

  @Test
  void aDownUpstreamIsGoneOnlyAfterStayingDownLongEnough() throws Exception {
    Upstream u = upstream("x", 10);
    UpstreamRegistry patient = new UpstreamRegistry(List.of(u), Duration.ofMinutes(1));
    UpstreamRegistry hasty = new UpstreamRegistry(List.of(u), Duration.ZERO);
    for (int i = 0; i < 10; i++) {
      patient.failure(u, FailureKind.TIMEOUT, "test", System.nanoTime());
    }
    assertThat(u.stats().health()).isEqualTo(Health.DOWN);
    Thread.sleep(5);
    assertThat(patient.gone(u)).as("ten quick failures are not yet 'gone'").isFalse();
    assertThat(hasty.gone(u)).isTrue();
    patient.success(u, 5);
    assertThat(hasty.gone(u)).as("one answer and it is back").isFalse();
    assertThat(u.stats().suspended()).isFalse();
  }

  @Test
  void aTimeoutOfARequestSentBeforeTheLatestAnswerDoesNotSuspendAgain() {
    Upstream u = upstream("x", 10);
    UpstreamRegistry reg = new UpstreamRegistry(List.of(u), Duration.ofMinutes(1));
    long sentIntoTheHole = System.nanoTime();
    reg.failure(u, FailureKind.TIMEOUT, "first timeout", sentIntoTheHole);
    assertThat(u.stats().suspended()).isTrue();
    long probeSentDuringTheHang = System.nanoTime();
    reg.alive(u); // a later probe: it is back
    assertThat(u.stats().suspended()).isFalse();

    reg.failure(
        u, FailureKind.TIMEOUT, "the hung probe's timeout fires now", probeSentDuringTheHang);
    assertThat(u.stats().suspended()).as("stale: sent before the latest answer").isFalse();
    assertThat(reg.availableOrdered()).containsExactly(u);

    reg.failure(u, FailureKind.CONNECT, "refused now", System.nanoTime());
    assertThat(u.stats().suspended())
        .as("a request sent after the answer counts")
        .isTrue();
  }
}
