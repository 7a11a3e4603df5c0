package dev.ncro.router;

import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.Upstream;

/** What routing reports to metrics: kept as an interface so routing does not depend on them. */
public interface RaceListener {
  void raceWon(Upstream upstream, double latencyMs);

  void upstreamError(Upstream upstream, FailureKind kind);

  RaceListener NONE = new RaceListener() {
    @Override
    public void raceWon(Upstream upstream, double latencyMs) {}

    @Override
    public void upstreamError(Upstream upstream, FailureKind kind) {}
  };
}
