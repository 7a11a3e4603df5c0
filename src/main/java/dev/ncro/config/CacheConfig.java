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
    int maxConcurrentRaces) {
  public static final Duration DEFAULT_NAR_HEDGE_DELAY = Duration.ofSeconds(1);
  public static final int DEFAULT_NAR_HEDGE_MAX = 2;
  public static final int DEFAULT_MAX_CONCURRENT_RACES = 64;

  /** Without the hedging fields and race limit: their defaults. */
  public CacheConfig(Path dbPath, int maxEntries, Duration ttl, Duration negativeTtl, double latencyAlpha,
      Duration probeInterval) {
    this(dbPath, maxEntries, ttl, negativeTtl, latencyAlpha, probeInterval, DEFAULT_NAR_HEDGE_DELAY, DEFAULT_NAR_HEDGE_MAX);
  }

  /** Without the race limit: {@code max_concurrent_races} 64. */
  public CacheConfig(Path dbPath, int maxEntries, Duration ttl, Duration negativeTtl, double latencyAlpha,
      Duration probeInterval, Duration narHedgeDelay, int narHedgeMax) {
    this(dbPath, maxEntries, ttl, negativeTtl, latencyAlpha, probeInterval, narHedgeDelay, narHedgeMax,
        DEFAULT_MAX_CONCURRENT_RACES);
  }

  /** Without the hedging fields: their defaults. */
  public CacheConfig(Path dbPath, int maxEntries, Duration ttl, Duration negativeTtl, double latencyAlpha,
      Duration probeInterval, int maxConcurrentRaces) {
    this(dbPath, maxEntries, ttl, negativeTtl, latencyAlpha, probeInterval, DEFAULT_NAR_HEDGE_DELAY, DEFAULT_NAR_HEDGE_MAX,
        maxConcurrentRaces);
  }

  /** Whether a slow NAR is ever hedged. */
  public boolean hedgesNars() {
    return !narHedgeDelay.isZero();
  }
}
