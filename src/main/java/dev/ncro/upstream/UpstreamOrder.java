package dev.ncro.upstream;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Orders upstreams for NAR attempts and races: lower EMA latency first, but two upstreams within
 * 10 % of each other are ordered by priority (lower first), so a configured preference wins when
 * the difference is noise. Upstreams without a sample yet sort after measured ones, by priority.
 *
 * <p>"Within 10 %" is not transitive, so this is not a {@link Comparator}; instead the list is
 * sorted by latency and then adjacent pairs inside the tolerance are swapped into priority order
 * (a stable insertion pass), which is deterministic and cheap for the handful of upstreams ncro
 * has.
 */
public final class UpstreamOrder {
  static final double TIE_TOLERANCE = 0.10;

  private UpstreamOrder() {}

  public static List<Upstream> order(List<Upstream> upstreams) {
    List<Snapshot> snaps = new ArrayList<>(upstreams.size());
    for (Upstream u : upstreams) {
      snaps.add(new Snapshot(u, u.stats().emaMillis()));
    }
    snaps.sort(
        Comparator.comparingDouble(Snapshot::sortKey).thenComparingInt(s -> s.upstream.priority()));
    for (int i = 1; i < snaps.size(); i++) {
      for (int j = i; j > 0 && shouldSwap(snaps.get(j - 1), snaps.get(j)); j--) {
        Snapshot tmp = snaps.get(j - 1);
        snaps.set(j - 1, snaps.get(j));
        snaps.set(j, tmp);
      }
    }
    return snaps.stream().map(Snapshot::upstream).toList();
  }

  private static boolean shouldSwap(Snapshot first, Snapshot second) {
    return withinTolerance(first.ema, second.ema)
        && second.upstream.priority() < first.upstream.priority();
  }

  static boolean withinTolerance(double a, double b) {
    if (Double.isNaN(a) || Double.isNaN(b)) {
      return Double.isNaN(a) && Double.isNaN(b);
    }
    double hi = Math.max(a, b);
    double lo = Math.min(a, b);
    return hi - lo <= TIE_TOLERANCE * hi;
  }

  private record Snapshot(Upstream upstream, double ema) {
    double sortKey() {
      return Double.isNaN(ema) ? Double.MAX_VALUE : ema;
    }
  }
}
