package dev.ncro.router;

import dev.ncro.limit.FifoLimiter;
import dev.ncro.metrics.Metrics;
import dev.ncro.route.NegativeCache;
import dev.ncro.route.Route;
import dev.ncro.route.RouteHints;
import dev.ncro.route.RouteStore;
import dev.ncro.route.RouteStoreException;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.handler.codec.http.HttpHeaders;
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
 * (singleflight); when no regular upstream has it, the fallback cache, alone. Database work runs on
 * {@code blocking} (virtual threads), never on an event loop.
 *
 * <p>At most {@code cache.max_concurrent_races} races run at once; the others wait in arrival
 * order. Concurrent requests for one hash share a race before the queue, so the queue holds one
 * entry per distinct hash, and never more than there are client requests in flight.
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
  private final ConcurrentHashMap<String, CompletableFuture<NarinfoResult>> inflight =
      new ConcurrentHashMap<>();
  private final FifoLimiter races;

  public NarinfoRouter(
      UpstreamRegistry registry,
      UpstreamClient client,
      RouteStore store,
      NegativeCache negative,
      Duration ttl,
      Clock clock,
      Executor blocking,
      Metrics metrics,
      RecentRaces recent,
      RouteHints hints,
      int maxConcurrentRaces) {
    this.races = new FifoLimiter(maxConcurrentRaces);
    metrics.racesFrom(races);
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
    return lookup(hash, null);
  }

  /** As {@link #lookup(String)}; a race's requests carry {@code forward} (the next {@code X-Ncro-Hop}). */
  public CompletableFuture<NarinfoResult> lookup(String hash, HttpHeaders forward) {
    return lookup(hash, forward, false);
  }

  /**
   * The answer from this node's own knowledge only (negative cache, live routes): no race, no
   * upstream request; anything else is {@link NarinfoResult.Absent}. For a request that has
   * already passed {@code server.max_hops} ncro nodes.
   */
  public CompletableFuture<NarinfoResult> lookupStored(String hash) {
    return lookup(hash, null, true);
  }

  private CompletableFuture<NarinfoResult> lookup(
      String hash, HttpHeaders forward, boolean storeOnly) {
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
            : storeOnly
                ? CompletableFuture.completedFuture(new NarinfoResult.Absent(false))
                : shared(hash, forward));
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
      log.atWarn()
          .setMessage("route lookup failed, racing instead")
          .addKeyValue("hash", hash)
          .addKeyValue("error", e.getMessage())
          .log();
      return Optional.empty();
    }
  }

  /**
   * A live route whose upstream (or the fallback cache) is still configured, usable, and admitted by
   * its filters answers without a round trip. The filters are checked again because the route may
   * have been stored before they were configured.
   */
  private Optional<NarinfoResult> hit(Route r) {
    return registry
        .routeTarget(r.upstream())
        .filter(Upstream::usable)
        .filter(u -> u.admitsStored(r.narinfo()))
        .map(u -> new NarinfoResult.Found(r, u, NarinfoResult.Source.CACHE_HIT));
  }

  private CompletableFuture<NarinfoResult> shared(String hash, HttpHeaders forward) {
    CompletableFuture<NarinfoResult> mine = new CompletableFuture<>();
    CompletableFuture<NarinfoResult> existing = inflight.putIfAbsent(hash, mine);
    if (existing != null) {
      metrics.singleflightWaiter();
      return existing;
    }
    long queuedAt = System.nanoTime();
    races
        .submit(() -> {
          metrics.queueWaited(Metrics.RACE_LIMIT, System.nanoTime() - queuedAt);
          return race(hash, forward);
        })
        .whenComplete((r, err) -> {
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
  private CompletableFuture<NarinfoResult> race(String hash, HttpHeaders forward) {
    Optional<Upstream> hinted =
        hints.upstreamFor(hash).flatMap(registry::byUrl).filter(Upstream::available);
    if (hinted.isEmpty()) {
      return fullRace(hash, forward);
    }
    return new Race(hash, List.of(hinted.get()), client, registry, metrics, blocking, forward)
        .run()
        .thenCompose(outcome -> {
          if (outcome instanceof RaceOutcome.Won w) {
            return CompletableFuture.completedFuture(won(hash, w, NarinfoResult.Source.MESH));
          }
          hints.wrong(hash);
          return fullRace(hash, forward);
        });
  }

  private CompletableFuture<NarinfoResult> fullRace(String hash, HttpHeaders forward) {
    List<Upstream> available = registry.availableOrdered();
    // Every upstream DOWN or suspended: ask them all anyway, so live traffic can notice a recovery
    // before the next probe does. Not the UNAUTHORIZED or CERTIFICATE_ERROR ones: they would only
    // refuse again; a probe brings them back.
    List<Upstream> candidates = available.isEmpty()
        ? registry.all().stream().filter(u -> !u.stats().blocked()).toList()
        : available;
    if (candidates.isEmpty()) {
      RaceOutcome.Unavailable refused = new RaceOutcome.Unavailable(
          "every upstream is unauthorized or has a certificate error (see /status)", true);
      return registry.fallback().isPresent()
          ? askFallback(hash, registry.fallback().get(), refused, 0, forward)
          : CompletableFuture.completedFuture(notFound(hash, refused, 0));
    }
    // An upstream not asked (suspended, or DOWN but not yet gone) is not known to lack the path.
    long suspended = registry.all().stream()
        .filter(u -> !candidates.contains(u) && !registry.gone(u))
        .count();
    return new Race(hash, candidates, client, registry, metrics, blocking, forward)
        .run()
        .thenCompose(outcome -> {
          if (outcome instanceof RaceOutcome.Won w) {
            return CompletableFuture.completedFuture(won(hash, w, NarinfoResult.Source.RACE));
          }
          Optional<Upstream> fallback = registry.fallback();
          return fallback.isEmpty()
              ? CompletableFuture.completedFuture(notFound(hash, outcome, suspended))
              : askFallback(hash, fallback.get(), outcome, suspended, forward);
        });
  }

  /**
   * No regular upstream had it: the fallback cache is asked, alone. If it has the path, that is the
   * answer; if not, the answer is what it would have been without it, except that a fallback that
   * could not answer (or was not asked: suspended, DOWN but not yet gone) leaves the truth unknown,
   * so a 404 becomes a 503, as for any silent upstream.
   */
  private CompletableFuture<NarinfoResult> askFallback(
      String hash, Upstream fallback, RaceOutcome regular, long suspended, HttpHeaders forward) {
    if (!fallback.available()) {
      metrics.fallbackLookup("unavailable");
      return CompletableFuture.completedFuture(
          notFound(hash, regular, registry.gone(fallback) ? suspended : suspended + 1));
    }
    return new Race(hash, List.of(fallback), client, registry, metrics, blocking, forward)
        .run()
        .thenApply(outcome -> switch (outcome) {
          case RaceOutcome.Won w -> {
            metrics.fallbackLookup("found");
            yield won(hash, w, NarinfoResult.Source.FALLBACK);
          }
          case RaceOutcome.AbsentEverywhere a -> {
            metrics.fallbackLookup("absent");
            yield notFound(hash, regular, suspended);
          }
          case RaceOutcome.Unavailable u -> {
            metrics.fallbackLookup("unavailable");
            yield notFound(
                hash,
                regular instanceof RaceOutcome.Unavailable
                    ? regular
                    : new RaceOutcome.Unavailable(
                        "the fallback cache could not answer: " + u.reason(), u.refusedOnly()),
                suspended);
          }
        });
  }

  /** Nobody asked had it: 404 (remembered) only when every upstream said so; 503 when some could not. */
  private NarinfoResult notFound(String hash, RaceOutcome outcome, long suspended) {
    return switch (outcome) {
      case RaceOutcome.Won w ->
        throw new IllegalArgumentException("a won race is found, not absent");
      case RaceOutcome.AbsentEverywhere a
      when suspended > 0 -> {
        String reason =
            "absent from the upstreams asked; " + suspended + " silent upstream(s) not asked";
        recent.add(new RecentRaces.Entry(
            clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        yield new NarinfoResult.Unavailable(reason);
      }
      case RaceOutcome.AbsentEverywhere a -> {
        negative.add(hash);
        recent.add(new RecentRaces.Entry(
            clock.millis(), hash, RecentRaces.Outcome.ABSENT, null, Double.NaN));
        log.atDebug()
            .setMessage("absent from every upstream")
            .addKeyValue("hash", hash)
            .log();
        yield new NarinfoResult.Absent(false);
      }
      case RaceOutcome.Unavailable u
      when u.refusedOnly() -> {
        recent.add(new RecentRaces.Entry(
            clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        yield new NarinfoResult.Unavailable(u.reason());
      }
      case RaceOutcome.Unavailable u -> {
        recent.add(new RecentRaces.Entry(
            clock.millis(), hash, RecentRaces.Outcome.UNAVAILABLE, null, Double.NaN));
        log.atWarn()
            .setMessage("narinfo unavailable: no upstream has it and some could not answer")
            .addKeyValue("hash", hash)
            .addKeyValue("reason", u.reason())
            .log();
        yield new NarinfoResult.Unavailable(u.reason());
      }
    };
  }

  /** Races running and waiting: for {@code /status}. */
  public FifoLimiter races() {
    return races;
  }

  private NarinfoResult won(String hash, RaceOutcome.Won w, NarinfoResult.Source source) {
    Route route = toRoute(hash, w);
    if (source == NarinfoResult.Source.RACE) {
      registry.raceWon(w.upstream());
    }
    RecentRaces.Outcome shown = switch (source) {
      case MESH -> RecentRaces.Outcome.MESH;
      case FALLBACK -> RecentRaces.Outcome.FALLBACK;
      default -> RecentRaces.Outcome.WON;
    };
    recent.add(
        new RecentRaces.Entry(clock.millis(), hash, shown, w.upstream().name(), w.latencyMs()));
    log.atInfo()
        .setMessage(
            switch (source) {
              case MESH -> "mesh route used";
              case FALLBACK -> "answered by the fallback cache";
              default -> "race won";
            })
        .addKeyValue("hash", hash)
        .addKeyValue("upstream", w.upstream().name())
        .addKeyValue("latency_ms", Math.round(w.latencyMs()))
        .addKeyValue("route", source.header())
        .log();
    store.cache(route);
    blocking.execute(() -> save(route));
    return new NarinfoResult.Found(route, w.upstream(), source);
  }

  private Route toRoute(String hash, RaceOutcome.Won w) {
    long now = clock.millis();
    return new Route(
        hash,
        w.upstream().name(),
        w.latencyMs(),
        w.info().url(),
        w.info().fileHash(),
        w.info().narHash(),
        w.info().narSize(),
        w.body(),
        now,
        now + ttl.toMillis());
  }

  private void save(Route route) {
    try {
      store.put(route);
    } catch (RouteStoreException.Unchecked e) {
      log.atWarn()
          .setMessage("could not store route")
          .addKeyValue("hash", route.hash())
          .addKeyValue("error", e.getMessage())
          .log();
    }
  }
}
