package dev.ncro.mesh;

import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * This node's routes in gossip form: the most recently verified live routes from the route store,
 * newest first, each with its upstream's current EMA (what peers compare when merging).
 * {@code QueryCount} is sent as 0: ncro does not count per-route queries (the original used it for
 * display only; receivers do not merge on it).
 */
public final class LocalRoutes {
  private final RouteStore store;
  private final UpstreamRegistry upstreams;
  private final int limit;

  public LocalRoutes(RouteStore store, UpstreamRegistry upstreams, int limit) {
    this.store = store;
    this.upstreams = upstreams;
    this.limit = limit;
  }

  public List<GossipRoute> newestFirst() {
    List<GossipRoute> out = new ArrayList<>();
    for (Route r : store.recentLive(limit)) {
      Upstream u = upstreams.byName(r.upstream()).orElse(null);
      if (u == null || !u.admitsStored(r.narinfo())) {
        // An upstream no longer configured (or the fallback cache, never announced: a peer must
        // not race it), or one whose filters now refuse the path: nothing to tell peers.
        continue;
      }
      double ema = u.stats().emaMillis();
      out.add(new GossipRoute(
          r.hash(),
          r.upstream(),
          r.latencyMs(),
          Double.isNaN(ema) ? r.latencyMs() : ema,
          Instant.ofEpochMilli(r.verifiedAtMillis()),
          0,
          u.stats().consecutiveFailures(),
          Instant.ofEpochMilli(r.expiresAtMillis()),
          nullToEmpty(r.narHash()),
          r.narSize(),
          nullToEmpty(r.narUrl())));
    }
    return out;
  }

  private static String nullToEmpty(String s) {
    return s == null ? "" : s;
  }
}
