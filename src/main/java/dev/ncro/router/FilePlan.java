package dev.ncro.router;

import dev.ncro.upstream.Upstream;
import java.util.List;

/**
 * Which upstreams to ask for a cache file. {@code first} (may be null) is asked alone before the
 * others: the upstream the narinfo route of a listing's store path names, or the one that served
 * this file before; {@code firstSource} says which ({@code X-Ncro-Route}). Then {@code race}, all
 * at once. {@code notAsked}: configured upstreams in neither (suspended, or DOWN but not yet gone),
 * whose silence means "unknown", so "absent everywhere" cannot be concluded while it is above 0.
 */
public record FilePlan(Upstream first, String firstSource, List<Upstream> race, int notAsked) {
  public FilePlan {
    race = List.copyOf(race);
  }
}
