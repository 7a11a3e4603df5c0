package dev.ncro.systemd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The environment systemd passes (sd_listen_fds(3), sd_watchdog_enabled(3)) and the watchdog's loop check. */
class SystemdTest {
  private static final long PID = 4242;

  @Test
  void listenFdsForThisProcessStartAtThree() {
    Systemd s = Systemd.fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "2"), PID);
    assertThat(s.listenFds()).containsExactly(3, 4);
  }

  @Test
  void listenFdsForAnotherProcessAreIgnored() {
    assertThat(Systemd.fromEnvironment(Map.of("LISTEN_PID", "1", "LISTEN_FDS", "1"), PID)
            .listenFds())
        .isEmpty();
    // sd_listen_fds(3): no LISTEN_PID, no sockets.
    assertThat(Systemd.fromEnvironment(Map.of("LISTEN_FDS", "1"), PID).listenFds())
        .isEmpty();
    assertThat(Systemd.fromEnvironment(Map.of(), PID)).isEqualTo(Systemd.NONE);
  }

  @Test
  void malformedValuesNameTheVariable() {
    assertThatThrownBy(
            () -> Systemd.fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "x"), PID))
        .hasMessageContaining("LISTEN_FDS")
        .hasMessageContaining("\"x\"");
    assertThatThrownBy(() -> Systemd.fromEnvironment(Map.of("WATCHDOG_USEC", "-5"), PID))
        .hasMessageContaining("WATCHDOG_USEC");
  }

  @Test
  void watchdogPingsAtHalfThePeriod() {
    Systemd s = Systemd.fromEnvironment(
        Map.of("WATCHDOG_USEC", "30000000", "NOTIFY_SOCKET", "/run/n"), PID);
    assertThat(s.watchdogPing()).isEqualTo(Duration.ofSeconds(15));
    assertThat(s.notifySocket()).isEqualTo("/run/n");
    assertThat(Systemd.fromEnvironment(
                Map.of("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "4242"), PID)
            .watchdogPing())
        .isEqualTo(Duration.ofSeconds(15));
    assertThat(
            Systemd.fromEnvironment(Map.of("WATCHDOG_USEC", "30000000", "WATCHDOG_PID", "7"), PID)
                .watchdogPing())
        .isNull();
  }

  @Test
  void aBlockedEventLoopStopsThePings() throws Exception {
    EventLoopGroup loops = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
    try {
      assertThat(Watchdog.loopsAnswer(loops, Duration.ofSeconds(5))).isTrue();
      CountDownLatch release = new CountDownLatch(1);
      CountDownLatch blocked = new CountDownLatch(1);
      loops.next().execute(() -> {
        blocked.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      blocked.await();
      assertThat(Watchdog.loopsAnswer(loops, Duration.ofMillis(200))).isFalse();
      release.countDown();
      assertThat(Watchdog.loopsAnswer(loops, Duration.ofSeconds(5))).isTrue();
    } finally {
      loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void noNotifySocketMeansNoNotifier() throws Exception {
    assertThat(Notifier.open(null)).isSameAs(Notifier.NONE);
  }
}
