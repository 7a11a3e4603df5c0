package dev.ncro.router;

import dev.ncro.metrics.Metrics;
import dev.ncro.narinfo.ContentDecoding;
import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.NarInfoRewriter;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.SmallResponse;
import dev.ncro.upstream.Throttle;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One narinfo race: GET {@code /<hash>.narinfo} from every candidate upstream at once; the first
 * 200 whose body parses, names the requested store path and (when the upstream has keys) carries a
 * valid signature wins. A GET race answers in one round trip with the body in hand (the original
 * raced HEAD, then fetched: two).
 *
 * <p>Losers are not waited for, but neither are their connections torn down: closing them would
 * cost every later race a new TCP (and TLS) handshake to each distant cache. Their answers, bounded
 * by the first-byte timeout and {@link #MAX_NARINFO_BYTES}, are read to the end so the connections
 * go back to the pool, and they still feed each upstream's latency EMA and health.
 *
 * <p>Checking a 200 (parse, Ed25519 verify: about 0.1 ms warm, several when cold) runs on
 * {@code verifier}, never on the event loop, where it would delay every other answer that loop
 * carries. And the winner is the earliest <em>arrival</em> that checks out, not the first check to
 * finish: an answer that arrived later but was checked on a less busy core must not overtake a
 * nearer cache. So only the earliest unsettled arrival is checked; the ones behind it wait, and
 * are checked only if it turns out invalid, which is rare: a race with three holders costs one
 * verification, not three.
 *
 * <p>"Arrival" is when the answer reached the socket, by the kernel's clock
 * ({@link SmallResponse#arrivalNanos}), not when an event loop read it: after a stall (a GC pause,
 * a busy core), a loop reads the sockets that became ready in whatever order it finds them, and a
 * farther cache's answer can be read first. So when the answer being checked proves valid, any
 * answer read after it but received before it is checked first, and the earliest valid one wins.
 *
 * <p>Each upstream's answer is classified as present, absent (404/403/410, a narinfo that does
 * not verify, or one its {@code filters} refuse) or unavailable (transport error, timeout, 5xx, other statuses), and the race as a
 * whole ends in one of {@link RaceOutcome}'s cases.
 *
 * <p>Each request takes a slot of its upstream's {@code max_inflight} first (FIFO); one still
 * queued when the race is won is never sent: its answer would only have been a latency sample.
 */
final class Race {
  private static final Logger log = LoggerFactory.getLogger(Race.class);
  static final int MAX_NARINFO_BYTES = 1 << 20;

  private final String hash;
  private final List<Upstream> candidates;
  private final UpstreamClient client;
  private final UpstreamRegistry registry;
  private final Metrics metrics;
  private final Executor verifier;
  /** Headers every request of this race carries ({@code X-Ncro-Hop}); null for none. */
  private final HttpHeaders extra;

  private final CompletableFuture<RaceOutcome> result = new CompletableFuture<>();
  /** 200 answers read and not yet checked. Guarded by this. */
  private final List<Candidate> waiting = new ArrayList<>();
  /** The answer being checked, null when none is. Guarded by this. */
  private Candidate checking;

  private int pending;
  private int unavailable;
  /** Of {@code unavailable}: the answers that were 401 (credentials refused). */
  private int refused;
  /** When the race's requests go out (construction immediately precedes {@link #run()}). */
  private final long startedNanos = System.nanoTime();

  /** A 200 answer, waiting to be checked or being checked. */
  private record Candidate(Upstream upstream, SmallResponse response) {}

  Race(
      String hash,
      List<Upstream> candidates,
      UpstreamClient client,
      UpstreamRegistry registry,
      Metrics metrics,
      Executor verifier) {
    this(hash, candidates, client, registry, metrics, verifier, null);
  }

  Race(
      String hash,
      List<Upstream> candidates,
      UpstreamClient client,
      UpstreamRegistry registry,
      Metrics metrics,
      Executor verifier,
      HttpHeaders extra) {
    this.extra = extra;
    this.hash = hash;
    this.candidates = candidates;
    this.client = client;
    this.registry = registry;
    this.metrics = metrics;
    this.verifier = verifier;
  }

  CompletableFuture<RaceOutcome> run() {
    synchronized (this) {
      pending = candidates.size();
    }
    if (candidates.isEmpty()) {
      result.complete(new RaceOutcome.Unavailable("no upstream configured"));
      return result;
    }
    String path = "/" + hash + ".narinfo";
    for (Upstream u : candidates) {
      long queuedAt = System.nanoTime();
      u.inflight()
          .submit(() -> {
            if (result.isDone()) {
              return null; // won while this request waited for a slot: not sent at all
            }
            metrics.queueWaited(Metrics.INFLIGHT_LIMIT, System.nanoTime() - queuedAt);
            return client.fetch(u, HttpMethod.GET, path, MAX_NARINFO_BYTES, extra);
          })
          .whenComplete((r, err) -> {
            if (r != null || err != null) {
              onAnswer(u, r, err);
            }
          });
    }
    return result;
  }

  private void onAnswer(Upstream u, SmallResponse r, Throwable err) {
    if (err != null) {
      UpstreamException e = UpstreamException.of(err);
      registry.failure(u, e.kind(), "narinfo: " + e.getMessage(), startedNanos);
      countUnavailable();
      answered();
      return;
    }
    int status = r.status();
    String refusal = u.auth().mayRefuse(status) ? u.auth().refusal(status, r.body()) : null;
    if (refusal != null) {
      // S3's signature and credential errors: the whole upstream is refusing us, not this path.
      registry.unauthorized(u, "narinfo: " + refusal);
      synchronized (this) {
        refused++;
      }
      countUnavailable(); // not known to lack it: a 503, never a 404 Nix would remember
      answered();
      return;
    }
    if ((status == 200 || status == 404 || status == 403 || status == 410) && !u.isFallback()) {
      metrics.raceAnswer(
          u, r.elapsedMillis()); // the fallback cache is never raced: no race latency
    }
    if (status == 200) {
      if (result.isDone()) {
        registry.success(u, r.elapsedMillis()); // a loser: only a latency sample now
        return;
      }
      Candidate next = null;
      synchronized (this) {
        waiting.add(new Candidate(u, r));
        if (checking == null) {
          next = checking = takeEarliest(Long.MAX_VALUE);
        }
      }
      if (next != null) {
        check(next);
      }
      return;
    }
    if (Throttle.asked(status, r.headers(), r.body())) {
      registry.throttled(u, "narinfo " + hash, status, r.headers(), startedNanos);
      countUnavailable(); // busy, not known to lack it: a 503 if no one else has it
    } else if (status == 404 || status == 403 || status == 410) {
      // 403 stays "absent": S3 buckets without list permission answer 403 for a missing key.
      registry.alive(u);
    } else if (status == 401) {
      // Not absent: the path may well be there, we may not see it. A 404 would make Nix record
      // a false miss for an hour; "unavailable" gives the client a 503.
      registry.objectUnauthorized(u, "narinfo " + hash, status);
      synchronized (this) {
        refused++;
      }
      countUnavailable();
    } else if (status >= 500) {
      registry.failure(u, FailureKind.STATUS_5XX, "narinfo: status " + status, startedNanos);
      countUnavailable();
    } else {
      registry.badAnswer(u, FailureKind.PROTOCOL);
      log.atWarn()
          .setMessage("unexpected narinfo status")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("status", status)
          .log();
      countUnavailable();
    }
    answered();
  }

  private void check(Candidate c) {
    verifier.execute(() -> checked(c, accept(c.upstream, c.response)));
  }

  /** The waiting answer that reached its socket first, if before {@code beforeNanos}; removed. Caller holds the lock. */
  private Candidate takeEarliest(long beforeNanos) {
    Candidate first = waiting.stream()
        .min(Comparator.comparingLong(x -> x.response.arrivalNanos()))
        .orElse(null);
    if (first == null || first.response.arrivalNanos() >= beforeNanos) {
      return null;
    }
    waiting.remove(first);
    return first;
  }

  /**
   * The earliest answer has been checked: if valid it wins (after any answer that was read later
   * but received earlier, if valid, see above), and the answers behind it are never checked (they
   * only count as latency samples); if invalid, the next earliest is checked.
   */
  private void checked(Candidate c, RaceOutcome.Won win) {
    if (result.isDone()) { // arrived after the winner was taken
      if (win != null) {
        registry.success(c.upstream, c.response.elapsedMillis());
      }
      return;
    }
    if (win == null) {
      Candidate next;
      synchronized (this) {
        next = checking = takeEarliest(Long.MAX_VALUE);
      }
      if (next != null) {
        check(next);
      }
      answered();
      return;
    }
    List<Candidate> slower = new ArrayList<>();
    while (true) {
      Candidate earlier;
      synchronized (this) {
        earlier = takeEarliest(c.response.arrivalNanos());
      }
      if (earlier == null) {
        break;
      }
      RaceOutcome.Won w = accept(earlier.upstream, earlier.response);
      if (w != null) {
        slower.add(c);
        c = earlier;
        win = w;
      }
    }
    List<Candidate> losers;
    synchronized (this) {
      losers = List.copyOf(waiting);
      waiting.clear();
      checking = null;
    }
    registry.success(win.upstream(), win.latencyMs());
    result.complete(win);
    for (Candidate loser : slower) {
      registry.success(loser.upstream, loser.response.elapsedMillis());
    }
    for (Candidate loser : losers) {
      registry.success(loser.upstream, loser.response.elapsedMillis());
    }
  }

  /** The won race's answer, or null when the body is not a valid narinfo for this hash from this upstream. */
  private RaceOutcome.Won accept(Upstream u, SmallResponse r) {
    byte[] body;
    NarInfo info;
    try {
      body = NarInfoRewriter.relativizeUrl(
          ContentDecoding.decode(
              r.headers().get(HttpHeaderNames.CONTENT_ENCODING), r.body(), MAX_NARINFO_BYTES),
          u.endpoint());
      info = NarInfo.parse(body);
    } catch (NarInfoException e) {
      registry.badAnswer(u, FailureKind.BAD_NARINFO);
      log.atWarn()
          .setMessage("unparsable narinfo")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("error", e.getMessage())
          .log();
      return null;
    }
    if (!info.hashPart().equals(hash) || !NarInfo.STORE_DIR.equals(info.storeDir())) {
      // Another store directory too: ncro's nix-cache-info says /nix/store, and Nix refuses a
      // narinfo whose path is outside its store (an error for the path, not a fall-through).
      registry.badAnswer(u, FailureKind.BAD_NARINFO);
      log.atWarn()
          .setMessage("narinfo for another path")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("store_path", info.storePath())
          .log();
      return null;
    }
    if (!u.keys().isEmpty() && !info.isSignedByAny(u.keys())) {
      registry.badAnswer(u, FailureKind.BAD_SIGNATURE);
      log.atWarn()
          .setMessage("narinfo signature does not verify")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .log();
      return null;
    }
    if (!u.filters().admits(info)) {
      // Not an error: the operator chose that this upstream does not serve this path. It counts
      // as absent there, so it is never served, stored or announced from this upstream.
      metrics.filtered(u);
      log.atDebug()
          .setMessage("narinfo refused by the upstream's filters")
          .addKeyValue("upstream", u.name())
          .addKeyValue("store_path", info.storePath())
          .log();
      return null;
    }
    return new RaceOutcome.Won(u, info, body, r.elapsedMillis());
  }

  private synchronized void countUnavailable() {
    unavailable++;
  }

  /** One upstream's answer is settled without a win: the race ends with the last of them. */
  private void answered() {
    boolean last;
    int down;
    int refusals;
    synchronized (this) {
      last = --pending == 0;
      down = unavailable;
      refusals = refused;
    }
    if (last && !result.isDone()) {
      result.complete(
          down == 0
              ? new RaceOutcome.AbsentEverywhere()
              : new RaceOutcome.Unavailable(
                  down + " of " + candidates.size() + " upstreams could not answer"
                      + (refusals > 0 ? " (" + refusals + " refused our credentials)" : ""),
                  refusals == down));
    }
  }
}
