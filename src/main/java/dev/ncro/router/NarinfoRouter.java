package dev.ncro.router;

import dev.ncro.metrics.Metrics;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.Route;
import dev.ncro.route.RouteHints;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers {@code /<hash>.narinfo}: negative cache, then a live route (served from its stored body,
 * no upstream round trip), then a race shared by every concurrent request for the same hash
 * (singleflight). Database work runs on {@code blocking} (virtual threads), never on an event loop.
 */
public final class NarinfoRouter {
  private static final Logger log = LoggerFactory.getLogger(NarinfoRouter.class);
  private final UpstreamRegistry registry;
  private final UpstreamClient client;
  private final RouteStore store;
  private final NegativeCache negative;
  private final Duration ttl;
  private final Clock clock;
  private final Executor blocking;
  private final Metrics metrics;
  private final RecentRaces recent;
  private final RouteHints hints;
  private final ConcurrentHashMap<String, CompletableFuture<NarinfoResult>> inflight = new ConcurrentHashMap<>();

  public NarinfoRouter(
      UpstreamRegistry registry, UpstreamClient client, RouteStore store, NegativeCache negative,
      Duration ttl, Clock clock, Executor blocking, Metrics metrics, RecentRaces recent, RouteHints hints) {
    this.recent = recent;
    this.hints = hints;
    this.registry = registry;
    this.client = client;
    this.store = store;
    this.negative = negative;
    this.ttl = ttl;
    this.clock = clock;
    this.blocking = blocking;
    this.metrics = metrics;
  }

  /** The answer for {@code hash}, which the caller has already validated. */
  public CompletableFuture<NarinfoResult> lookup(String hash) {
    if (negative.contains(hash)) {
      return CompletableFuture.completedFuture(new NarinfoResult.Absent(true));
    }
    Route cached = store.getCached(hash);
    if (cached != null && cached.liveAt(clock.millis())) {
      Optional<NarinfoResult> hit = hit(cached);
      if (hit.isPresent()) {
        return CompletableFuture.completedFuture(hit.get());
      }
    }
    return CompletableFuture.supplyAsync(() -> storedRoute(hash), blocking)
        .thenCompose(found -> found.isPresent()
            ? CompletableFuture.completedFuture(found.get())
            : shared(hash));
  }

  private Optional<NarinfoResult> storedRoute(String hash) {
    try {
      Optional<Route> stored = store.get(hash);
      if (stored.isEmpty() && negative.containsShared(hash)) {
        // Another node found it absent everywhere (learned by the same database lookup).
        return Optional.of(new NarinfoResult.Absent(true));
      }
      return stored.filter(r -> r.liveAt(clock.millis())).flatMap(this::hit);
    } catch (RouteStoreException.Unchecked e) {
      log.atWarn().setMessage("route lookup failed, racing instead")
          .addKeyValue("hash", hash)
          .addKeyValue("error", e.getMessage()).log();
      return Optional.empty();
    }
  }

  /** A live route whose upstream is still configured and usable answers without a round trip. */
  private Optional<NarinfoResult> hit(Route r) {
    return registry.byName(r.upstream())
        .filter(Upstream::usable)
        .map(u -> new NarinfoResult.Found(r, u, NarinfoResult.Source.CACHE_HIT));
  }

  private CompletableFuture<NarinfoResult> shared(String hash) {
    CompletableFuture<NarinfoResult> mine = new CompletableFuture<>();
    CompletableFuture<NarinfoResult> existing = inflight.putIfAbsent(hash, mine);
    if (existing != null) {
      metrics.singleflightWaiter();
      return existing;
    }
    race(hash).whenComplete((r, err) -> {
      inflight.remove(hash, mine);
      if (err != null) {
        mine.complete(new NarinfoResult.Unavailable(String.valueOf(err)));
      } else {
        mine.complete(r);
      }
    });
    return mine;
  }

  /**
   * A miss: first the upstream a hint names, alone (one request, no race), when it is one of ours
   * and usable; if that does not produce the narinfo, the full race.
   */
  private CompletableFuture<NarinfoResult> race(String hash) {
    Optional<Upstream> hinted = hints.upstreamFor(hash).flatMap(registry::byUrl).filter(Upstream::available);
    if (hinted.isEmpty()) {
      return fullRace(hash);
    }
    return new Race(hash, List.of(hinted.get()), client, registry, metrics, blocking).run().thenCompose(outcome -> {
      if (outcome instanceof RaceOutcome.Won w) {
        return CompletableFuture.completedFuture(won(hash, w, NarinfoResult.Source.MESH));
      }
      hints.wrong(hash);
      return fullRace(hash);
    });
  }

