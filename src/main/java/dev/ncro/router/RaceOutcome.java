package dev.ncro.router;

import dev.ncro.narinfo.NarInfo;
import dev.ncro.upstream.Upstream;

/** How a race ended. */
sealed interface RaceOutcome {
  /** {@code body} is the narinfo as it will be served (absolute URL made relative). */
  record Won(Upstream upstream, NarInfo info, byte[] body, double latencyMs) implements RaceOutcome {}

  record AbsentEverywhere() implements RaceOutcome {}

  record Unavailable(String reason) implements RaceOutcome {}
}
