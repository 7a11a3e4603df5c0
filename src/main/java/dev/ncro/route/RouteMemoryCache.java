package dev.ncro.route;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bounded LRU of recently used routes (with their narinfo bodies) and an index from NAR URL to
 * route, plus the recency of each use since the last flush. A single monitor guards it: every
 * operation is a few hash-map steps.
 */
final class RouteMemoryCache {
  private final int capacity;
  private final java.time.Clock clock;
  private final LinkedHashMap<String, Route> byHash;
  private final HashMap<String, Route> byNarUrl = new HashMap<>();
  private HashMap<String, Long> touched = new HashMap<>();

  RouteMemoryCache(int capacity, java.time.Clock clock) {
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
      touched.put(hash, clock.millis());
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
    touched.put(r.hash(), clock.millis());
  }

  synchronized void remove(String hash) {
    Route old = byHash.remove(hash);
    if (old != null) {
      unindex(old);
    }
    touched.remove(hash);
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
