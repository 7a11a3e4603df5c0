package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.narinfo.NarInfo;
import dev.ncro.router.CacheFileRouter;
import dev.ncro.router.FilePlan;
import dev.ncro.router.NarRouter;
import dev.ncro.router.NarinfoResult;
import dev.ncro.router.NarinfoRouter;
import dev.ncro.router.ResumeFinder;
import dev.ncro.upstream.Hops;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What ncro answers for each {@link Target}. Narinfo answers come from {@link NarinfoRouter};
 * NARs are streamed by a {@link NarProxy} following {@link NarRouter}'s plan.
 *
 * <p>Unavailable policy: when no upstream had the narinfo and at least one could not answer,
 * ncro answers 503, not 404. A 404 would make Nix record the path as missing (for
 * {@code narinfo-cache-negative-ttl}, an hour by default) and build from source; a 5xx makes Nix
 * fail or, with {@code fallback = true}, move on, exactly as with that upstream listed directly.
 *
 * <p>Loop safety: a request whose {@code X-Ncro-Hop} is at least {@code server.max_hops} has come
 * through that many ncro nodes. Its narinfo is answered from this node's own store (no race); its
 * NAR only from the upstream the stored route names, and one hop further not at all; other cache
 * files not at all. Every upstream request carries the incoming count plus one, so nodes that list
 * each other as upstreams stop after at most {@code max_hops + 1} requests per client request.
 */
final class Endpoints {
  private static final Logger log = LoggerFactory.getLogger(Endpoints.class);
  private final NarinfoRouter narinfo;
  private final NarRouter nars;
  private final UpstreamClient client;
  private final UpstreamRegistry registry;
  private final Executor blocking;
  private final Metrics metrics;
  private final StatusReport status;
  private final ResumeFinder resumes;
  private final byte[] cacheInfo;
  private final CacheFileRouter files;
  private final NarHedging hedging;
  private final int maxHops;
  private final boolean narSplice;

