package dev.ncro.support;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Waits for something asynchronous to become true: outcomes, never timings, are asserted. */
public final class Await {
  private static final Duration LIMIT = Duration.ofSeconds(15);

  private Await() {}

  public static void until(String what, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + LIMIT.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + LIMIT.toSeconds() + " s waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }
}
