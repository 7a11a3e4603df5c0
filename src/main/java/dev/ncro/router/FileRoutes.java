package dev.ncro.router;

import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Which upstream served a cache file (log, realisation, listing, debuginfo) last time, for
 * {@code cache.ttl}: the next request for it goes to that upstream alone, without a race. In
 * memory, bounded, least recently used out first.
 *
 * <p>Why not the SQLite route store: these files are requested far less often than narinfos (a log
 * when someone debugs, a realisation once per CA output), nothing handed out later depends on the
 * mapping (unlike a NAR URL, which must keep working for 30 days), and losing it at a restart costs
 * one race. A table of its own in the route store would add a schema migration for no such gain.
 */
public final class FileRoutes {
  private record Remembered(String upstream, long expiresAtMillis) {}

  private final Map<String, Remembered> entries;
  private final long ttlMillis;
  private final Clock clock;

  public FileRoutes(int capacity, Duration ttl, Clock clock) {
    this.ttlMillis = ttl.toMillis();
    this.clock = clock;
    this.entries = new LinkedHashMap<>(256, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Remembered> eldest) {
        return size() > capacity;
      }
    };
  }

  /** The upstream (by name) that served {@code path}, while its entry is live. */
  public synchronized Optional<String> upstreamFor(String path) {
    Remembered e = entries.get(path);
    if (e == null) {
      return Optional.empty();
    }
    if (clock.millis() >= e.expiresAtMillis) {
      entries.remove(path);
      return Optional.empty();
    }
    return Optional.of(e.upstream);
  }

  public synchronized void put(String path, String upstream) {
    entries.put(path, new Remembered(upstream, clock.millis() + ttlMillis));
  }

  public synchronized void remove(String path) {
    entries.remove(path);
  }

  public synchronized int size() {
    return entries.size();
  }
}
