package dev.ncro.router;

import dev.ncro.metrics.Metrics;
import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.NarInfoRewriter;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.SmallResponse;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.handler.codec.http.HttpMethod;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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
 * <p>Each upstream's answer is classified as present, absent (404/403/410, or a narinfo that does
 * not verify) or unavailable (transport error, timeout, 5xx, other statuses), and the race as a
 * whole ends in one of {@link RaceOutcome}'s cases.
 */
final class Race {
  private static final Logger log = LoggerFactory.getLogger(Race.class);
  static final int MAX_NARINFO_BYTES = 1 << 20;

  private final String hash;
  private final List<Upstream> candidates;
  private final UpstreamClient client;
  private final UpstreamRegistry registry;
  private final Metrics metrics;
  private final CompletableFuture<RaceOutcome> result = new CompletableFuture<>();
  private int pending;
  private int unavailable;

  Race(String hash, List<Upstream> candidates, UpstreamClient client, UpstreamRegistry registry, Metrics metrics) {
    this.hash = hash;
    this.candidates = candidates;
    this.client = client;
    this.registry = registry;
    this.metrics = metrics;
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
      client.fetch(u, HttpMethod.GET, path, MAX_NARINFO_BYTES).whenComplete((r, err) -> onAnswer(u, r, err));
    }
    return result;
  }

  private void onAnswer(Upstream u, SmallResponse r, Throwable err) {
    if (err != null) {
      UpstreamException e = UpstreamException.of(err);
      registry.failure(u, e.kind(), "narinfo: " + e.getMessage());
      countUnavailable();
      finishIfLast();
      return;
    }
    int status = r.status();
    if (status == 200 || status == 404 || status == 403 || status == 410) {
      metrics.raceAnswer(u, r.elapsedMillis());
    }
    if (status == 200 && result.isDone()) {
      registry.success(u, r.elapsedMillis()); // a loser: only a latency sample now
      return;
    }
    if (status == 200) {
      RaceOutcome.Won win = accept(u, r);
      if (win != null) {
        registry.success(u, r.elapsedMillis());
        result.complete(win); // a second valid answer arriving at the same moment is just a sample
        return;
      }
    } else if (status == 404 || status == 403 || status == 410) {
      registry.alive(u);
    } else if (status >= 500) {
      registry.failure(u, FailureKind.STATUS_5XX, "narinfo: status " + status);
      countUnavailable();
    } else {
      registry.badAnswer(u, FailureKind.PROTOCOL);
      log.atWarn().setMessage("unexpected narinfo status")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("status", status).log();
      countUnavailable();
    }
    finishIfLast();
  }

  /** The won race's answer, or null when the body is not a valid narinfo for this hash from this upstream. */
  private RaceOutcome.Won accept(Upstream u, SmallResponse r) {
    byte[] body = NarInfoRewriter.relativizeUrl(r.body(), u.url());
    NarInfo info;
    try {
      info = NarInfo.parse(body);
    } catch (NarInfoException e) {
      registry.badAnswer(u, FailureKind.BAD_SIGNATURE);
      log.atWarn().setMessage("unparsable narinfo")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("error", e.getMessage()).log();
      return null;
    }
    if (!info.hashPart().equals(hash)) {
      registry.badAnswer(u, FailureKind.BAD_SIGNATURE);
      log.atWarn().setMessage("narinfo for another path")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash)
          .addKeyValue("store_path", info.storePath()).log();
      return null;
    }
    if (!u.keys().isEmpty() && !info.isSignedByAny(u.keys())) {
      registry.badAnswer(u, FailureKind.BAD_SIGNATURE);
      log.atWarn().setMessage("narinfo signature does not verify")
          .addKeyValue("upstream", u.name())
          .addKeyValue("hash", hash).log();
      return null;
    }
    return new RaceOutcome.Won(u, info, body, r.elapsedMillis());
  }

  private synchronized void countUnavailable() {
    unavailable++;
  }

  private void finishIfLast() {
    boolean last;
    int down;
    synchronized (this) {
      last = --pending == 0;
      down = unavailable;
    }
    if (last) {
      result.complete(down == 0
          ? new RaceOutcome.AbsentEverywhere()
          : new RaceOutcome.Unavailable(down + " of " + candidates.size() + " upstreams could not answer"));
    }
  }
}
