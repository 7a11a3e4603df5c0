package dev.ncro.router;

import dev.ncro.narinfo.NarInfo;
import dev.ncro.upstream.Upstream;

/** How a race ended. */
sealed interface RaceOutcome {
  /** {@code body} is the narinfo as it will be served (absolute URL made relative). */
  record Won(Upstream upstream, NarInfo info, byte[] body, double latencyMs)
      implements RaceOutcome {}

  record AbsentEverywhere() implements RaceOutcome {}

  /**
   * Some upstream could not answer; {@code refusedOnly} when each of those refused our credentials
   * (401): the registry has already logged that once, so it is not worth a WARN per path.
   */
  record Unavailable(String reason, boolean refusedOnly) implements RaceOutcome {
    Unavailable(String reason) {
      this(reason, false);
    }
  }
}
