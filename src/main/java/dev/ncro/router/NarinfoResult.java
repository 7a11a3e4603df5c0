package dev.ncro.router;

import dev.ncro.route.Route;
import dev.ncro.upstream.Upstream;

/** The outcome of a narinfo lookup, one case per kind of answer ncro gives the client. */
public sealed interface NarinfoResult {
  /** Found: served from a live route ({@code cacheHit}) or won in a race. */
  record Found(Route route, Upstream upstream, boolean cacheHit) implements NarinfoResult {}

  /** Every upstream asked said it does not have the path (now, or recently: {@code negativeHit}). */
  record Absent(boolean negativeHit) implements NarinfoResult {}

  /** No upstream had it and at least one could not answer: the truth is unknown. */
  record Unavailable(String reason) implements NarinfoResult {}
}
