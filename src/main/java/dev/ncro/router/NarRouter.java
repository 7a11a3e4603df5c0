package dev.ncro.router;

import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides the order in which upstreams are asked for a NAR: the upstream whose narinfo carried
 * this URL first (caches name NAR files differently, so only it is sure to have this exact file),
 * then the other available upstreams best first, then the suspended and DOWN ones (a last resort
 * that costs a timeout only when everything else failed). Blocking (may read the database): call it from a
 * virtual thread.
 *
 * <p>An upstream found by mDNS is asked only when it is the routed one, i.e. its own narinfo,
 * verified against {@code discovery.public_keys}, named this file: any host on the LAN can
 * announce a cache, and one that answers every NAR URL with garbage would otherwise turn each
 * failover into a hash mismatch on the client.
 */
public final class NarRouter {
  private static final Logger log = LoggerFactory.getLogger(NarRouter.class);
  private final UpstreamRegistry registry;
  private final RouteStore store;

  public NarRouter(UpstreamRegistry registry, RouteStore store) {
    this.registry = registry;
    this.store = store;
  }

  /** The plan for {@code narUrl} (request path without its leading slash, query included). */
  public NarPlan plan(String narUrl) {
    Optional<Route> route;
    try {
      route = store.byNarUrl(narUrl);
    } catch (RouteStoreException.Unchecked e) {
      log.atWarn().setMessage("NAR route lookup failed")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("error", e.getMessage()).log();
      route = Optional.empty();
    }
    Upstream routed = route.flatMap(r -> registry.byName(r.upstream())).orElse(null);
    List<Upstream> order = new ArrayList<>();
    if (routed != null && routed.available()) {
      order.add(routed);
    }
    for (Upstream u : registry.availableOrdered()) {
      if (u != routed && !u.discovered()) {
        order.add(u);
      }
    }
    // The rest last: a suspended or DOWN routed upstream may still be the only one with the file.
    if (routed != null && !order.contains(routed)) {
      order.add(routed);
    }
    for (Upstream u : registry.all()) {
      if (!order.contains(u) && !u.discovered()) {
        order.add(u);
      }
    }
    return new NarPlan(order, routed, route.map(Route::hash).orElse(null), route.map(Route::fileHash).orElse(null));
  }

  /** The routed upstream no longer has the NAR: forget the route so the next narinfo races. */
  public void routedUpstreamLost(NarPlan plan) {
    if (plan.routeHash() != null) {
      try {
        store.invalidate(plan.routeHash());
      } catch (RouteStoreException.Unchecked e) {
        log.atWarn().setMessage("could not invalidate route")
          .addKeyValue("hash", plan.routeHash())
          .addKeyValue("error", e.getMessage()).log();
      }
    }
  }

  /**
   * Upstreams to try in order; {@code routed} (may be null) is the one the route names. {@code
   * routeHash} and {@code fileHash} (null without a route) identify the file, for resuming a broken
   * download from another upstream that has the very same one.
   */
  public record NarPlan(List<Upstream> order, Upstream routed, String routeHash, String fileHash) {}
}
