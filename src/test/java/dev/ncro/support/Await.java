package dev.ncro.support;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Waits for something asynchronous to become true: outcomes, never timings, are asserted. */
public final class Await {
  private static final Duration LIMIT = Duration.ofSeconds(15);

  private Await() {}

  public static void until(String what, BooleanSupplier cond) throws InterruptedException {
    until(what, LIMIT, cond);
  }

  /** As {@link #until(String, BooleanSupplier)}, for what has its own bound (an mDNS record's TTL). */
  public static void until(String what, Duration limit, BooleanSupplier cond)
      throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out after " + limit.toSeconds() + " s waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }
}
