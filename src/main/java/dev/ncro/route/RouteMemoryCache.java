package dev.ncro.route;

import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bounded LRU of recently used routes (with their narinfo bodies) and an index from NAR URL to
 * route, plus the recency of each use since the last flush. A single monitor guards it: every
 * operation is a few hash-map steps.
 *
 * <p>Design notes (docs/decisions.md §12). The monitor stays: a Caffeine cache measured 2 to 5x
 * slower than this map under the same monitor for the warm-hit mixes of {@code bench/scale}, with
 * the same hit ratio, on the 2-core machine ncro is benchmarked on (one event loop takes the hits:
 * the monitor is not contended). What cost time at scale was below it (one SQLite connection under
 * one lock) and the recency record: a use is now recorded at most once a second per route (a hot
 * key reads the map, writes nothing), not on insertion (the write sets it), and at most
 * {@link #MAX_TOUCHED} routes wait for a flush: beyond that a use is not recorded, which can only
 * make eviction pick a route that was in fact used (costing a race later), never a wrong answer;
 * it bounds the memory a burst of random hits over a large store can take between flushes.
 */
final class RouteMemoryCache {
  /** About 10 MiB of pending recency at most (a hash string, a boxed time and a map node each). */
  static final int MAX_TOUCHED = 65_536;
  /** A hot route's use is recorded at most once a second. */
  private static final long TOUCH_GRAIN_MILLIS = 1000;

  private final int capacity;
  private final Clock clock;
  private final LinkedHashMap<String, Route> byHash;
  private final HashMap<String, Route> byNarUrl = new HashMap<>();
  private HashMap<String, Long> touched = new HashMap<>();

  RouteMemoryCache(int capacity, Clock clock) {
    this.capacity = capacity;
    this.clock = clock;
    this.byHash = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Route> eldest) {
        boolean evict = size() > RouteMemoryCache.this.capacity;
        if (evict) {
          unindex(eldest.getValue());
        }
        return evict;
      }
    };
  }

  synchronized Route get(String hash) {
    Route r = byHash.get(hash);
    if (r != null) {
      touch(hash);
    }
    return r;
  }

  synchronized Route byNarUrl(String narUrl) {
    return byNarUrl.get(narUrl);
  }

  synchronized void put(Route r) {
    Route old = byHash.put(r.hash(), r);
    if (old != null) {
      unindex(old);
    }
    if (r.narUrl() != null) {
      byNarUrl.put(r.narUrl(), r);
    }
  }

  synchronized void remove(String hash) {
    Route old = byHash.remove(hash);
    if (old != null) {
      unindex(old);
    }
    touched.remove(hash);
  }

  /** Records a use of {@code hash} now (a lookup that found it, in memory or below). */
  synchronized void touch(String hash) {
    Long prev = touched.get(hash);
    long now = clock.millis();
    if (prev == null ? touched.size() < MAX_TOUCHED : now - prev >= TOUCH_GRAIN_MILLIS) {
      touched.put(hash, now);
    }
  }

  synchronized List<RouteBackend.Touch> drainTouched() {
    List<RouteBackend.Touch> out = new ArrayList<>(touched.size());
    touched.forEach((h, t) -> out.add(new RouteBackend.Touch(h, t)));
    touched = new HashMap<>();
    return out;
  }

  private void unindex(Route r) {
    if (r.narUrl() != null) {
      byNarUrl.remove(r.narUrl(), r);
    }
  }
}
