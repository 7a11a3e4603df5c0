package dev.ncro.route;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Uses of routes read from a database whose stored {@code last_used} is more than
 * {@link #GRANULARITY} behind, for the backend's next {@code touch}. Only those: under random hits
 * over a large store, recording every use held up to 65 536 entries between flushes, promoted into the old generation (docs/decisions.md §14), for rows the flush
 * then left alone. Shared by the SQLite and PostgreSQL backends, which read {@code last_used} with
 * the row.
 */
final class ReadUses {
  /** A backend's touch leaves {@code last_used} alone when it is less than this much older. */
  static final Duration GRANULARITY = Duration.ofMinutes(10);

  /**
   * Uses waiting for a flush, at most: with the flush every 10 s, at most about 800 row writes a
   * second for database reads. Measured at 1 000 000 routes (`bench/scale/run`), whose rows are
   * all stale on the first pass after a quiet spell: with the memory layer's 65 536, a random hit
   * cost ncro 45 µs of CPU more than a hot one, against 27 µs with 8 192 and 30 µs with no
   * recency written at all (random ÷ hot CPU per request 0.48 against 0.57, consecutive runs). A use not
   * recorded only makes eviction approximate: a route read once in a busy pass may go before one
   * read earlier, costing a race later, never a wrong answer; a route read again is recorded at a
   * later flush.
   */
  static final int MAX_PENDING = 8192;

  private final ConcurrentHashMap<String, Long> uses = new ConcurrentHashMap<>();

  /** A read at {@code nowMillis} of the row for {@code hash}, whose stored last use is {@code lastUsedMillis}. */
  void read(String hash, long lastUsedMillis, long nowMillis) {
    if (nowMillis - lastUsedMillis >= GRANULARITY.toMillis() && uses.size() < MAX_PENDING) {
      uses.put(hash, nowMillis);
    }
  }

  /** Moves the recorded uses into {@code touches}. */
  void drainInto(List<RouteBackend.Touch> touches) {
    for (String hash : List.copyOf(uses.keySet())) {
      Long at = uses.remove(hash);
      if (at != null) {
        touches.add(new RouteBackend.Touch(hash, at));
      }
    }
  }
}
