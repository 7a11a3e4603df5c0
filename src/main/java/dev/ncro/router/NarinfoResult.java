package dev.ncro.router;

import dev.ncro.route.Route;
import dev.ncro.upstream.Upstream;

/** The outcome of a narinfo lookup, one case per kind of answer ncro gives the client. */
public sealed interface NarinfoResult {
  /** Found, by way of {@code source}. */
  record Found(Route route, Upstream upstream, Source source) implements NarinfoResult {}

  /** How a found narinfo was obtained; {@link #header()} is the {@code X-Ncro-Route} value. */
  enum Source {
    /** A live stored route: no upstream round trip. */
    CACHE_HIT("cache-hit"),
    /** Won a race among the usable upstreams. */
    RACE("race"),
    /** Fetched from the upstream a mesh peer named, without a race. */
    MESH("mesh"),
    /** Answered by the fallback cache: every regular upstream said absent or could not answer. */
    FALLBACK("fallback");

    private final String header;

    Source(String header) {
      this.header = header;
    }

    public String header() {
      return header;
    }
  }

  /** Every upstream asked said it does not have the path (now, or recently: {@code negativeHit}). */
  record Absent(boolean negativeHit) implements NarinfoResult {}

  /** No upstream had it and at least one could not answer: the truth is unknown. */
  record Unavailable(String reason) implements NarinfoResult {}
}
