package dev.ncro.server;

import dev.ncro.config.CacheConfig;
import java.time.Duration;

/**
 * NAR first-byte hedging settings ({@code cache.nar_hedge_delay}, {@code cache.nar_hedge_max}):
 * after {@code delay} without response headers, the same file is also asked of another holder; at
 * most {@code max} requests for one download are in flight. A zero delay turns hedging off.
 */
public record NarHedging(Duration delay, int max) {
  public static final NarHedging OFF = new NarHedging(Duration.ZERO, 1);

  public static NarHedging of(CacheConfig cache) {
    return cache.hedgesNars() ? new NarHedging(cache.narHedgeDelay(), cache.narHedgeMax()) : OFF;
  }

  boolean enabled() {
    return !delay.isZero() && max > 1;
  }
}
