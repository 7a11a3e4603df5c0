package dev.ncro.router;

import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.Route;
import dev.ncro.route.RouteStore;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plans and remembers requests for the cache files beside narinfos and NARs (see
 * {@link CacheFileKind}).
 *
 * <p>Choice of upstream. A listing ({@code <hash>.ls}) first goes to the upstream of its store
 * path's narinfo route: that upstream holds the NAR the listing describes. Any other file first goes
 * to the upstream that served it last ({@link FileRoutes}). Without either, or when that upstream
 * does not have it, every available upstream is asked at once (a race, as for a narinfo miss), and
 * the first 200 wins. A race rather than asking one upstream after the other, best first: a file
 * that only the farthest upstream has then costs one round trip to it instead of the sum of all of
 * them, and "absent everywhere" costs the slowest round trip instead of the sum (measured by
 * {@code bench/cachefile/run}, docs/decisions.md §2: about 1.5x faster in both cases). The price, extra requests to the losers, is
 * the one ncro already pays for every narinfo miss.
 *
 * <p>Absence. When every upstream said absent, the path is remembered as absent for
 * {@code cache.negative_ttl} (its own negative cache, keyed by the request path): debuggers and
 * indexers ask for many debuginfo and listing files that no cache has, and Nix itself remembers a
 * missing realisation for the same time as a missing narinfo. A file that appears on an upstream
 * within that time is missed for at most that long, as with narinfos.
 *
 * <p>Upstreams found by mDNS are asked only for the kinds whose body is verified against their
 * keys ({@link CacheFileKind#verified()}, realisations): a build log, listing or debuginfo file
 * carries no signature, and any host on the LAN can announce a cache.
 *
 * <p>Database reads (the narinfo route of a listing) block: call {@link #plan} from a virtual thread.
 */
public final class CacheFileRouter {
  private static final Logger log = LoggerFactory.getLogger(CacheFileRouter.class);
  private final UpstreamRegistry registry;
  private final RouteStore routes;
  private final FileRoutes remembered;
  private final NegativeCache negative;

  public CacheFileRouter(
      UpstreamRegistry registry, RouteStore routes, FileRoutes remembered, NegativeCache negative) {
    this.registry = registry;
    this.routes = routes;
    this.remembered = remembered;
    this.negative = negative;
  }

  /** True while {@code path} is remembered as absent from every upstream. */
  public boolean knownAbsent(String path) {
    return negative.contains(path);
  }

  /** The plan for {@code path} of {@code kind}; {@code hash} is a listing's store path hash. */
  public FilePlan plan(CacheFileKind kind, String path, String hash) {
    Upstream first = null;
    String source = null;
    if (kind == CacheFileKind.LISTING && hash != null) {
      first = narinfoRoute(hash).orElse(null);
      source = first == null ? null : "narinfo-route";
    }
    if (first == null) {
      first = remembered
          .upstreamFor(path)
          .flatMap(registry::byName)
          .filter(Upstream::available)
          .orElse(null);
      source = first == null ? null : "file-route";
    }
    if (first != null && !trusted(kind, first)) {
      first = null;
      source = null;
    }
    List<Upstream> available =
        registry.availableOrdered().stream().filter(u -> trusted(kind, u)).toList();
    List<Upstream> all = registry.all().stream().filter(u -> trusted(kind, u)).toList();
    // Every upstream DOWN or suspended: ask them all anyway, so live traffic notices a recovery.
    List<Upstream> candidates = available.isEmpty() ? all : available;
    List<Upstream> race = new ArrayList<>(candidates);
    race.remove(first);
    int notAsked = 0;
    for (Upstream u : all) {
      if (u != first && !race.contains(u) && !registry.gone(u)) {
        notAsked++;
      }
    }
    return new FilePlan(first, source, race, notAsked);
  }

  /** Whether {@code u} may serve a file of {@code kind}: a discovered cache only a verified kind. */
  private static boolean trusted(CacheFileKind kind, Upstream u) {
    return !u.discovered() || kind.verified();
  }

  private Optional<Upstream> narinfoRoute(String hash) {
    Optional<Route> r;
    try {
      Route cached = routes.getCached(hash);
      r = cached != null ? Optional.of(cached) : routes.get(hash);
    } catch (RuntimeException e) {
      log.atWarn()
          .setMessage("route lookup for a listing failed, racing instead")
          .addKeyValue("hash", hash)
          .addKeyValue("error", e.getMessage())
          .log();
      return Optional.empty();
    }
    return r.flatMap(route -> registry.byName(route.upstream())).filter(Upstream::available);
  }

  /** {@code u} served {@code path}. */
  public void found(String path, Upstream u) {
    remembered.put(path, u.name());
  }

  /** The upstream {@code plan} named first did not have {@code path} (any more). */
  public void firstMissed(String path) {
    remembered.remove(path);
  }

  /** Every upstream asked said absent, and none was left out. */
  public void absentEverywhere(String path) {
    remembered.remove(path);
    negative.add(path);
  }
}
