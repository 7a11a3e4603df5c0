package dev.ncro.route;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Routes: a bounded in-memory cache of recently used routes in front of a {@link RouteBackend}, so
 * a warm narinfo is answered without touching the database.
 *
 * <p>Design notes. Recency for LRU eviction is tracked in memory and written back in batches by
 * {@link #flushRecency()} (called periodically and at close), so a cache hit never costs a database
 * write. A new route is made visible by {@link #cache} at once and written by {@link #put} later,
 * off the request path; concurrent writes share one transaction (see {@link #put}).
 *
 * <p>Invalidation wins over a late write. A NAR 404 from the routed upstream invalidates the route
 * while the write of that very route may still be queued (the narinfo was answered milliseconds
 * earlier). Without care, the write lands after the delete and the dead route returns from the
 * database at the next lookup. So {@link #invalidate} leaves a tombstone (the time of the
 * invalidation, kept for {@link #TOMBSTONE_TTL}), and a route verified at or before that time is
 * neither cached nor written. {@link #put} and {@link #invalidate} take one write lock, so the check
 * and the write are atomic against the delete; {@link #cache}, on the request path, takes no lock
 * and checks after its write instead (invalidate sets the tombstone before it removes, so one of the
 * two always sees the other).
 *
 * <p>A route made visible by {@link #cache} is held in {@link #unwritten} until {@link #put} has
 * written it, so the NAR request that follows its narinfo finds it; it does not enter the memory
 * layer then. A new route enters memory like any other, when the database has served it twice soon
 * ({@link Doorkeeper}). Putting every new route in memory, where it lived for thousands of later
 * routes, had each one promoted to the old generation and dropped there: a fresh ncro learning
 * 300 000 routes reached 300 MiB of RSS against 190 MiB now (docs/benchmarks.md, "Twelfth
 * session"). Nix asks for a path's narinfo once per closure (it caches narinfos itself), so a new
 * route's next use is usually another client's, and a database read serves it.
 */
public final class RouteStore implements AutoCloseable {
  /** Longer than any queued write waits; invalidations are rare (a NAR 404 on the routed upstream). */
  static final Duration TOMBSTONE_TTL = Duration.ofMinutes(5);

  private static final int TOMBSTONE_SWEEP_ABOVE = 4096;
  /** Routes per transaction at most: bounds how long one commit holds the write lock. */
  private static final int MAX_BATCH = 512;

  private final RouteBackend backend;
  private final RouteMemoryCache memory;
  /** Database reads enter {@link #memory} only when read again soon (see {@link Doorkeeper}). */
  private final Doorkeeper doorkeeper;

  private final Clock clock;
  private final ReentrantLock writes = new ReentrantLock();
  private final ConcurrentHashMap<String, Long> invalidatedAt = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Pending> queued = new ConcurrentLinkedQueue<>();
  /** Routes made visible by {@link #cache} and not yet written, by hash and by NAR URL. */
  private final ConcurrentHashMap<String, Route> unwritten = new ConcurrentHashMap<>();

  private final ConcurrentHashMap<String, Route> unwrittenByNarUrl = new ConcurrentHashMap<>();

  public RouteStore(RouteBackend backend, int memoryEntries, Clock clock) {
    this.backend = backend;
    this.memory = new RouteMemoryCache(memoryEntries, clock);
    this.doorkeeper = new Doorkeeper(memoryEntries / 8);
    this.clock = clock;
  }

  /** A store over the SQLite file at {@code path}; see {@link SqliteRouteBackend#open}. */
  public static RouteStore open(Path path, int maxEntries, int memoryEntries, Clock clock)
      throws RouteStoreException {
    return new RouteStore(SqliteRouteBackend.open(path, maxEntries, clock), memoryEntries, clock);
  }

  /** The route for {@code hash}, live or expired, from memory or the database. */
  public Optional<Route> get(String hash) {
    Route r = getCached(hash);
    if (r != null) {
      return Optional.of(r);
    }
    return backend.find(hash).filter(this::remember);
  }

  /** A route from memory only: the non-blocking fast path for warm narinfo. */
  public Route getCached(String hash) {
    Route r = memory.get(hash);
    return r != null ? r : unwritten.get(hash);
  }

  /** The route whose narinfo carried NAR URL {@code narUrl} (relative, no leading slash). */
  public Optional<Route> byNarUrl(String narUrl) {
    Route r = memory.byNarUrl(narUrl);
    if (r == null) {
      r = unwrittenByNarUrl.get(narUrl);
    }
    if (r != null) {
      return Optional.of(r);
    }
    return backend.findByNarUrl(narUrl);
  }

  /** Up to {@code limit} live routes, most recently verified first: what a mesh node announces. */
  public List<Route> recentLive(int limit) {
    return backend.recentLive(clock.millis(), limit);
  }

  /**
   * Makes a route visible to lookups at once, before {@link #put} has written it: the NAR request
   * that follows a narinfo answer within milliseconds must already find its upstream.
   */
  public void cache(Route route) {
    unwritten.put(route.hash(), route);
    if (route.narUrl() != null) {
      unwrittenByNarUrl.put(route.narUrl(), route);
    }
    memory.replaceIfPresent(route);
    if (invalidatedSince(route)) {
      forgetUnwritten(route);
      memory.remove(route.hash());
    }
  }

  /**
   * Inserts or replaces a route, unless it was invalidated after it was verified. Returns once the
   * route is written. Concurrent calls are written together (group commit): each caller queues its
   * route, and whoever holds the write lock writes every queued route in one
   * {@link RouteBackend#upsertAll}; a caller whose route went with an earlier batch returns when
   * it gets the lock. Measured: one commit per route held a fill of 100 000 routes to 840 routes/s.
   */
  public void put(Route route) {
    Pending mine = new Pending(route);
    queued.add(mine);
    writes.lock();
    try {
      if (mine.written) {
        mine.rethrow();
        return;
      }
      List<Pending> batch = new ArrayList<>();
      for (Pending p = queued.poll(); p != null && batch.size() < MAX_BATCH; p = queued.poll()) {
        batch.add(p);
      }
      if (!batch.contains(mine)) {
        queued.remove(mine);
        batch.add(mine);
      }
      List<Route> routes = new ArrayList<>(batch.size());
      for (Pending p : batch) {
        if (!invalidatedSince(p.route)) {
          memory.replaceIfPresent(p.route); // over an older one a lookup may have read meanwhile
          routes.add(p.route);
        }
      }
      RuntimeException failure = null;
      try {
        if (!routes.isEmpty()) {
          backend.upsertAll(routes);
        }
      } catch (RuntimeException e) {
        failure = e;
      }
      for (Pending p : batch) {
        forgetUnwritten(p.route);
        p.failure = failure;
        p.written = true;
      }
      mine.rethrow();
    } finally {
      writes.unlock();
    }
  }

  /** A route waiting for {@link #put}'s group commit; its fields are read and written under the lock. */
  private static final class Pending {
    final Route route;
    boolean written;
    RuntimeException failure;

    Pending(Route route) {
      this.route = route;
    }

    void rethrow() {
      if (failure != null) {
        throw failure;
      }
    }
  }

  /** Forgets the route for {@code hash} (e.g. its upstream no longer has the NAR). */
  public void invalidate(String hash) {
    writes.lock();
    try {
      long now = clock.millis();
      if (invalidatedAt.size() > TOMBSTONE_SWEEP_ABOVE) {
        invalidatedAt.values().removeIf(t -> t < now - TOMBSTONE_TTL.toMillis());
      }
      invalidatedAt.put(hash, now);
      Route pending = unwritten.get(hash);
      if (pending != null) {
        forgetUnwritten(pending);
      }
      memory.remove(hash);
      backend.delete(hash);
    } finally {
      writes.unlock();
    }
  }

  /** The backend under the memory layer (tests, and wiring that needs its own view). */
  RouteBackend backend() {
    return backend;
  }

  public int count() {
    return backend.count();
  }

  /** Writes in-memory recency (last use of cached routes) back to the database. */
  public void flushRecency() {
    List<RouteBackend.Touch> touched = memory.drainTouched();
    if (!touched.isEmpty() || backend.recordsUsesOnRead()) {
      backend.touch(touched);
    }
  }

  @Override
  public void close() {
    try {
      flushRecency();
    } finally {
      backend.close();
    }
  }

  /** Drops {@code route} from {@link #unwritten} (only that route: a newer one for the hash stays). */
  private void forgetUnwritten(Route route) {
    unwritten.remove(route.hash(), route);
    if (route.narUrl() != null) {
      unwrittenByNarUrl.remove(route.narUrl(), route);
    }
  }

  private boolean invalidatedSince(Route route) {
    Long at = invalidatedAt.get(route.hash());
    return at != null
        && route.verifiedAtMillis() <= at
        && at >= clock.millis() - TOMBSTONE_TTL.toMillis();
  }

  /**
   * Caches a route read from the backend if the {@link Doorkeeper} admits it (its second read within
   * its window), unless it was invalidated meanwhile: a lookup that read
   * the row just before an invalidation's delete committed must not put it back in memory (lookups
   * no longer wait for writes: the reader pool). Checked after the write, as {@link #cache} does.
   */
  private boolean remember(Route r) {
    if (!doorkeeper.admit(r.hash())) {
      return !invalidatedSince(r);
    }
    memory.put(r);
    if (invalidatedSince(r)) {
      memory.remove(r.hash());
      return false;
    }
    if (!backend.recordsUsesOnRead()) {
      memory.touch(r.hash());
    }
    return true;
  }
}
