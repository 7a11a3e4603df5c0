package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.router.NarRouter;
import dev.ncro.router.ResumeFinder;
import dev.ncro.upstream.Exchange;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.Hops;
import dev.ncro.upstream.RequestAuth;
import dev.ncro.upstream.ResponseListener;
import dev.ncro.upstream.Throttle;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams one NAR from the first upstream in the plan that has it to the client. Ownership: each
 * body chunk arrives owned by this listener and is handed to the client channel's write, which
 * releases it. Backpressure: when the client channel stops being writable, reading from the
 * upstream pauses; {@link #clientWritable()} resumes it. Memory per download is therefore bounded
 * by the channel's write-buffer high-water mark plus one socket read, whatever the NAR's size.
 *
 * <p>404, 5xx and failures before any byte was sent move on to the next upstream. A failure after
 * the response started is resumed, when possible, from another upstream serving the very same file
 * (same {@code FileHash}, see {@link ResumeFinder}) with a {@code Range} request whose 206 must
 * start exactly at the byte reached and describe the same total length; the client sees one
 * seamless response. Otherwise the client connection is aborted, so Nix sees a broken transfer and
 * never a clean end of a short body. The steps are the {@link Phase}s (docs/design.md draws them).
 *
 * <p>Where the client and the upstream both speak plain HTTP over epoll on one event loop, the rest
 * of a body of known length goes by splice(2) after the first socket read ({@link
 * Exchange#spliceTo}, {@code server.nar_splice}): the bytes never enter ncro's memory, and every
 * rule above holds, since the splice reports exactly how many bytes reached the client
 * ({@link #onSpliced}). {@code ncro_nar_relay_total{mode}} tells which way each body went.
 *
 * <p>All callbacks run on the current upstream connection's event loop, one exchange at a time;
 * {@link #clientClosed()} and {@link #clientWritable()} come from the client's loop and touch only
 * the atomic phase and the volatile exchange.
 */
final class NarProxy implements ResponseListener, StreamedResponse {
  /** Where the download is. DONE and CLOSED are final: no transition leaves them. */
  enum Phase {
    /** A request is out to {@code plan.order()[index]}; no answer yet. */
    TRYING,
    /** That upstream answered with an error: its short body is read (or dropped), then the next is tried. */
    DRAINING,
    /** Response headers went to the client; the current upstream's body follows them. */
    STREAMING,
    /** The body broke after the client got headers: another holder of the same file is sought or asked. */
    RESUMING,
    /** The client got its whole answer (a body, or an error status when no upstream could serve). */
    DONE,
    /** The client connection went away, or was closed by ncro because the body could not be completed. */
    CLOSED;

    boolean isFinal() {
      return this == DONE || this == CLOSED;
    }
  }

  private static final Logger log = LoggerFactory.getLogger(NarProxy.class);
  private static final int MAX_ERROR_BODY = 16 * 1024;
  private final Channel client;
  private final HttpMethod method;
  private final String narUrl;
  private final HttpHeaders forward;
  private final NarRouter.NarPlan plan;
  private final UpstreamClient upstreams;
  private final UpstreamRegistry registry;
  private final Metrics metrics;
  private final ResumeFinder resumes;
  private final Runnable onDone;
  private final Runnable routedLost;
  private final NarHedging hedging;
  /** {@code server.nar_splice}: bodies may be spliced where both sides allow it. */
  private final boolean spliceEnabled;
  /** The client's {@code Range: bytes=N-} start, -1 without one. */
  private final long requestedFrom;

  private final AtomicReference<Phase> phase = new AtomicReference<>(Phase.TRYING);
  /**
   * Upstreams never asked to resume this download: their body broke, they failed a resume, or they
   * lost a hedge without sending headers (see {@link NarHedge}).
   */
  private final Set<Upstream> broken = new HashSet<>();
  /** The hedged first attempt, while it may have requests in flight; null without hedging. */
  private volatile NarHedge hedge;
  /** The current upstream answered a hedge: its response is labelled {@code nar-hedge}. */
  private boolean hedged;

  private int index = -1;
  private Upstream current;
  private volatile Exchange exchange;
  /** System.nanoTime() when the current upstream request was sent. */
  private long sentNanos;
  /** The body sent to the client: set with the client's response headers (STREAMING and RESUMING). */
  private ByteWindow window;

  private boolean failedSome;
  /** Some upstream refused ncro's credentials: without the NAR elsewhere, the answer is 503. */
  private boolean refusedSome;
  /**
   * While DRAINING an answer whose body decides what it was: a possible refusal ({@link
   * RequestAuth#mayRefuse}), or a 503 that may be S3's {@code SlowDown}.
   */
  private ByteBuf errorBody;

  private int errorStatus;
  /** Body written to the client since the last flush. */
  private boolean unflushed;

  /** The current upstream body's length (its Content-Length), -1 when unknown or chunked. */
  private long bodyLength = -1;
  /** Bytes of the current upstream body received so far (copied, dropped or spliced). */
  private long bodyReceived;
  /** Bytes of the current upstream body relayed by copy, and by splice. */
  private long copied;

  private long spliced;
  /** Splice or copy was decided for the current upstream body (see {@link #maybeSplice}). */
  private boolean splicing;
  /** A body is streaming whose relay has not been counted in the metrics yet. */
  private boolean bodyOpen;

  NarProxy(
      Channel client,
      HttpMethod method,
      String narUrl,
      HttpHeaders requestHeaders,
      NarRouter.NarPlan plan,
      UpstreamClient upstreams,
      UpstreamRegistry registry,
      Metrics metrics,
      ResumeFinder resumes,
      NarHedging hedging,
      boolean spliceEnabled,
      Runnable routedLost,
      Runnable onDone) {
    this.client = client;
    this.spliceEnabled = spliceEnabled;
    this.hedging = hedging;
    this.method = method;
    this.narUrl = narUrl;
    this.plan = plan;
    this.upstreams = upstreams;
    this.registry = registry;
    this.metrics = metrics;
    this.resumes = resumes;
    this.routedLost = routedLost;
    this.onDone = onDone;
    this.forward = new DefaultHttpHeaders();
    String range = requestHeaders.get(HttpHeaderNames.RANGE);
    if (range != null) {
      forward.set(HttpHeaderNames.RANGE, range);
    }
    String hop = requestHeaders.get(Hops.HEADER); // Endpoints put the outgoing count there
    if (hop != null) {
      forward.set(Hops.HEADER, hop);
    }
    this.requestedFrom = ByteWindow.requestedFrom(range);
  }

  Phase phase() {
    return phase.get();
  }

  @Override
  public void start() {
    metrics.narStarted();
    next();
  }

  /** Moves to {@code to} unless the download is already over; false if it was. */
  private boolean moveTo(Phase to) {
    Phase now;
    do {
      now = phase.get();
      if (now.isFinal()) {
        return false;
      }
    } while (!phase.compareAndSet(now, to));
    if (to.isFinal()) {
      metrics.narEnded();
      onDone.run();
    }
    return true;
  }

  private boolean over() {
    return phase.get().isFinal();
  }

  private boolean head() {
    return method.equals(HttpMethod.HEAD);
  }

  private void next() {
    List<Upstream> order = plan.order();
    if (over()) {
      return;
    }
    if (++index >= order.size()) {
      int status = refusedSome ? 503 : failedSome ? 502 : 404;
      String msg = refusedSome
          ? "an upstream that may have " + narUrl + " refused ncro's credentials"
          : failedSome ? "no upstream could serve " + narUrl : "no upstream has " + narUrl;
      client.writeAndFlush(Responses.text(status, msg, head()));
      moveTo(Phase.DONE);
      return;
    }
    current = order.get(index);
    moveTo(Phase.TRYING);
    sentNanos = System.nanoTime();
    List<Upstream> others = index == 0 ? hedgeCandidates() : List.of();
    if (!others.isEmpty()) {
      NarHedge h = new NarHedge(
          this,
          hedging,
          upstreams,
          resumes,
          metrics,
          client.eventLoop(),
          method,
          forward,
          narUrl,
          plan.routeHash(),
          plan.fileHash(),
          others);
      hedge = h;
      h.start(current, "/" + narUrl);
      return;
    }
    upstreams.send(current, method, "/" + narUrl, forward, this);
  }

  /** The other usable upstreams a first request may be hedged to; none when hedging is off (or no one else is up). */
  private List<Upstream> hedgeCandidates() {
    if (!hedging.enabled()) {
      return List.of();
    }
    List<Upstream> others = new ArrayList<>();
    for (Upstream u : plan.order()) {
      if (u != current && u.available()) {
        others.add(u);
      }
    }
    return others;
  }

  /**
   * A hedged attempt won the first step (or was the last one left): it is the current exchange
   * from now on. {@code slow}: the attempts cancelled for it, never asked to resume.
   */
  void adopt(Upstream u, long sent, boolean isHedge, Set<Upstream> slow) {
    current = u;
    sentNanos = sent;
    hedged = isHedge;
    broken.addAll(slow);
  }

  /**
   * A hedged attempt answered an error while another was still in flight: recorded as
   * {@link #firstHeaders} would, without reading the body. An answer that may be a credential
   * refusal ({@link RequestAuth#mayRefuse}) cannot be told from an absent file without its body, so
   * it counts as a failure, never as "the routed upstream lost the NAR".
   */
  void steppedAside(Upstream u, int status, HttpHeaders headers, long sent) {
    if (u.auth().mayRefuse(status)) {
      failedSome = true;
    } else if (Throttle.asked(status, headers)) {
      registry.throttled(u, "NAR " + narUrl, status, headers, sent);
      failedSome = true;
    } else if (status == 404 || status == 410 || status == 403) {
      registry.alive(u);
      if (u == plan.routed()) {
        routedLost.run();
      }
    } else if (status >= 500) {
      registry.failure(u, FailureKind.STATUS_5XX, "NAR status " + status, sent);
      failedSome = true;
    } else if (status == 401) {
      registry.objectUnauthorized(u, "NAR " + narUrl, status);
      failedSome = true;
    }
  }

  /** A hedged attempt failed while another was still in flight. */
  void failedAside(Upstream u, UpstreamException error, long sent) {
    registry.failure(
        u, error.kind(), "NAR " + error.kind().label() + ": " + error.getMessage(), sent);
    failedSome = true;
  }

  @Override
  public void onSent(Exchange ex) {
    exchange = ex;
    if (over()) {
      ex.abort(); // the client left before the upstream answered
    }
  }

  @Override
  public void onHeaders(HttpResponse r, Exchange ex) {
    exchange = ex;
    switch (phase.get()) {
      case DONE, CLOSED -> ex.abort();
      case RESUMING -> resumedHeaders(r, ex);
      default -> firstHeaders(r, ex);
    }
  }

  /** An upstream of the plan answered: an error moves on (after its body), a 2xx goes to the client. */
  private void firstHeaders(HttpResponse r, Exchange ex) {
    int s = r.status().code();
    if (current.auth().mayRefuse(s)) {
      moveTo(Phase.DRAINING);
      errorStatus = s;
      errorBody = Unpooled.buffer(512); // heap, unpooled: nothing leaks if the exchange is dropped
      return; // read the small error body: it tells a refusal from an absent key (onComplete)
    }
    if (Throttle.asked(s, r.headers())) {
      moveTo(Phase.DRAINING);
      registry.throttled(current, "NAR " + narUrl, s, r.headers(), sentNanos);
      failedSome = true;
      return; // drain the small error body, then try the next upstream in onComplete
    }
    if (s == 404 || s == 410 || s == 403) {
      moveTo(Phase.DRAINING);
      registry.alive(current);
      if (current == plan.routed()) {
        routedLost.run();
      }
      return; // drain the small error body, then try the next upstream in onComplete
    }
    if (s == 503) { // S3's SlowDown comes without Retry-After: its XML body says so
      moveTo(Phase.DRAINING);
      errorStatus = s;
      errorBody = Unpooled.buffer(512);
      return;
    }
    if (s >= 500) {
      moveTo(Phase.DRAINING);
      registry.failure(current, FailureKind.STATUS_5XX, "NAR status " + s, sentNanos);
      failedSome = true;
      return;
    }
    if (s == 401) { // credentials refused: the NAR may exist there, so not a 404 if no one else has
      // it
      moveTo(Phase.DRAINING);
      registry.objectUnauthorized(current, "NAR " + narUrl, s);
      failedSome = true;
      return;
    }
    if (!moveTo(Phase.STREAMING)) {
      ex.abort();
      return;
    }
    window = ByteWindow.open(
        s,
        HttpUtil.getContentLength(r, -1L),
        ContentRange.parse(r.headers().get(HttpHeaderNames.CONTENT_RANGE)),
        requestedFrom);
    String route = hedged ? "nar-hedge" : plan.routeLabel(current);
    bodyStarted(r);
    client.writeAndFlush(NarHeaders.forClient(r, window, head(), current.host(), route));
    registry.success(current, ex.elapsedNanos() / 1e6);
  }

  /** A resume source answered: only a 206 starting exactly where we are, for the same file, is spliced. */
  private void resumedHeaders(HttpResponse r, Exchange ex) {
    ContentRange range = ContentRange.parse(r.headers().get(HttpHeaderNames.CONTENT_RANGE));
    if (r.status().code() != 206 || !window.continuedBy(range)) {
      log.atWarn()
          .setMessage("resume source did not honour the range")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name())
          .addKeyValue("status", r.status().code())
          .addKeyValue("content_range", r.headers().get(HttpHeaderNames.CONTENT_RANGE))
          .log();
      broken.add(current);
      ex.abort();
      resume(); // try another source, or give up
      return;
    }
    if (!moveTo(Phase.STREAMING)) {
      ex.abort();
      return;
    }
    registry.success(current, ex.elapsedNanos() / 1e6);
    bodyStarted(r);
    log.atInfo()
        .setMessage("NAR resumed from another upstream")
        .addKeyValue("nar_url", narUrl)
        .addKeyValue("upstream", current.name())
        .addKeyValue("offset", window.resumeOffset())
        .log();
  }

  @Override
  public void onContent(ByteBuf content) {
    Phase p = phase.get();
    if (p == Phase.DRAINING && errorBody != null && errorBody.readableBytes() < MAX_ERROR_BODY) {
      errorBody.writeBytes(
          content, Math.min(content.readableBytes(), MAX_ERROR_BODY - errorBody.readableBytes()));
    }
    if (p != Phase.STREAMING) {
      content.release();
      return;
    }
    bodyReceived += content.readableBytes();
    content.skipBytes(window.drop(content.readableBytes()));
    if (!content.isReadable()) {
      content.release();
      return;
    }
    int n = content.readableBytes();
    current.stats().countNarBytes(n);
    window.delivered(n);
    copied += n;
    client.write(new DefaultHttpContent(content));
    unflushed = true;
    if (!client.isWritable()) {
      exchange.pauseWhile(() -> !client.isWritable());
    }
  }

  /** One flush per socket read of the upstream, not per chunk: fewer syscalls and wake-ups. */
  @Override
  public void onReadBatchEnd() {
    if (unflushed && !over()) {
      unflushed = false;
      client.flush();
    }
    maybeSplice();
  }

  /** A 2xx body starts streaming to the client from the current upstream. */
  private void bodyStarted(HttpResponse r) {
    bodyLength = HttpUtil.isTransferEncodingChunked(r) ? -1 : HttpUtil.getContentLength(r, -1L);
    bodyReceived = 0;
    copied = 0;
    spliced = 0;
    splicing = false;
    bodyOpen = !head(); // a HEAD answer has no body to relay
  }

  /** The current upstream body ended, whole or broken: counted once in the relay metrics. */
  private void bodyEnded() {
    if (bodyOpen) {
      bodyOpen = false;
      metrics.narRelayed(copied, spliced);
    }
  }

  /**
   * After a socket read (whatever it delivered went to the client by copy, and was flushed), the
   * rest of the body goes by splice when: splice is on, the request is a GET, the upstream body
   * has a Content-Length (not chunked) whose rest is exactly what the client still awaits (so no
   * leading bytes of an ignored Range remain to drop), the client takes bytes now, and the
   * connections allow it ({@link Exchange#spliceRefusal}: epoll, one event loop, no TLS).
   * Nothing in ncro reads NAR bytes (no hash, no inspection): the copy relay only counts them.
   */
  private void maybeSplice() {
    Exchange ex = exchange;
    if (!spliceEnabled
        || splicing
        || ex == null
        || head()
        || bodyLength < 0
        || phase.get() != Phase.STREAMING) {
      return;
    }
    long rest = bodyLength - bodyReceived;
    if (rest <= 0 || rest != window.promised() - window.delivered() || !client.isWritable()) {
      return;
    }
    if (ex.readsPaused()) {
      return; // asked again after the next read
    }
    splicing = true; // decided for this body: by splice, or by copy to its end
    String refusal = ex.spliceRefusal(client);
    if (refusal != null) {
      log.atDebug()
          .setMessage("NAR body relayed by copy")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("reason", refusal)
          .log();
      return;
    }
    ex.spliceTo(client, rest);
  }

  /** Spliced body bytes reached the client's pipe: counted as the copy relay counts its chunks. */
  @Override
  public void onSpliced(long n) {
    if (window == null || phase.get() != Phase.STREAMING) {
      return;
    }
    bodyReceived += n;
    spliced += n;
    current.stats().countNarBytes(n);
    window.delivered(n);
  }

  @Override
  public void onComplete() {
    switch (phase.get()) {
      case DONE, CLOSED -> {}
      case STREAMING -> {
        if (!window.complete() && !head()) {
          onError(
              new UpstreamException(
                  FailureKind.TRUNCATED,
                  "body ended after " + window.delivered() + " of " + window.promised() + " bytes"),
              true);
          return;
        }
        bodyEnded();
        client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
        moveTo(Phase.DONE);
      }
      default -> {
        if (errorBody != null) {
          errorBodySettled();
        }
        next();
      }
    }
  }

  /**
   * The error body is complete: a 503 is a request to slow down or a failure; a possible refusal is
   * unauthorized, absent (403/404/410) or a failure.
   */
  private void errorBodySettled() {
    byte[] body = new byte[errorBody.readableBytes()];
    errorBody.readBytes(body);
    errorBody = null;
    if (errorStatus == 503) {
      registry.unavailable(current, "NAR " + narUrl, body, sentNanos);
      failedSome = true;
      return;
    }
    String refused = current.auth().refusal(errorStatus, body);
    if (refused != null) {
      registry.unauthorized(current, "NAR: " + refused);
      refusedSome = true;
    } else if (errorStatus == 403 || errorStatus == 404 || errorStatus == 410) {
      registry.alive(current);
      if (current == plan.routed()) {
        routedLost.run();
      }
    } else {
      registry.badAnswer(current, FailureKind.PROTOCOL);
      failedSome = true;
    }
  }

  @Override
  public void onError(UpstreamException error, boolean headersSeen) {
    errorBody = null;
    Phase p = phase.get();
    if (p.isFinal()) {
      return;
    }
    registry.failure(
        current,
        error.kind(),
        "NAR " + error.kind().label() + ": " + error.getMessage(),
        sentNanos);
    if (p == Phase.STREAMING || p == Phase.RESUMING) {
      bodyEnded();
      broken.add(current);
      moveTo(Phase.RESUMING);
      log.atWarn()
          .setMessage("NAR stream broke after the response started")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name())
          .addKeyValue("delivered", window.delivered())
          .addKeyValue("error", error.getMessage())
          .log();
      resume();
      return;
    }
    failedSome = true;
    log.atInfo()
        .setMessage("NAR upstream failed, trying next")
        .addKeyValue("nar_url", narUrl)
        .addKeyValue("upstream", current.name())
        .addKeyValue("error", error.getMessage())
        .log();
    next();
  }

  /** RESUMING: continues the body from another upstream with the same file, or closes the client connection. */
  private void resume() {
    if (head() || !window.resumable() || plan.fileHash() == null) {
      abortClient("nothing to resume from (no known FileHash or length)");
      return;
    }
    List<Upstream> candidates = new ArrayList<>(plan.order());
    candidates.removeAll(broken);
    long offset = window.resumeOffset();
    resumes.find(plan.routeHash(), plan.fileHash(), candidates).whenComplete((source, err) -> {
      if (over()) {
        return;
      }
      if (err != null || source.isEmpty()) {
        abortClient("no other upstream serves the same file");
        return;
      }
      current = source.get().upstream();
      HttpHeaders range =
          new DefaultHttpHeaders().set(HttpHeaderNames.RANGE, "bytes=" + offset + "-");
      if (forward.contains(Hops.HEADER)) {
        range.set(Hops.HEADER, forward.get(Hops.HEADER));
      }
      sentNanos = System.nanoTime();
      upstreams.send(current, HttpMethod.GET, source.get().narPath(), range, this);
    });
  }

  private void abortClient(String why) {
    log.atWarn()
        .setMessage("aborting the client's NAR download")
        .addKeyValue("nar_url", narUrl)
        .addKeyValue("delivered", window == null ? 0 : window.delivered())
        .addKeyValue("reason", why)
        .log();
    if (!over()) {
      client.close(); // before the exchange is declared over: no queued request may start on this
      // connection
      moveTo(Phase.CLOSED);
    }
  }

  /** The client channel drained below its low-water mark: read from the upstream again. */
  @Override
  public void clientWritable() {
    Exchange ex = exchange;
    if (ex != null && !over()) {
      ex.resume();
    }
  }

  /** The client went away: stop the upstream transfer. */
  @Override
  public void clientClosed() {
    moveTo(Phase.CLOSED);
    NarHedge h = hedge;
    if (h != null) {
      h.clientClosed();
    }
    Exchange ex = exchange;
    if (ex != null) {
      ex.abort();
    }
  }
}