  private CompletableFuture<NarinfoResult> fullRace(String hash) {
    List<Upstream> available = registry.availableOrdered();
    // Every upstream DOWN or suspended: ask them all anyway, so live traffic can notice a recovery
    // before the next probe does. Not the UNAUTHORIZED or CERTIFICATE_ERROR ones: they would only
    // refuse again; a probe brings them back.
    List<Upstream> candidates = available.isEmpty()
        ? registry.all().stream().filter(u -> !u.stats().blocked()).toList()
        : available;
    if (candidates.isEmpty()) {
      recent.add(new RecentRaces.Entry(clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
      return CompletableFuture.completedFuture(new NarinfoResult.Unavailable(
          "every upstream is unauthorized or has a certificate error (see /status)"));
    }
    // An upstream not asked (suspended, or DOWN but not yet gone) is not known to lack the path.
    long suspended = registry.all().stream().filter(u -> !candidates.contains(u) && !registry.gone(u)).count();
    return new Race(hash, candidates, client, registry, metrics, blocking).run().thenApply(outcome -> switch (outcome) {
      case RaceOutcome.Won w -> won(hash, w, NarinfoResult.Source.RACE);
      case RaceOutcome.AbsentEverywhere a when suspended > 0 -> {
        String reason = "absent from the upstreams asked; " + suspended + " silent upstream(s) not asked";
        recent.add(new RecentRaces.Entry(clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        yield new NarinfoResult.Unavailable(reason);
      }
      case RaceOutcome.AbsentEverywhere a -> {
        negative.add(hash);
        recent.add(new RecentRaces.Entry(clock.millis(), hash, RecentRaces.Outcome.ABSENT, null, Double.NaN));
        log.atDebug().setMessage("absent from every upstream").addKeyValue("hash", hash).log();
        yield new NarinfoResult.Absent(false);
      }
      case RaceOutcome.Unavailable u when u.refusedOnly() -> {
        recent.add(new RecentRaces.Entry(clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        yield new NarinfoResult.Unavailable(u.reason());
      }
      case RaceOutcome.Unavailable u -> {
        recent.add(new RecentRaces.Entry(clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        log.atWarn().setMessage("narinfo unavailable: no upstream has it and some could not answer")
            .addKeyValue("hash", hash).addKeyValue("reason", u.reason()).log();
        yield new NarinfoResult.Unavailable(u.reason());
      }
    });
  }

  private NarinfoResult won(String hash, RaceOutcome.Won w, NarinfoResult.Source source) {
    Route route = toRoute(hash, w);
    if (source == NarinfoResult.Source.RACE) {
      registry.raceWon(w.upstream());
    }
    recent.add(new RecentRaces.Entry(clock.millis(), hash, source == NarinfoResult.Source.MESH ? RecentRaces.Outcome.MESH : RecentRaces.Outcome.WON,
        w.upstream().name(), w.latencyMs()));
    log.atInfo().setMessage(source == NarinfoResult.Source.MESH ? "mesh route used" : "race won")
        .addKeyValue("hash", hash).addKeyValue("upstream", w.upstream().name())
        .addKeyValue("latency_ms", Math.round(w.latencyMs())).addKeyValue("route", source.header()).log();
    store.cache(route);
    blocking.execute(() -> save(route));
    return new NarinfoResult.Found(route, w.upstream(), source);
  }

  private Route toRoute(String hash, RaceOutcome.Won w) {
    long now = clock.millis();
    return new Route(
        hash, w.upstream().name(), w.latencyMs(), w.info().url(), w.info().fileHash(),
        w.info().narHash(), w.info().narSize(), w.body(), now, now + ttl.toMillis());
  }

  private void save(Route route) {
    try {
      store.put(route);
    } catch (RouteStoreException.Unchecked e) {
      log.atWarn().setMessage("could not store route")
          .addKeyValue("hash", route.hash())
          .addKeyValue("error", e.getMessage()).log();
    }
  }
}
