package dev.ncro.route;

import java.util.List;
import java.util.Optional;

/**
 * Where routes persist, behind {@link RouteStore}'s memory layer. One implementation per database
 * ({@link SqliteRouteBackend} today); the store above owns what must be the same for every one of
 * them: the memory cache, recency tracking and the rule that an invalidated route stays gone.
 *
 * <p>Every method may block on I/O; failures are {@link RouteStoreException.Unchecked}. Rows
 * outlive their TTL (an expired route still maps its NAR URL to an upstream) and leave only by
 * {@link #delete} or by least-recently-used eviction above the backend's bound.
 */
public interface RouteBackend extends AutoCloseable {
  /** The last use of a cached route, written back in batches so a hit costs no database write. */
  record Touch(String hash, long atMillis) {}

  /** The route for {@code hash}, live or expired. */
  Optional<Route> find(String hash);

  /** The most recently verified route whose narinfo carried NAR URL {@code narUrl}. */
  Optional<Route> findByNarUrl(String narUrl);

  /** Up to {@code limit} routes live at {@code nowMillis}, most recently verified first. */
  List<Route> recentLive(long nowMillis, int limit);

  /** Inserts or replaces {@code route}, then evicts least-recently-used rows above the bound. */
  void upsert(Route route);

  /**
   * Inserts or replaces every route, then evicts as {@link #upsert} does: a backend that can should
   * write them in one transaction (one commit for a burst of races instead of one each).
   */
  default void upsertAll(List<Route> routes) {
    for (Route r : routes) {
      upsert(r);
    }
  }

  /** Removes the route for {@code hash}, if any. */
  void delete(String hash);

  /** Records the last use of routes served from memory (for LRU eviction). */
  void touch(List<Touch> touched);

  /**
   * Whether {@link #find} records a use of what it finds itself (when the stored last use is
   * stale), so the caller need not: the SQLite backend reads {@code last_used} with the row and
   * remembers only the uses a flush would write.
   */
  default boolean recordsUsesOnRead() {
    return false;
  }

  /** How many routes are stored. */
  int count();

  @Override
  void close();
}
