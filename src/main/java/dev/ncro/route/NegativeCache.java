package dev.ncro.route;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Store paths that every upstream said it does not have, remembered for {@code cache.negative_ttl}.
 * Kept in memory only: losing it on restart costs one race per path. Bounded: when full, expired
 * entries are swept, and if none expired the oldest half is dropped.
 */
public final class NegativeCache {
  private final ConcurrentHashMap<String, Long> expiry = new ConcurrentHashMap<>();
  private final Duration ttl;
  private final int capacity;
  private final Clock clock;

  public NegativeCache(Duration ttl, int capacity, Clock clock) {
    this.ttl = ttl;
    this.capacity = capacity;
    this.clock = clock;
  }

  public boolean contains(String hash) {
    Long until = expiry.get(hash);
    if (until == null) {
      return false;
    }
    if (clock.millis() >= until) {
      expiry.remove(hash, until);
      return false;
    }
    return true;
  }

  public void add(String hash) {
    if (expiry.size() >= capacity) {
      sweep();
    }
    expiry.put(hash, clock.millis() + ttl.toMillis());
  }

  public void remove(String hash) {
    expiry.remove(hash);
  }

  public int size() {
    return expiry.size();
  }

  private void sweep() {
    long now = clock.millis();
    expiry.values().removeIf(until -> until <= now);
    if (expiry.size() >= capacity) {
      long median = expiry.values().stream().sorted().skip(expiry.size() / 2).findFirst().orElse(Long.MAX_VALUE);
      expiry.values().removeIf(until -> until <= median);
    }
  }
}
