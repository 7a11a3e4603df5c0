package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.narinfo.CacheFileKind;
import dev.ncro.router.CacheFileRouter;
import dev.ncro.router.FilePlan;
import dev.ncro.router.NarRouter;
import dev.ncro.router.NarinfoResult;
import dev.ncro.router.NarinfoRouter;
import dev.ncro.router.ResumeFinder;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import java.nio.charset.StandardCharsets;
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

  Endpoints(NarinfoRouter narinfo, NarRouter nars, CacheFileRouter files, UpstreamClient client, UpstreamRegistry registry,
      Metrics metrics, StatusReport status, Executor blocking, int cachePriority) {
    this.files = files;
    this.metrics = metrics;
    this.status = status;
    this.resumes = new ResumeFinder(client);
    this.narinfo = narinfo;
    this.nars = nars;
    this.client = client;
    this.registry = registry;
    this.blocking = blocking;
    this.cacheInfo = ("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: " + cachePriority + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  void handle(Target target, HttpRequest req, RequestHandler conn) {
    boolean head = RequestHandler.isHead(req);
    switch (target) {
      case Target.Rejected r -> conn.respond(Responses.text(r.status(), r.reason(), head));
      case Target.NotFound n -> conn.respond(Responses.text(404, "not found", head));
      case Target.NixCacheInfo c -> conn.respond(Responses.of(200, "text/x-nix-cache-info", cacheInfo, head));
      case Target.Health h -> conn.respond(registry.anyUsable()
          ? Responses.text(200, status.healthText(), head)
          : Responses.text(503, "no usable upstream", head));
      case Target.Metrics m -> blocking.execute(() -> {
        FullHttpResponse r = Responses.of(200, metrics.contentType(), metrics.scrape(), head);
        conn.channel().eventLoop().execute(() -> conn.respond(r));
      });
      case Target.Status st -> blocking.execute(() -> {
        FullHttpResponse r = Responses.of(200, "application/json", status.json(), head);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
        conn.channel().eventLoop().execute(() -> conn.respond(r));
      });
      case Target.StatusPage p -> conn.respond(Responses.of(200, "text/html; charset=utf-8", StatusPage.HTML, head));
      case Target.Narinfo n -> narinfo(n.hash(), head, conn);
      case Target.Nar n -> nar(n.narUrl(), req, conn);
      case Target.CacheFile f -> cacheFile(f, head, conn);
    }
  }

  /** A log, realisation, listing or debuginfo file: see {@link CacheFileRouter} and {@link CacheFileProxy}. */
  private void cacheFile(Target.CacheFile f, boolean head, RequestHandler conn) {
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
        FilePlan plan = files.plan(f.kind(), f.upstreamPath(), f.kind() == CacheFileKind.LISTING ? f.key() : null);
        proxy = new CacheFileProxy(conn.channel(), head, f, plan, client, registry, files, blocking, conn::done);
      } catch (RuntimeException e) {
        log.atWarn().setMessage("cache file planning failed").addKeyValue("path", f.upstreamPath())
            .addKeyValue("error", e.getMessage()).log();
        conn.channel().eventLoop().execute(() -> conn.respond(Responses.text(503, "internal error", head)));
        return;
      }
      conn.channel().eventLoop().execute(() -> conn.stream(proxy));
    });
  }

  private void narinfo(String hash, boolean head, RequestHandler conn) {
    CompletableFuture<NarinfoResult> f = narinfo.lookup(hash);
    if (f.isDone()) {
      conn.respond(narinfoResponse(f.join(), head));
      return;
    }
    f.whenComplete((result, err) -> {
      FullHttpResponse r = err != null
          ? Responses.text(503, "lookup failed", head)
          : narinfoResponse(result, head);
      conn.channel().eventLoop().execute(() -> conn.respond(r));
    });
  }

  private FullHttpResponse narinfoResponse(NarinfoResult result, boolean head) {
    FullHttpResponse response = switch (result) {
      case NarinfoResult.Found f -> {
        switch (f.source()) {
          case CACHE_HIT -> metrics.cacheHit();
          case RACE -> metrics.cacheMiss();
          case MESH -> {
            metrics.cacheMiss();
            metrics.meshRouteHit();
          }
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
        }
        yield r;
      }
      case NarinfoResult.Unavailable u -> {
        metrics.cacheMiss();
        yield Responses.text(503, "no upstream has it and some could not answer: " + u.reason(), head);
      }
    };
    metrics.narinfoAnswered(response.status().code());
    return response;
  }

  private void nar(String narUrl, HttpRequest req, RequestHandler conn) {
    blocking.execute(() -> {
      NarRouter.NarPlan plan;
      try {
        plan = nars.plan(narUrl);
      } catch (RuntimeException e) {
        log.atWarn().setMessage("NAR planning failed")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("error", e.getMessage()).log();
        conn.channel().eventLoop().execute(() -> conn.respond(Responses.text(503, "internal error", RequestHandler.isHead(req))));
        return;
      }
      NarProxy proxy = new NarProxy(conn.channel(), req.method(), narUrl, req.headers(), plan, client, registry, metrics, resumes,
          () -> blocking.execute(() -> nars.routedUpstreamLost(plan)), conn::done);
      conn.channel().eventLoop().execute(() -> conn.stream(proxy));
    });
  }
}