  Endpoints(
      NarinfoRouter narinfo,
      NarRouter nars,
      CacheFileRouter files,
      UpstreamClient client,
      UpstreamRegistry registry,
      Metrics metrics,
      StatusReport status,
      Executor blocking,
      int cachePriority,
      int maxHops,
      boolean wantMassQuery,
      NarHedging hedging,
      boolean narSplice) {
    this.hedging = hedging;
    this.narSplice = narSplice;
    this.maxHops = maxHops;
    this.files = files;
    this.metrics = metrics;
    this.status = status;
    this.resumes = new ResumeFinder(client);
    this.narinfo = narinfo;
    this.nars = nars;
    this.client = client;
    this.registry = registry;
    this.blocking = blocking;
    this.cacheInfo = ("StoreDir: " + NarInfo.STORE_DIR + "\nWantMassQuery: "
            + (wantMassQuery ? 1 : 0) + "\nPriority: " + cachePriority + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  void handle(Target target, HttpRequest req, RequestHandler conn) {
    boolean head = RequestHandler.isHead(req);
    int hop = Hops.incoming(req.headers());
    if (hop < 0 && !(target instanceof Target.Rejected)) {
      conn.respond(Responses.text(
          400, Hops.HEADER + " must be one decimal number of at most 3 digits", head));
      return;
    }
    if (hop >= maxHops) {
      switch (target) {
        case Target.Narinfo n -> {
          narinfo(n.hash(), head, conn, narinfo.lookupStored(n.hash()), true);
          return;
        }
        case Target.Nar n
        when hop > maxHops -> {
          conn.respond(hopLimit(head));
          return;
        }
        case Target.CacheFile f -> {
          conn.respond(hopLimit(head));
          return;
        }
        default -> {} // a NAR at exactly max_hops: from its routed upstream only (see nar()); local
        // endpoints as usual
      }
    }
    switch (target) {
      case Target.Rejected r -> conn.respond(Responses.text(r.status(), r.reason(), head));
      case Target.NotFound n -> conn.respond(Responses.text(404, "not found", head));
      case Target.NixCacheInfo c ->
        conn.respond(Responses.of(200, "text/x-nix-cache-info", cacheInfo, head));
      case Target.Health h ->
        conn.respond(
            registry.anyUsable()
                ? Responses.text(200, status.healthText(), head)
                : Responses.text(503, "no usable upstream", head));
      case Target.Metrics m ->
        blocking.execute(() -> {
          FullHttpResponse r = Responses.of(200, metrics.contentType(), metrics.scrape(), head);
          conn.channel().eventLoop().execute(() -> conn.respond(r));
        });
      case Target.Status st ->
        blocking.execute(() -> {
          FullHttpResponse r = Responses.of(200, "application/json", status.json(), head);
          r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
          conn.channel().eventLoop().execute(() -> conn.respond(r));
        });
      case Target.StatusPage p ->
        conn.respond(Responses.of(200, "text/html; charset=utf-8", StatusPage.HTML, head));
      case Target.Narinfo n ->
        narinfo(n.hash(), head, conn, narinfo.lookup(n.hash(), Hops.forward(hop)), false);
      case Target.Nar n -> nar(n.narUrl(), req, conn, hop);
      case Target.CacheFile f -> cacheFile(f, head, conn, Hops.forward(hop));
    }
  }

  /** A log, realisation, listing or debuginfo file: see {@link CacheFileRouter} and {@link CacheFileProxy}. */
  private void cacheFile(
      Target.CacheFile f, boolean head, RequestHandler conn, HttpHeaders forward) {
    metrics.cacheFileRequested(f.kind().label());
    if (files.knownAbsent(f.upstreamPath())) {
      FullHttpResponse r = Responses.text(404, "not found on any upstream", head);
      r.headers().set(Responses.X_ROUTE, "negative");
      conn.respond(r);
      return;
    }
    blocking.execute(() -> {
      CacheFileProxy proxy;
      try {
        FilePlan plan = files.plan(
            f.kind(), f.upstreamPath(), f.kind() == CacheFileKind.LISTING ? f.key() : null);
        proxy = new CacheFileProxy(
            conn.channel(), head, f, plan, client, registry, files, blocking, conn::done, forward);
      } catch (RuntimeException e) {
        log.atWarn()
            .setMessage("cache file planning failed")
            .addKeyValue("path", f.upstreamPath())
            .addKeyValue("error", e.getMessage())
            .log();
        conn.channel()
            .eventLoop()
            .execute(() -> conn.respond(Responses.text(503, "internal error", head)));
        return;
      }
      conn.channel().eventLoop().execute(() -> conn.stream(proxy));
    });
  }

  /** A 404 that names its reason: the request came through {@code server.max_hops} ncro nodes already. */
  private static FullHttpResponse hopLimit(boolean head) {
    FullHttpResponse r = Responses.text(
        404,
        "not in this node's store, and the request has passed server.max_hops ncro nodes",
        head);
    r.headers().set(Responses.X_ROUTE, "hop-limit");
    return r;
  }

  /** {@code storeOnly}: the lookup asked no upstream (hop limit), which a 404 says in {@code X-Ncro-Route}. */
  private void narinfo(
      String hash,
      boolean head,
      RequestHandler conn,
      CompletableFuture<NarinfoResult> f,
      boolean storeOnly) {
    if (f.isDone()) {
      conn.respond(narinfoResponse(f.join(), head, storeOnly));
      return;
    }
    f.whenComplete((result, err) -> {
      FullHttpResponse r = err != null
          ? Responses.text(503, "lookup failed", head)
          : narinfoResponse(result, head, storeOnly);
      conn.channel().eventLoop().execute(() -> conn.respond(r));
    });
  }

  private FullHttpResponse narinfoResponse(NarinfoResult result, boolean head, boolean storeOnly) {
    FullHttpResponse response = switch (result) {
      case NarinfoResult.Found f -> {
        switch (f.source()) {
          case CACHE_HIT -> metrics.cacheHit();
          case RACE -> metrics.cacheMiss();
          case MESH -> {
            metrics.cacheMiss();
            metrics.meshRouteHit();
          }
          case FALLBACK -> metrics.cacheMiss();
        }
        FullHttpResponse r = Responses.of(200, Responses.NARINFO_TYPE, f.route().narinfo(), head);
        r.headers().set(Responses.X_UPSTREAM, f.upstream().host());
        r.headers().set(Responses.X_ROUTE, f.source().header());
        yield r;
      }
      case NarinfoResult.Absent a -> {
        if (a.negativeHit()) {
          metrics.negativeHit();
        } else {
          metrics.cacheMiss();
        }
        FullHttpResponse r = Responses.text(404, "not found on any upstream", head);
        if (a.negativeHit()) {
          r.headers().set(Responses.X_ROUTE, "negative");
        } else if (storeOnly) {
          r.headers().set(Responses.X_ROUTE, "hop-limit");
        }
        yield r;
      }
      case NarinfoResult.Unavailable u -> {
        metrics.cacheMiss();
        yield Responses.text(
            503, "no upstream has it and some could not answer: " + u.reason(), head);
      }
    };
    metrics.narinfoAnswered(response.status().code());
    return response;
  }

  /** At the hop limit: only the upstream this node's own route names (none without a route: a 404). */
  private static NarRouter.NarPlan routedOnly(NarRouter.NarPlan plan) {
    return new NarRouter.NarPlan(
        plan.routed() == null ? List.of() : List.of(plan.routed()),
        plan.routed(),
        plan.routeHash(),
        plan.fileHash());
  }

  private void nar(String narUrl, HttpRequest req, RequestHandler conn, int hop) {
    HttpHeaders forward = req.headers().copy().set(Hops.HEADER, Integer.toString(hop + 1));
    blocking.execute(() -> {
      NarRouter.NarPlan plan;
      try {
        plan = hop >= maxHops ? routedOnly(nars.plan(narUrl)) : nars.plan(narUrl);
      } catch (RuntimeException e) {
        log.atWarn()
            .setMessage("NAR planning failed")
            .addKeyValue("nar_url", narUrl)
            .addKeyValue("error", e.getMessage())
            .log();
        conn.channel()
            .eventLoop()
            .execute(() ->
                conn.respond(Responses.text(503, "internal error", RequestHandler.isHead(req))));
        return;
      }
      NarProxy proxy = new NarProxy(
          conn.channel(),
          req.method(),
          narUrl,
          forward,
          plan,
          client,
          registry,
          metrics,
          resumes,
          hedging,
          narSplice,
          () -> blocking.execute(() -> nars.routedUpstreamLost(plan)),
          conn::done);
      conn.channel().eventLoop().execute(() -> conn.stream(proxy));
    });
  }
}
