package dev.ncro.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Route cache and latency tracking. {@code negativeTtl} is how long "absent from every upstream"
 * is remembered; {@code probeInterval} is the period of the background {@code /nix-cache-info}
 * probes. {@code maxConcurrentRaces} bounds the narinfo races running at once; more wait in a FIFO
 * queue.
 */
public record CacheConfig(
    Path dbPath,
    int maxEntries,
    Duration ttl,
    Duration negativeTtl,
    double latencyAlpha,
    Duration probeInterval,
    int maxConcurrentRaces) {
  public static final int DEFAULT_MAX_CONCURRENT_RACES = 64;

  /** The shape before race limits: {@code max_concurrent_races} 64. */
  public CacheConfig(Path dbPath, int maxEntries, Duration ttl, Duration negativeTtl, double latencyAlpha,
      Duration probeInterval) {
    this(dbPath, maxEntries, ttl, negativeTtl, latencyAlpha, probeInterval, DEFAULT_MAX_CONCURRENT_RACES);
  }
}
