package dev.ncro.route;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Recently used routes (with their narinfo bodies) in memory, an index from NAR URL to route, and
 * the recency of each use since the last flush.
 *
 * <p>Design notes (figures in docs/benchmarks.md, "scale"). A Caffeine cache, not a LinkedHashMap
 * under one monitor: a hit is a lock-free read (the access order is recorded in Caffeine's striped
 * buffers, not by relinking a list under a lock that every event loop shares), and its TinyLFU
 * admission keeps the routes that are used again when random lookups over a large store pass
 * through (an LRU lets each of them push a hot route out). Bounded by entries: a narinfo body is
 * about 1 KB, so the default 20 000 hold ~25 MiB.
 *
 * <p>Recency: a use is recorded at most once a second per route (a hot key costs a read of the
 * map, not a write; a write at insertion sets it anyway), and at most {@link #MAX_TOUCHED} routes wait for a flush: beyond that a use is
 * not recorded, which can only make eviction pick a route that was in fact used (costing a race
 * later), never serve a wrong answer; it bounds the memory a burst of random hits can take.
 */
final class RouteMemoryCache {
  /** About 10 MiB of pending recency at most (a hash string, a boxed time and a map node each). */
  static final int MAX_TOUCHED = 65_536;
  /** A hot route's use is recorded at most once a second: its map entry is read, not written, per hit. */
  private static final long TOUCH_GRAIN_MILLIS = 1000;

  private final Clock clock;
  private final Cache<String, Route> byHash;
  private final ConcurrentHashMap<String, Route> byNarUrl = new ConcurrentHashMap<>();
  private volatile ConcurrentHashMap<String, Long> touched = new ConcurrentHashMap<>();

  RouteMemoryCache(int capacity, Clock clock) {
    this.clock = clock;
    this.byHash = Caffeine.newBuilder()
        .maximumSize(capacity)
        // evictions (and the index cleanup) run on the calling thread: no pool, no lag in tests
        .executor(Runnable::run)
        .<String, Route>evictionListener((hash, route, cause) -> {
          if (route != null) {
            unindex(route);
          }
        })
        .build();
  }

  Route get(String hash) {
    Route r = byHash.getIfPresent(hash);
    if (r != null) {
      touch(hash);
    }
    return r;
  }

  Route byNarUrl(String narUrl) {
    return byNarUrl.get(narUrl);
  }

  void put(Route r) {
    Route old = byHash.asMap().put(r.hash(), r);
    if (old != null && old != r) {
      unindex(old);
    }
    if (r.narUrl() != null) {
      byNarUrl.put(r.narUrl(), r);
      // Evicted meanwhile (its listener ran before the index entry existed): do not leave it behind.
      if (byHash.getIfPresent(r.hash()) != r) {
        byNarUrl.remove(r.narUrl(), r);
      }
    }
  }

  void remove(String hash) {
    Route old = byHash.asMap().remove(hash);
    if (old != null) {
      unindex(old);
    }
    touched.remove(hash);
  }

  /** The uses recorded since the last call, and a fresh record. */
  List<RouteBackend.Touch> drainTouched() {
    ConcurrentHashMap<String, Long> drained = touched;
    touched = new ConcurrentHashMap<>();
    List<RouteBackend.Touch> out = new ArrayList<>(drained.size());
    drained.forEach((h, t) -> out.add(new RouteBackend.Touch(h, t)));
    return out;
  }

  /** Records a use of {@code hash} now (a lookup that found it, in memory or below). */
  void touch(String hash) {
    ConcurrentHashMap<String, Long> t = touched;
    Long prev = t.get(hash);
    long now = clock.millis();
    if (prev == null ? t.size() < MAX_TOUCHED : now - prev >= TOUCH_GRAIN_MILLIS) {
      t.put(hash, now);
    }
  }

  private void unindex(Route r) {
    if (r.narUrl() != null) {
      byNarUrl.remove(r.narUrl(), r);
    }
  }
}
