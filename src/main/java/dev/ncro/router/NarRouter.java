package dev.ncro.router;

import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides the order in which upstreams are asked for a NAR: the upstream whose narinfo carried
 * this URL first (caches name NAR files differently, so only it is sure to have this exact file),
 * then the other available upstreams best first, then the suspended and DOWN ones (a last resort
 * that costs a timeout only when everything else failed), then the fallback cache. An upstream whose
 * path filters refuse the narinfo behind this NAR is left out. Blocking (may read the database): call it from a
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
      log.atWarn()
          .setMessage("NAR route lookup failed")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("error", e.getMessage())
          .log();
      route = Optional.empty();
    }
    // Filters are judged on the narinfo ncro served for this NAR; without one (no route), an
    // upstream with filters cannot be shown to admit the path and is not asked.
    boolean anyFilters =
        registry.allWithFallback().stream().anyMatch(u -> !u.filters().isEmpty());
    NarInfo info = anyFilters ? route.map(r -> parse(r.narinfo())).orElse(null) : null;
    Predicate<Upstream> admitted =
        u -> u.filters().isEmpty() || (info != null && u.filters().admits(info));
    Upstream routed =
        route.flatMap(r -> registry.routeTarget(r.upstream())).filter(admitted).orElse(null);
    List<Upstream> order = new ArrayList<>();
    if (routed != null && routed.available()) {
      order.add(routed);
    }
    for (Upstream u : registry.availableOrdered()) {
      if (u != routed && admitted.test(u) && !u.discovered()) {
        order.add(u);
      }
    }
    // The rest last: a suspended or DOWN routed upstream may still be the only one with the file.
    if (routed != null && !order.contains(routed)) {
      order.add(routed);
    }
    for (Upstream u : registry.all()) {
      if (!order.contains(u) && admitted.test(u) && !u.discovered()) {
        order.add(u);
      }
    }
    // The fallback cache after every regular upstream, unless its narinfo is the one being served.
    registry.fallback().filter(admitted).filter(f -> !order.contains(f)).ifPresent(order::add);
    return new NarPlan(
        order,
        routed,
        route.map(Route::hash).orElse(null),
        route.map(Route::fileHash).orElse(null));
  }

  private static NarInfo parse(byte[] body) {
    try {
      return body == null ? null : NarInfo.parse(body);
    } catch (NarInfoException e) {
      return null;
    }
  }

  /** The routed upstream no longer has the NAR: forget the route so the next narinfo races. */
  public void routedUpstreamLost(NarPlan plan) {
    if (plan.routeHash() != null) {
      try {
        store.invalidate(plan.routeHash());
      } catch (RouteStoreException.Unchecked e) {
        log.atWarn()
            .setMessage("could not invalidate route")
            .addKeyValue("hash", plan.routeHash())
            .addKeyValue("error", e.getMessage())
            .log();
      }
    }
  }

  /**
   * Upstreams to try in order; {@code routed} (may be null) is the one the route names. {@code
   * routeHash} and {@code fileHash} (null without a route) identify the file, for resuming a broken
   * download from another upstream that has the very same one.
   */
  public record NarPlan(List<Upstream> order, Upstream routed, String routeHash, String fileHash) {
    /**
     * The {@code X-Ncro-Route} of a NAR served by {@code served}: {@code fallback} from the fallback
     * cache, {@code nar-route} from the upstream whose narinfo named it, {@code failover} from
     * another upstream (the routed one did not have it or failed).
     */
    public String routeLabel(Upstream served) {
      return served.isFallback() ? "fallback" : served == routed ? "nar-route" : "failover";
    }
  }
}
