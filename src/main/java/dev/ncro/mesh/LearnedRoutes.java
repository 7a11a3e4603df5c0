package dev.ncro.mesh;

import dev.ncro.narinfo.StorePathHash;
import dev.ncro.route.RouteHints;
import java.time.Clock;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Routes heard from peers, merged by the original's rule: a route whose TTL has passed is ignored;
 * otherwise the lower {@code LatencyEMA} wins, and on a tie the newer {@code LastVerified}. Kept in
 * memory only (a restart relearns within one gossip interval) and bounded: when full, expired
 * entries go first, then the ones expiring soonest.
 */
public final class LearnedRoutes implements RouteHints {
  /** A route as merged, with who told us and when. */
  public record Learned(GossipRoute route, String fromNode, Instant receivedAt) {}

  private final int capacity;
  private final Clock clock;
  private final HashMap<String, Learned> byHash = new HashMap<>();

  public LearnedRoutes(int capacity, Clock clock) {
    this.capacity = capacity;
    this.clock = clock;
  }

  /**
   * Merges one route; true when it was stored (new, or better than what we had). Values the wire
   * format cannot rule out are refused here: a store path that is not a hash, a latency EMA that is
   * NaN, infinite or negative (NaN would never lose a comparison, so it could pin a route).
   */
  public synchronized boolean merge(GossipRoute r, String fromNode) {
    Instant now = clock.instant();
    if (!r.expiresAt().isAfter(now)
        || !StorePathHash.isValid(r.storePath())
        || !Double.isFinite(r.latencyEma())
        || r.latencyEma() < 0) {
      return false;
    }
    Learned old = byHash.get(r.storePath());
    if (old != null && old.route().expiresAt().isAfter(now) && !better(r, old.route())) {
      return false;
    }
    if (old == null && byHash.size() >= capacity) {
      makeRoom(now);
    }
    byHash.put(r.storePath(), new Learned(r, fromNode, now));
    return true;
  }

  /** The live learned route for a store-path hash. */
  public synchronized Optional<Learned> get(String hash) {
    Learned l = byHash.get(hash);
    if (l == null) {
      return Optional.empty();
    }
    if (!l.route().expiresAt().isAfter(clock.instant())) {
      byHash.remove(hash);
      return Optional.empty();
    }
    return Optional.of(l);
  }

  @Override
  public Optional<String> upstreamFor(String hash) {
    return get(hash).map(l -> l.route().upstreamUrl());
  }

  /** A learned route that turned out wrong (its upstream did not have the path) is forgotten. */
  @Override
  public synchronized void wrong(String hash) {
    byHash.remove(hash);
  }

  public synchronized int size() {
    return byHash.size();
  }

  static boolean better(GossipRoute candidate, GossipRoute current) {
    if (candidate.latencyEma() != current.latencyEma()) {
      return candidate.latencyEma() < current.latencyEma();
    }
    return candidate.lastVerified().isAfter(current.lastVerified());
  }

  /** Drops expired routes, then if still full the tenth expiring soonest: amortised, never per insert. */
  private void makeRoom(Instant now) {
    byHash.values().removeIf(l -> !l.route().expiresAt().isAfter(now));
    if (byHash.size() >= capacity) {
      byHash.entrySet().stream()
          .sorted(Comparator.comparing(e -> e.getValue().route().expiresAt()))
          .limit(Math.max(1, capacity / 10))
          .map(Map.Entry::getKey)
          .toList()
          .forEach(byHash::remove);
    }
  }
}
