package dev.ncro.route;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The routes worth keeping in memory (with their narinfo bodies), an index from NAR URL to route,
 * and the recency of each use since the last flush.
 *
 * <p>Design notes (docs/decisions.md §13). The routes live in a Caffeine cache, whose W-TinyLFU
 * policy admits a route read from the database only when it is used more often than the route it
 * would evict. The LRU map this replaced admitted every one: under random hits over a store larger
 * than memory (100 000 routes, 20 000 in memory) four of five hits inserted a ~1.5 KB route and
 * evicted another, a route lived about a second, long enough to be copied through the young
 * generation and promoted, and the old generation filled with evicted routes: young pauses of 30
 * ms, a full collection every 3 s (130 ms), a p99 of 100 ms and an RSS of 380 MiB at
 * {@code -Xmx256m}. With admission, a route that is not hotter than the resident ones dies young.
 * A cache of uniform random access cannot be right more often than its share of the keys, so the
 * hit ratio is the same; what changes is the garbage. (An earlier in-process comparison preferred
 * the LRU map for its per-operation cost, §12; it did not see the collector.)
 *
 * <p>Maintenance (eviction) runs on the calling thread ({@code executor(Runnable::run)}): no pool
 * thread, and the NAR URL index is unindexed in the eviction listener as an entry leaves. An entry
 * and its index entry are written inside one {@code compute}, so an eviction of the entry always
 * follows its indexing and the index never keeps a route the cache dropped.
 *
 * <p>Recency: each entry remembers when its last use was recorded (at first, when it entered:
 * the database's {@code last_used} is that recent), and a hit records a use only when that is
 * {@link ReadUses#GRANULARITY} old, the grain below which the flush writes nothing anyway. So a
 * route in memory is recorded about once per 10 minutes of use, not once a second: the pending
 * map it replaces held up to 65 536 entries between flushes under random hits, and copying and
 * scanning it doubled the young pauses (random-hit p99 12.7 against 7.7 ms without it,
 * {@code bench/scale/run} at 100 000 routes). At most {@link #MAX_TOUCHED} routes wait for a
 * flush; beyond that a use is not recorded, which can only make the database's eviction pick a
 * route that was in fact used (costing a race later), never a wrong answer.
 */
final class RouteMemoryCache {
  /** About 10 MiB of pending recency at most (a hash string, a boxed time and a map node each). */
  static final int MAX_TOUCHED = 65_536;

  private static final long GRAIN_MILLIS = ReadUses.GRANULARITY.toMillis();

  private final Clock clock;
  private final Cache<String, Entry> byHash;
  private final ConcurrentHashMap<String, Route> byNarUrl = new ConcurrentHashMap<>();
  private final Object touchLock = new Object();
  private HashMap<String, Long> touched = new HashMap<>();

  /** A route in memory and when its last use was recorded. */
  private static final class Entry {
    final Route route;
    volatile long recordedUse;

    Entry(Route route, long recordedUse) {
      this.route = route;
      this.recordedUse = recordedUse;
    }
  }

  RouteMemoryCache(int capacity, Clock clock) {
    this.clock = clock;
    this.byHash = Caffeine.newBuilder()
        .maximumSize(capacity)
        .executor(Runnable::run)
        .<String, Entry>evictionListener((hash, e, cause) -> unindex(e == null ? null : e.route))
        .build();
  }

  Route get(String hash) {
    Entry e = byHash.getIfPresent(hash);
    if (e == null) {
      return null;
    }
    long now = clock.millis();
    if (now - e.recordedUse >= GRAIN_MILLIS) {
      e.recordedUse = now;
      record(hash, now);
    }
    return e.route;
  }

  Route byNarUrl(String narUrl) {
    return byNarUrl.get(narUrl);
  }

  void put(Route r) {
    long now = clock.millis();
    byHash.asMap().compute(r.hash(), (hash, old) -> indexed(old, r, now));
  }

  /**
   * Replaces the route for {@code r.hash()} if memory holds one (a route raced again after it
   * expired or was invalidated): a stale route left in memory would be found first and raced
   * again at every lookup. Adds nothing otherwise.
   */
  void replaceIfPresent(Route r) {
    long now = clock.millis();
    byHash.asMap().computeIfPresent(r.hash(), (hash, old) -> indexed(old, r, now));
  }

  /** The entry for {@code r} in place of {@code old} (or none), its NAR URL index moved with it. */
  private Entry indexed(Entry old, Route r, long now) {
    if (old != null) {
      unindex(old.route);
    }
    if (r.narUrl() != null) {
      byNarUrl.put(r.narUrl(), r);
    }
    return new Entry(r, now);
  }

  void remove(String hash) {
    byHash.asMap().computeIfPresent(hash, (h, old) -> {
      unindex(old.route);
      return null;
    });
    synchronized (touchLock) {
      touched.remove(hash);
    }
  }

  /**
   * Records a use of {@code hash} now: a lookup that found it below the memory layer, for a backend
   * that does not record such uses itself ({@link RouteBackend#recordsUsesOnRead}).
   */
  void touch(String hash) {
    long now = clock.millis();
    Entry e = byHash.getIfPresent(hash);
    if (e != null) {
      e.recordedUse = now;
    }
    record(hash, now);
  }

  private void record(String hash, long now) {
    synchronized (touchLock) {
      if (touched.size() < MAX_TOUCHED || touched.containsKey(hash)) {
        touched.put(hash, now);
      }
    }
  }

  List<RouteBackend.Touch> drainTouched() {
    HashMap<String, Long> drained;
    synchronized (touchLock) {
      drained = touched;
      touched = new HashMap<>();
    }
    List<RouteBackend.Touch> out = new ArrayList<>(drained.size());
    drained.forEach((h, t) -> out.add(new RouteBackend.Touch(h, t)));
    return out;
  }

  /** Routes in memory now (tests; Caffeine's count, which trails a burst of inserts briefly). */
  long size() {
    byHash.cleanUp();
    return byHash.estimatedSize();
  }

  private void unindex(Route r) {
    if (r != null && r.narUrl() != null) {
      byNarUrl.remove(r.narUrl(), r);
    }
  }
}
