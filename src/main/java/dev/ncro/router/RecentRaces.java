package dev.ncro.router;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The last few races, newest first, for the status page: an operator watching a build wants to see
 * which upstream is winning right now, not only the totals. Bounded; one small lock (a race takes
 * milliseconds, recording it takes nanoseconds).
 */
public final class RecentRaces {
  /** How a race ended; {@link #label()} is the name /status and the page show. */
  public enum Outcome {
    /** An upstream had it and won the race. */
    WON,
    /** A route learned from a mesh peer answered, without a race. */
    MESH,
    /** No regular upstream had it; the fallback cache did. */
    FALLBACK,
    /** Every upstream asked said absent, and none was silent. */
    ABSENT,
    /** No upstream had it and some could not answer (or were not asked). */
    UNAVAILABLE;

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** One race; {@code upstream} and {@code latencyMs} are the winner's (null and NaN otherwise). */
  public record Entry(
      long atMillis, String hash, Outcome outcome, String upstream, double latencyMs) {}

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
