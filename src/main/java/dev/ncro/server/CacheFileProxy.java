package dev.ncro.server;

import dev.ncro.narinfo.ContentDecoding;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.Realisation;
import dev.ncro.router.CacheFileRouter;
import dev.ncro.router.FilePlan;
import dev.ncro.upstream.Exchange;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.ResponseListener;
import dev.ncro.upstream.Throttle;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers one request for a cache file (log, realisation, listing, debuginfo) by following a
 * {@link FilePlan}: the upstream it names first, alone; then the rest all at once. The first usable
 * 200 wins and is passed through as the upstream sent it: status, body bytes, {@code Content-Type},
 * {@code Content-Length}, {@code Content-Encoding} (a log stored br- or gzip-compressed on S3 stays
 * so: Nix decodes it), {@code Last-Modified}, {@code ETag}. ncro asks for no encoding itself.
 *
 * <p>Streamed kinds (logs may be many megabytes) win on their response headers and are streamed
 * with backpressure, like a NAR: a loser that also answers 200 has its connection closed rather
 * than read to the end, since its body may be large. A realisation must be checked before it can
 * win, so its body (at most {@link #MAX_VERIFIED_BYTES}) is read whole, its signature verified
 * against the upstream's keys when it has any (on {@code verifier}, off the event loop), and a bad
 * or missing signature, or a realisation for another id, counts as "this upstream does not have it".
 *
 * <p>Upstreams are always asked with GET: a client's HEAD gets the winning GET's headers (its body
 * is read and dropped when small, else its connection closed), because some caches refuse HEAD or
 * answer it 404, which must not make a file look unavailable or absent.
 *
 * <p>No winner: 404 only when every upstream asked said absent and none was left out; otherwise
 * 503, the narinfo policy (see {@link Endpoints}). A streamed body that breaks after the headers
 * went out aborts the client connection, so the client sees a failed transfer, never a short file.
 *
 * <p>Threading: each upstream answer arrives on its own connection's event loop; the shared state
 * (who won, how many are still out) is guarded by this object; only the winner writes to the client.
 */
final class CacheFileProxy implements StreamedResponse {
  private static final Logger log = LoggerFactory.getLogger(CacheFileProxy.class);
  static final int MAX_VERIFIED_BYTES = 1 << 20;
  /** What is kept of a 503's body: S3's error XML is a few hundred bytes. */
  private static final int MAX_ERROR_BODY = 16 * 1024;
  /** A HEAD's winner body up to this size is read and dropped, keeping the connection; larger ones close it. */
  private static final long DRAIN_LIMIT = 64 * 1024;

  private static final CharSequence[] PASSED_HEADERS = {
    HttpHeaderNames.CONTENT_TYPE,
    HttpHeaderNames.CONTENT_LENGTH,
    HttpHeaderNames.CONTENT_ENCODING,
    HttpHeaderNames.LAST_MODIFIED,
    HttpHeaderNames.ETAG
  };

  private final Channel client;
  private final boolean head;
  private final Target.CacheFile target;
  private final FilePlan plan;
  private final UpstreamClient upstreams;
  private final UpstreamRegistry registry;
  private final CacheFileRouter router;
  private final Executor verifier;
  private final Runnable onDone;
  private final AtomicBoolean ended = new AtomicBoolean();
  private volatile boolean closed;
  /** The leg whose answer the client gets; null until one wins. Guarded by this. */
  private Leg winner;

  private boolean inFirstStage;
  private int pending;
  private int unavailable;
  private volatile Leg streaming;
  /** Headers every upstream request carries ({@code X-Ncro-Hop}); null for none. */
  private final HttpHeaders forward;

  CacheFileProxy(
      Channel client,
      boolean head,
      Target.CacheFile target,
      FilePlan plan,
      UpstreamClient upstreams,
      UpstreamRegistry registry,
      CacheFileRouter router,
      Executor verifier,
      Runnable onDone,
      HttpHeaders forward) {
    this.forward = forward;
    this.client = client;
    this.head = head;
    this.target = target;
    this.plan = plan;
    this.upstreams = upstreams;
    this.registry = registry;
    this.router = router;
    this.verifier = verifier;
    this.onDone = onDone;
  }

  @Override
  public void start() {
    if (plan.first() != null) {
      stage(List.of(plan.first()), true);
    } else {
      stage(plan.race(), false);
    }
  }

  private void stage(List<Upstream> legs, boolean first) {
    if (legs.isEmpty()) {
      noWinner();
      return;
    }
    synchronized (this) {
      inFirstStage = first;
      pending = legs.size();
    }
    // Always GET, even for a client's HEAD: some caches refuse HEAD (405) or answer it 404 (old
    // harmonia), which would read as "unavailable" or "absent"; a realisation must be read to be
    // checked anyway. A HEAD client gets the winner's headers, and its body is dropped.
    HttpMethod method = HttpMethod.GET;
    for (Upstream u : legs) {
      Leg leg = new Leg(u);
      leg.sentNanos = System.nanoTime();
      upstreams.send(u, method, target.upstreamPath(), forward, leg);
    }
  }

  /** A leg ended without winning; the stage ends with its last leg. */
  private void settled(boolean wasUnavailable) {
    boolean stageOver;
    boolean firstStage;
    synchronized (this) {
      if (winner != null) {
        return;
      }
      if (wasUnavailable) {
        unavailable++;
      }
      stageOver = --pending == 0;
      firstStage = inFirstStage;
    }
    if (!stageOver || closed) {
      return;
    }
    if (firstStage) {
      router.firstMissed(target.upstreamPath());
      stage(plan.race(), false);
    } else {
      noWinner();
    }
  }

  private synchronized boolean claim(Leg leg) {
    if (winner != null || closed) {
      return false;
    }
    winner = leg;
    return true;
  }

  private void noWinner() {
    int down;
    synchronized (this) {
      down = unavailable;
    }
    if (down == 0 && plan.notAsked() == 0) {
      router.absentEverywhere(target.upstreamPath());
      respond(Responses.text(404, "not found on any upstream", head));
    } else {
      String why = down > 0
          ? down + " upstream(s) could not answer"
          : plan.notAsked() + " silent upstream(s) not asked";
      respond(Responses.text(503, "no upstream has it and some could not answer: " + why, head));
    }
  }

  private void respond(FullHttpResponse r) {
    if (!closed) {
      client.writeAndFlush(r);
    } else {
      r.release();
    }
    finished();
  }

  private void finished() {
    if (ended.compareAndSet(false, true)) {
      onDone.run();
    }
  }

  private String route(Upstream u) {
    return u == plan.first() ? plan.firstSource() : "race";
  }

  @Override
  public void clientWritable() {
    Leg l = streaming;
    if (l != null && l.exchange != null && !closed) {
      l.exchange.resume();
    }
  }

  @Override
  public void clientClosed() {
    closed = true;
    finished();
    Leg l = streaming;
    if (l != null && l.exchange != null) {
      l.exchange.abort();
    }
  }

  /** One upstream's answer. Its callbacks all come from that upstream connection's event loop. */
  private final class Leg implements ResponseListener {
    private final Upstream upstream;
    private long sentNanos;
    private volatile Exchange exchange;
    private HttpResponse response;
    /** What the answer means once it is complete, when it is not streamed to the client. */
    private boolean failed;

    private boolean passing;
    private ByteBuf collected;
    /** A 503's body (heap, unpooled: nothing to release), read to tell S3's SlowDown from a failure. */
    private ByteBuf errorBody;

    private boolean unflushed;
    private long delivered;
    private long promised = -1;
    /** This leg has been counted as settled (or aborted as a loser): it must never count twice. */
    private volatile boolean done;
    /** A HEAD's winner: its headers went out, its small body is being read and dropped. */
    private boolean draining;

    Leg(Upstream upstream) {
      this.upstream = upstream;
    }

    /**
     * Settles this leg once. Needed because an aborted exchange may still deliver the rest of the
     * socket read already in progress (abort takes effect on the next event loop turn).
     */
    private void finish(boolean wasUnavailable) {
      if (done) {
        return;
      }
      done = true;
      settled(wasUnavailable);
    }

    @Override
    public void onHeaders(HttpResponse r, Exchange ex) {
      exchange = ex;
      response = r;
      int s = r.status().code();
      if (s == 200) {
        registry.success(upstream, ex.elapsedNanos() / 1e6);
        if (target.kind().verified()) {
          collected = Unpooled.buffer();
          return;
        }
        if (!claim(this)) {
          done = true;
          ex.abort(); // a loser's body may be large: not worth reading to the end
          return;
        }
        streaming = this;
        forwardHeaders(r, ex);
        if (head) {
          done = true;
          if (promised < 0 || promised > DRAIN_LIMIT) {
            ex.abort(); // not worth reading only to keep the connection
            endHead();
          } else {
            draining =
                true; // the body is dropped; the answer ends with it, the connection is reused
          }
          return;
        }
        passing = true;
        return;
      }
      if (Throttle.asked(s, r.headers())) {
        registry.throttled(upstream, target.kind().label(), s, r.headers(), sentNanos);
        failed = true;
      } else if (s == 503) { // S3's SlowDown says so in its XML body only: settled in onComplete
        errorBody = Unpooled.buffer(512);
        failed = true;
      } else if (s == 404 || s == 403 || s == 410) {
        registry.alive(upstream); // absent here: settled in onComplete
      } else if (s >= 500) {
        registry.failure(
            upstream, FailureKind.STATUS_5XX, target.kind().label() + ": status " + s, sentNanos);
        failed = true;
      } else {
        registry.badAnswer(upstream, FailureKind.PROTOCOL);
        log.atWarn()
            .setMessage("unexpected status for a cache file")
            .addKeyValue("upstream", upstream.name())
            .addKeyValue("path", target.upstreamPath())
            .addKeyValue("status", s)
            .log();
        failed = true;
      }
      // drain the small error body; settled in onComplete
    }

    private void forwardHeaders(HttpResponse r, Exchange ex) {
      HttpResponse out = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      copy(r.headers(), out.headers());
      promised = HttpUtil.getContentLength(r, -1L);
      if (head && promised < 0) {
        out.headers().remove(HttpHeaderNames.CONTENT_LENGTH);
      }
      if (promised < 0 && !head) {
        HttpUtil.setTransferEncodingChunked(out, true);
      }
      out.headers().set(Responses.X_UPSTREAM, upstream.host());
      out.headers().set(Responses.X_ROUTE, route(upstream));
      router.found(target.upstreamPath(), upstream);
      client.writeAndFlush(out);
    }

    @Override
    public void onContent(ByteBuf content) {
      if (passing && !closed) {
        int n = content.readableBytes();
        delivered += n;
        client.write(new DefaultHttpContent(content));
        unflushed = true;
        if (!client.isWritable()) {
          exchange.pauseWhile(() -> !client.isWritable());
        }
        return;
      }
      if (errorBody != null && errorBody.readableBytes() < MAX_ERROR_BODY) {
        errorBody.writeBytes(
            content, Math.min(content.readableBytes(), MAX_ERROR_BODY - errorBody.readableBytes()));
      }
      if (collected != null) {
        if (collected.readableBytes() + content.readableBytes() > MAX_VERIFIED_BYTES) {
          content.release();
          collected.release();
          collected = null;
          exchange.abort();
          registry.badAnswer(upstream, FailureKind.PROTOCOL);
          finish(true);
          return;
        }
        collected.writeBytes(content);
      }
      content.release();
    }

    @Override
    public void onReadBatchEnd() {
      if (passing && unflushed && !closed) {
        unflushed = false;
        client.flush();
      }
    }

    /** The end of a HEAD answer: headers only. */
    private void endHead() {
      draining = false;
      if (!closed) {
        client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
      }
      finished();
    }

    @Override
    public void onComplete() {
      if (draining) {
        endHead();
        return;
      }
      if (passing) {
        if (closed) {
          return;
        }
        if (promised >= 0 && delivered != promised) {
          onError(
              new UpstreamException(
                  FailureKind.TRUNCATED,
                  "body ended after " + delivered + " of " + promised + " bytes"),
              true);
          return;
        }
        client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        finished();
        return;
      }
      if (done) {
        return;
      }
      if (collected != null) {
        byte[] body = new byte[collected.readableBytes()];
        collected.readBytes(body);
        collected.release();
        collected = null;
        verifier.execute(() -> checked(body));
        return;
      }
      if (errorBody != null) {
        byte[] body = new byte[errorBody.readableBytes()];
        errorBody.readBytes(body);
        errorBody = null;
        registry.unavailable(upstream, target.kind().label(), body, sentNanos);
      }
      finish(failed);
    }

    /** A realisation's body is in: serve it if it is the one asked for and signed by the upstream's key. */
    private void checked(byte[] body) {
      String problem = realisationProblem(body);
      if (problem != null) {
        registry.badAnswer(upstream, FailureKind.BAD_SIGNATURE);
        log.atWarn()
            .setMessage("realisation not accepted")
            .addKeyValue("upstream", upstream.name())
            .addKeyValue("path", target.upstreamPath())
            .addKeyValue("reason", problem)
            .log();
        finish(false);
        return;
      }
      done = true;
      if (!claim(this)) {
        return;
      }
      router.found(target.upstreamPath(), upstream);
      FullHttpResponse out = new DefaultFullHttpResponse(
          HttpVersion.HTTP_1_1,
          HttpResponseStatus.OK,
          head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body));
      copy(response.headers(), out.headers());
      out.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
      out.headers().set(Responses.X_UPSTREAM, upstream.host());
      out.headers().set(Responses.X_ROUTE, route(upstream));
      respond(out);
    }

    private String realisationProblem(byte[] body) {
      if (upstream.keys().isEmpty()) {
        return null; // nothing to check against: passed through, as a narinfo would be
      }
      Realisation r;
      try {
        // Checked decoded; the client gets the stored bytes and the header, and decodes them.
        r = Realisation.parse(ContentDecoding.decode(
            response.headers().get(HttpHeaderNames.CONTENT_ENCODING), body, MAX_VERIFIED_BYTES));
      } catch (NarInfoException e) {
        return e.getMessage();
      }
      if (!target.key().equals(r.id())) {
        return "realisation for another id: " + r.id();
      }
      if (!r.isSignedByAny(upstream.keys())) {
        return "no valid signature by the upstream's keys";
      }
      return null;
    }

    @Override
    public void onError(UpstreamException error, boolean headersSeen) {
      if (draining) { // the HEAD's headers went out already, and it has no body to break
        endHead();
        return;
      }
      registry.failure(
          upstream,
          error.kind(),
          target.kind().label() + " " + error.kind().label() + ": " + error.getMessage(),
          sentNanos);
      if (collected != null) {
        collected.release();
        collected = null;
      }
      if (passing) {
        passing = false;
        log.atWarn()
            .setMessage(
                "cache file broke after the response started: aborting the client connection")
            .addKeyValue("path", target.upstreamPath())
            .addKeyValue("upstream", upstream.name())
            .addKeyValue("delivered", delivered)
            .addKeyValue("error", error.getMessage())
            .log();
        closed = true;
        client.close();
        finished();
        return;
      }
      finish(true);
    }
  }

  private static void copy(HttpHeaders from, HttpHeaders to) {
    for (CharSequence n : PASSED_HEADERS) {
      String v = from.get(n);
      if (v != null) {
        to.set(n, v);
      }
    }
  }
}
