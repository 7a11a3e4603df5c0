package dev.ncro.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Route cache and latency tracking. {@code negativeTtl} is how long "absent from every upstream"
 * is remembered; {@code probeInterval} is the period of the background {@code /nix-cache-info}
 * probes. {@code narHedgeDelay} is how long the routed upstream may keep a NAR's response headers
 * before the same file is also asked of another holder (zero: never), and {@code narHedgeMax} how
 * many such requests for one NAR may be in flight at once, the routed one included.
 * {@code maxConcurrentRaces} bounds the narinfo races running at once; more wait in a FIFO
 * queue.
 * {@code store} is where routes persist ({@code cache.store}: SQLite at {@code dbPath}, or
 * a PostgreSQL database shared by several nodes).
 */
public record CacheConfig(
    Path dbPath,
    int maxEntries,
    Duration ttl,
    Duration negativeTtl,
    double latencyAlpha,
    Duration probeInterval,
    Duration narHedgeDelay,
    int narHedgeMax,
    int maxConcurrentRaces,
    StoreConfig store) {
  public static final Duration DEFAULT_NAR_HEDGE_DELAY = Duration.ofSeconds(1);
  public static final int DEFAULT_NAR_HEDGE_MAX = 2;
  public static final int DEFAULT_MAX_CONCURRENT_RACES = 64;

  /** The SQLite store at {@code dbPath}, hedging and race limit at their defaults. */
  public CacheConfig(
      Path dbPath,
      int maxEntries,
      Duration ttl,
      Duration negativeTtl,
      double latencyAlpha,
      Duration probeInterval) {
    this(
        dbPath,
        maxEntries,
        ttl,
        negativeTtl,
        latencyAlpha,
        probeInterval,
        DEFAULT_NAR_HEDGE_DELAY,
        DEFAULT_NAR_HEDGE_MAX,
        DEFAULT_MAX_CONCURRENT_RACES,
        StoreConfig.SQLITE);
  }

  /** This configuration with NAR hedging after {@code delay}, at most {@code max} attempts. */
  public CacheConfig withNarHedging(Duration delay, int max) {
    return new CacheConfig(
        dbPath,
        maxEntries,
        ttl,
        negativeTtl,
        latencyAlpha,
        probeInterval,
        delay,
        max,
        maxConcurrentRaces,
        store);
  }

  /** This configuration with at most {@code n} narinfo races at once. */
  public CacheConfig withMaxConcurrentRaces(int n) {
    return new CacheConfig(
        dbPath,
        maxEntries,
        ttl,
        negativeTtl,
        latencyAlpha,
        probeInterval,
        narHedgeDelay,
        narHedgeMax,
        n,
        store);
  }

  /** This configuration with routes in {@code store}, bounded at {@code maxEntries}. */
  public CacheConfig withStore(StoreConfig store, int maxEntries) {
    return new CacheConfig(
        dbPath,
        maxEntries,
        ttl,
        negativeTtl,
        latencyAlpha,
        probeInterval,
        narHedgeDelay,
        narHedgeMax,
        maxConcurrentRaces,
        store);
  }

  /** Whether a slow NAR is ever hedged. */
  public boolean hedgesNars() {
    return !narHedgeDelay.isZero();
  }
}
