package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.router.NarRouter;
import dev.ncro.router.ResumeFinder;
import dev.ncro.upstream.Exchange;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.RequestAuth;
import dev.ncro.upstream.ResponseListener;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.Hops;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
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
 * never a clean end of a short body.
 *
 * <p>All callbacks run on the current upstream connection's event loop, one exchange at a time;
 * {@link #clientClosed()} and {@link #clientWritable()} come from the client's loop and only touch
 * volatile state.
 */
final class NarProxy implements ResponseListener, StreamedResponse {
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
  private final AtomicBoolean ended = new AtomicBoolean();
  private final Set<Upstream> broken = new HashSet<>();
  private int index = -1;
  private Upstream current;
  private volatile Exchange exchange;
  /** System.nanoTime() when the current upstream request was sent. */
  private long sentNanos;
  private volatile boolean closed;
  private boolean passing;
  private boolean started;
  private boolean failedSome;
  /** Some upstream refused ncro's credentials: without the NAR elsewhere, the answer is 503. */
  private boolean refusedSome;
  /** The error body of an answer that may be a refusal ({@link RequestAuth#mayRefuse}), else null. */
  private ByteBuf refusalBody;
  private int refusalStatus;
  /** While resuming: the body offset the resumed response must start at. -1 otherwise. */
  private long resumeAt = -1;
  /** Body written to the client since the last flush (event-loop confined, like the rest). */
  private boolean unflushed;
  /** Offset of the first body byte of the response sent to the client (a client Range start). */
  private long firstByte;
  /** Body bytes sent to the client so far. */
  private long delivered;
  /** Body length promised to the client (Content-Length), -1 when unknown. */
  private long promised = -1;
  /** Length of the whole file, from Content-Length of a 200 or the total of a Content-Range. */
  private long fileLength = -1;
  /** The client's {@code Range: bytes=N-} start, -1 without one. */
  private final long requestedFrom;
  /** Upstream body bytes still to drop: a 200 answer to a Range request, cut to the range. */
  private long skip;

  NarProxy(Channel client, HttpMethod method, String narUrl, HttpHeaders requestHeaders,
      NarRouter.NarPlan plan, UpstreamClient upstreams, UpstreamRegistry registry, Metrics metrics,
      ResumeFinder resumes, Runnable routedLost, Runnable onDone) {
    this.client = client;
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
    this.requestedFrom = openRangeStart(range);
  }

  /** N for {@code bytes=N-} (the form Nix uses to resume), else -1. */
  private static long openRangeStart(String range) {
    if (range == null || !range.matches("bytes=\\d{1,18}-")) {
      return -1;
    }
    return Long.parseLong(range.substring(6, range.length() - 1));
  }

  @Override
  public void start() {
    metrics.narStarted();
    next();
  }

  /** The exchange with the client is over, whichever way: exactly once. */
  private void finished() {
    if (ended.compareAndSet(false, true)) {
      metrics.narEnded();
      onDone.run();
    }
  }

  private void next() {
    List<Upstream> order = plan.order();
    if (closed) {
      return;
    }
    if (++index >= order.size()) {
      int status = refusedSome ? 503 : failedSome ? 502 : 404;
      String msg = refusedSome ? "an upstream that may have " + narUrl + " refused ncro's credentials"
          : failedSome ? "no upstream could serve " + narUrl : "no upstream has " + narUrl;
      client.writeAndFlush(Responses.text(status, msg, method.equals(HttpMethod.HEAD)));
      finished();
      return;
    }
    current = order.get(index);
    passing = false;
    sentNanos = System.nanoTime();
    upstreams.send(current, method, "/" + narUrl, forward, this);
  }

  @Override
  public void onHeaders(HttpResponse r, Exchange ex) {
    exchange = ex;
    if (closed) {
      ex.abort();
      return;
    }
    if (resumeAt >= 0) {
      resumedHeaders(r, ex);
      return;
    }
    int s = r.status().code();
    if (current.auth().mayRefuse(s)) {
      refusalStatus = s;
      refusalBody = Unpooled.buffer(512); // heap, unpooled: nothing leaks if the exchange is dropped
      return; // read the small error body: it tells a refusal from an absent key (onComplete)
    }
    if (s == 404 || s == 410 || s == 403) {
      registry.alive(current);
      if (current == plan.routed()) {
        routedLost.run();
      }
      return; // drain the small error body, then try the next upstream in onComplete
    }
    if (s >= 500) {
      registry.failure(current, FailureKind.STATUS_5XX, "NAR status " + s, sentNanos);
      failedSome = true;
      return;
    }
    if (s == 401) { // credentials refused: the NAR may exist there, so not a 404 if no one else has it
      registry.objectUnauthorized(current, "NAR " + narUrl, s);
      failedSome = true;
      return;
    }
    passing = true;
    started = true;
    promised = HttpUtil.getContentLength(r, -1L);
    ContentRange range = ContentRange.parse(r.headers().get(HttpHeaderNames.CONTENT_RANGE));
    if (s == 206 && range != null) {
      firstByte = range.first();
      fileLength = range.total();
    } else if (s == 200) {
      fileLength = promised;
    }
    HttpResponse out = new DefaultHttpResponse(HttpVersion.HTTP_1_1, r.status());
    copy(r.headers(), out.headers(), HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_LENGTH,
        HttpHeaderNames.CONTENT_RANGE, HttpHeaderNames.LOCATION, HttpHeaderNames.LAST_MODIFIED,
        HttpHeaderNames.ETAG, HttpHeaderNames.ACCEPT_RANGES);
    if (s == 200 && requestedFrom > 0 && fileLength > requestedFrom) {
      // The upstream ignored the Range (some do). Nix fails on a 200 to its Range request, so
      // answer the range it asked for: drop the first bytes of the whole file on the way through.
      skip = requestedFrom;
      firstByte = requestedFrom;
      promised = fileLength - requestedFrom;
      out.setStatus(io.netty.handler.codec.http.HttpResponseStatus.PARTIAL_CONTENT);
      out.headers().set(HttpHeaderNames.CONTENT_LENGTH, promised);
      out.headers().set(HttpHeaderNames.CONTENT_RANGE, "bytes " + requestedFrom + "-" + (fileLength - 1) + "/" + fileLength);
    }
    if (promised < 0 && !method.equals(HttpMethod.HEAD)) {
      HttpUtil.setTransferEncodingChunked(out, true);
    }
    out.headers().set(Responses.X_UPSTREAM, current.host());
    out.headers().set(Responses.X_ROUTE, current == plan.routed() ? "nar-route" : "fallback");
    client.writeAndFlush(out);
    registry.success(current, ex.elapsedNanos() / 1e6);
  }

  /** A resume source answered: only a 206 starting exactly where we are, for the same file, is spliced. */
  private void resumedHeaders(HttpResponse r, Exchange ex) {
    ContentRange range = ContentRange.parse(r.headers().get(HttpHeaderNames.CONTENT_RANGE));
    if (r.status().code() != 206 || range == null || range.first() != resumeAt || range.total() != fileLength) {
      log.atWarn().setMessage("resume source did not honour the range").addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name()).addKeyValue("status", r.status().code())
          .addKeyValue("content_range", r.headers().get(HttpHeaderNames.CONTENT_RANGE)).log();
      broken.add(current);
      ex.abort();
      resume(); // try another source, or give up
      return;
    }
    passing = true;
    registry.success(current, ex.elapsedNanos() / 1e6);
    log.atInfo().setMessage("NAR resumed from another upstream").addKeyValue("nar_url", narUrl)
        .addKeyValue("upstream", current.name()).addKeyValue("offset", resumeAt).log();
  }

  @Override
  public void onContent(ByteBuf content) {
    if (refusalBody != null && !closed && refusalBody.readableBytes() < MAX_ERROR_BODY) {
      refusalBody.writeBytes(content, Math.min(content.readableBytes(), MAX_ERROR_BODY - refusalBody.readableBytes()));
    }
    if (!passing || closed) {
      content.release();
      return;
    }
    if (skip > 0) {
      int drop = (int) Math.min(skip, content.readableBytes());
      content.skipBytes(drop);
      skip -= drop;
      if (!content.isReadable()) {
        content.release();
        return;
      }
    }
    int n = content.readableBytes();
    current.stats().countNarBytes(n);
    delivered += n;
    client.write(new DefaultHttpContent(content));
    unflushed = true;
    if (!client.isWritable()) {
      exchange.pauseWhile(() -> !client.isWritable());
    }
  }

  /** One flush per socket read of the upstream, not per chunk: fewer syscalls and wake-ups. */
  @Override
  public void onReadBatchEnd() {
    if (unflushed && !closed) {
      unflushed = false;
      client.flush();
    }
  }

  @Override
  public void onComplete() {
    if (closed) {
      return;
    }
    if (refusalBody != null) {
      refusalSettled();
    }
    if (!passing) {
      next();
      return;
    }
    if (promised >= 0 && delivered != promised && !method.equals(HttpMethod.HEAD)) {
      onError(new UpstreamException(FailureKind.TRUNCATED, "body ended after " + delivered + " of " + promised + " bytes"), true);
      return;
    }
    client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    finished();
  }

  /** A possible refusal's body is complete: unauthorized, absent (403/404/410) or a failure. */
  private void refusalSettled() {
    byte[] body = new byte[refusalBody.readableBytes()];
    refusalBody.readBytes(body);
    refusalBody = null;
    String refused = current.auth().refusal(refusalStatus, body);
    if (refused != null) {
      registry.unauthorized(current, "NAR: " + refused);
      refusedSome = true;
    } else if (refusalStatus == 403 || refusalStatus == 404 || refusalStatus == 410) {
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
    refusalBody = null;
    if (closed) {
      return;
    }
    registry.failure(current, error.kind(), "NAR " + error.kind().label() + ": " + error.getMessage(), sentNanos);
    if (started) {
      broken.add(current);
      passing = false;
      log.atWarn().setMessage("NAR stream broke after the response started").addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name()).addKeyValue("delivered", delivered)
          .addKeyValue("error", error.getMessage()).log();
      resume();
      return;
    }
    failedSome = true;
    log.atInfo().setMessage("NAR upstream failed, trying next").addKeyValue("nar_url", narUrl)
        .addKeyValue("upstream", current.name()).addKeyValue("error", error.getMessage()).log();
    next();
  }

  /** Continues the body from another upstream with the same file, or aborts the client connection. */
  private void resume() {
    if (method.equals(HttpMethod.HEAD) || fileLength < 0 || promised < 0 || plan.fileHash() == null) {
      abortClient("nothing to resume from (no known FileHash or length)");
      return;
    }
    List<Upstream> candidates = new ArrayList<>(plan.order());
    candidates.removeAll(broken);
    long offset = firstByte + delivered;
    resumes.find(plan.routeHash(), plan.fileHash(), candidates).whenComplete((source, err) -> {
      if (closed) {
        return;
      }
      if (err != null || source.isEmpty()) {
        abortClient("no other upstream serves the same file");
        return;
      }
      current = source.get().upstream();
      resumeAt = offset;
      HttpHeaders range = new DefaultHttpHeaders().set(HttpHeaderNames.RANGE, "bytes=" + offset + "-");
      if (forward.contains(Hops.HEADER)) {
        range.set(Hops.HEADER, forward.get(Hops.HEADER));
      }
      sentNanos = System.nanoTime();
      upstreams.send(current, HttpMethod.GET, source.get().narPath(), range, this);
    });
  }

  private void abortClient(String why) {
    log.atWarn().setMessage("aborting the client's NAR download").addKeyValue("nar_url", narUrl)
        .addKeyValue("delivered", delivered).addKeyValue("reason", why).log();
    closed = true;
    client.close();
    finished();
  }

  /** The client channel drained below its low-water mark: read from the upstream again. */
  @Override
  public void clientWritable() {
    Exchange ex = exchange;
    if (ex != null && !closed) {
      ex.resume();
    }
  }

  /** The client went away: stop the upstream transfer. */
  @Override
  public void clientClosed() {
    closed = true;
    finished();
    Exchange ex = exchange;
    if (ex != null) {
      ex.abort();
    }
  }

  private static void copy(HttpHeaders from, HttpHeaders to, CharSequence... names) {
    for (CharSequence n : names) {
      String v = from.get(n);
      if (v != null) {
        to.set(n, v);
      }
    }
  }
}
