package dev.ncro.route;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Store paths that every upstream said it does not have, remembered for {@code cache.negative_ttl}.
 * Kept in memory: losing it on restart costs one race per path. Bounded: when full, expired
 * entries are swept, and if none expired the oldest half is dropped.
 *
 * <p>Behind the memory map there may be a {@link Shared} layer (the PostgreSQL store): entries added
 * here are written there, and entries other nodes wrote are learned by {@link #containsShared}
 * after a route lookup missed. A node alone ({@link Shared#NONE}) behaves exactly as before.
 */
public final class NegativeCache {
  /** Negative entries shared with other nodes. */
  public interface Shared {
    /** Nothing shared: a node alone. */
    Shared NONE = new Shared() {
      @Override
      public void added(String hash, long untilMillis) {}

      @Override
      public long learned(String hash) {
        return 0;
      }
    };

    /** This node found {@code hash} absent everywhere; called on the request path, must not block. */
    void added(String hash, long untilMillis);

    /**
     * The expiry of a negative entry for {@code hash} that the database lookup just made for it
     * (the route lookup on a memory miss) found, or 0: no round trip of its own.
     */
    long learned(String hash);
  }

  private final ConcurrentHashMap<String, Long> expiry = new ConcurrentHashMap<>();
  private final Duration ttl;
  private final int capacity;
  private final Clock clock;
  private final Shared shared;

  public NegativeCache(Duration ttl, int capacity, Clock clock) {
    this(ttl, capacity, clock, Shared.NONE);
  }

  public NegativeCache(Duration ttl, int capacity, Clock clock, Shared shared) {
    this.ttl = ttl;
    this.capacity = capacity;
    this.clock = clock;
    this.shared = shared;
  }

  /**
   * After a route lookup that reached the shared layer missed: whether another node found
   * {@code hash} absent everywhere. A live entry is kept in memory from then on.
   */
  public boolean containsShared(String hash) {
    long until = shared.learned(hash);
    if (until <= clock.millis()) {
      return false;
    }
    if (expiry.size() >= capacity) {
      sweep();
    }
    expiry.merge(hash, until, Math::max);
    return true;
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
    long until = clock.millis() + ttl.toMillis();
    expiry.put(hash, until);
    shared.added(hash, until);
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
      long median = expiry.values().stream()
          .sorted()
          .skip(expiry.size() / 2)
          .findFirst()
          .orElse(Long.MAX_VALUE);
      expiry.values().removeIf(until -> until <= median);
    }
  }
}
