package dev.ncro.systemd;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * systemd's watchdog ({@code WatchdogSec=}): a {@code WATCHDOG=1} every {@code ping} period, but
 * only while every event loop runs a task within that period. A loop stuck in a busy spin or a
 * blocking call serves no client; then the pings stop and systemd restarts ncro. A timer alone
 * would keep pinging from a JVM whose loops are dead.
 */
public final class Watchdog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Watchdog.class);

  private final ScheduledExecutorService timer;

  private Watchdog(ScheduledExecutorService timer) {
    this.timer = timer;
  }

  /** Starts pinging; returns a watchdog that does nothing when {@code ping} is null. */
  public static Watchdog start(Notifier notifier, Duration ping, EventLoopGroup loops) {
    if (ping == null) {
      return new Watchdog(null);
    }
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().name("ncro-watchdog").daemon(true).factory());
    long nanos = ping.toNanos();
    timer.scheduleWithFixedDelay(
        () -> {
          if (loopsAnswer(loops, ping)) {
            notifier.watchdog();
          }
        },
        0,
        nanos,
        TimeUnit.NANOSECONDS);
    log.atInfo()
        .setMessage("systemd watchdog on")
        .addKeyValue("ping_every", ping)
        .log();
    return new Watchdog(timer);
  }

  /** True when every event loop ran an empty task within {@code limit}. */
  static boolean loopsAnswer(EventLoopGroup loops, Duration limit) {
    List<Future<?>> answers = new ArrayList<>();
    try {
      for (EventExecutor loop : loops) {
        answers.add(loop.submit(() -> {}));
      }
    } catch (RejectedExecutionException shuttingDown) {
      return false;
    }
    long deadline = System.nanoTime() + limit.toNanos();
    for (Future<?> f : answers) {
      long left = deadline - System.nanoTime();
      if (!f.awaitUninterruptibly(Math.max(0, left), TimeUnit.NANOSECONDS) || !f.isSuccess()) {
        log.atWarn()
            .setMessage("an event loop did not answer; no watchdog ping")
            .addKeyValue("within", limit)
            .log();
        return false;
      }
    }
    return true;
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
