package dev.ncro.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Route cache and latency tracking. {@code negativeTtl} is how long "absent from every upstream"
 * is remembered; {@code probeInterval} is the period of the background {@code /nix-cache-info}
 * probes.
 */
public record CacheConfig(
    Path dbPath,
    int maxEntries,
    Duration ttl,
    Duration negativeTtl,
    double latencyAlpha,
    Duration probeInterval) {}
