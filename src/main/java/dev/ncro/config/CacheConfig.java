package dev.ncro.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Route cache and latency tracking. {@code negativeTtl} is how long "absent from every upstream"
 * is remembered; {@code probeInterval} is the period of the background {@code /nix-cache-info}
 * probes. {@code store} is where routes persist ({@code cache.store}: SQLite at {@code dbPath}, or
 * a PostgreSQL database shared by several nodes).
 */
public record CacheConfig(
    Path dbPath,
    int maxEntries,
    Duration ttl,
    Duration negativeTtl,
    double latencyAlpha,
    Duration probeInterval,
    StoreConfig store) {

  /** The SQLite store at {@code dbPath}: the shape before {@code cache.store} existed. */
  public CacheConfig(Path dbPath, int maxEntries, Duration ttl, Duration negativeTtl, double latencyAlpha,
      Duration probeInterval) {
    this(dbPath, maxEntries, ttl, negativeTtl, latencyAlpha, probeInterval, StoreConfig.SQLITE);
  }
}
