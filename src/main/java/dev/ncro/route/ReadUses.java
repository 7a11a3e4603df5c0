package dev.ncro.route;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Uses of routes read from a database whose stored {@code last_used} is more than
 * {@link #GRANULARITY} behind, for the backend's next {@code touch}. Only those: under random hits
 * over a large store, recording every use held up to {@link RouteMemoryCache#MAX_TOUCHED} entries
 * between flushes, promoted into the old generation (docs/decisions.md §14), for rows the flush
 * then left alone. Shared by the SQLite and PostgreSQL backends, which read {@code last_used} with
 * the row.
 */
final class ReadUses {
  /** A backend's touch leaves {@code last_used} alone when it is less than this much older. */
  static final Duration GRANULARITY = Duration.ofMinutes(10);

  private final ConcurrentHashMap<String, Long> uses = new ConcurrentHashMap<>();

  /** A read at {@code nowMillis} of the row for {@code hash}, whose stored last use is {@code lastUsedMillis}. */
  void read(String hash, long lastUsedMillis, long nowMillis) {
    if (nowMillis - lastUsedMillis >= GRANULARITY.toMillis()
        && uses.size() < RouteMemoryCache.MAX_TOUCHED) {
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
