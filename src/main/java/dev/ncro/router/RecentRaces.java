package dev.ncro.router;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The last few races, newest first, for the status page: an operator watching a build wants to see
 * which upstream is winning right now, not only the totals. Bounded; one small lock (a race takes
 * milliseconds, recording it takes nanoseconds).
 */
public final class RecentRaces {
  /**
   * One race. {@code outcome}: {@code won}, {@code absent} or {@code unavailable}; {@code upstream}
   * and {@code latencyMs} are the winner's (null and NaN otherwise).
   */
  public record Entry(long atMillis, String hash, String outcome, String upstream, double latencyMs) {}

  private final int capacity;
  private final ArrayDeque<Entry> entries;

  public RecentRaces(int capacity) {
    this.capacity = capacity;
    this.entries = new ArrayDeque<>(capacity);
  }

  synchronized void add(Entry e) {
    if (entries.size() == capacity) {
      entries.removeLast();
    }
    entries.addFirst(e);
  }

  public synchronized List<Entry> newestFirst() {
    return new ArrayList<>(entries);
  }
}
