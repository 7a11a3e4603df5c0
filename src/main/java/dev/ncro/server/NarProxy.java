package dev.ncro.server;

import dev.ncro.metrics.Metrics;
import dev.ncro.router.NarRouter;
import dev.ncro.upstream.FailureKind;
import dev.ncro.upstream.Exchange;
import dev.ncro.upstream.ResponseListener;
import dev.ncro.upstream.Upstream;
import dev.ncro.upstream.UpstreamClient;
import dev.ncro.upstream.UpstreamException;
import dev.ncro.upstream.UpstreamRegistry;
import io.netty.buffer.ByteBuf;
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
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams one NAR from the first upstream in the plan that has it to the client. Ownership: each
 * body chunk arrives owned by this listener and is handed to the client channel's write, which
 * releases it. Backpressure: when the client channel stops being writable, reading from the
 * upstream pauses; {@link #clientWritable()} resumes it. Memory per download is therefore bounded
 * by the channel's write-buffer high-water mark plus one socket read, whatever the NAR's size.
 *
 * <p>404, 5xx and failures before any byte was sent move on to the next upstream; a failure after
 * the response started aborts the client connection, so Nix sees a broken transfer and never a
 * clean end of a short body.
 */
final class NarProxy implements ResponseListener {
  private static final Logger log = LoggerFactory.getLogger(NarProxy.class);
  private final Channel client;
  private final HttpMethod method;
  private final String narUrl;
  private final HttpHeaders forward;
  private final NarRouter.NarPlan plan;
  private final UpstreamClient upstreams;
  private final UpstreamRegistry registry;
  private final Metrics metrics;
  private final Runnable onDone;
  private final Runnable routedLost;
  private int index = -1;
  private Upstream current;
  private volatile Exchange exchange;
  private boolean passing;
  private boolean started;
  private boolean failedSome;
  private volatile boolean closed;
  private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

  NarProxy(Channel client, HttpMethod method, String narUrl, HttpHeaders requestHeaders,
      NarRouter.NarPlan plan, UpstreamClient upstreams, UpstreamRegistry registry, Metrics metrics,
      Runnable routedLost, Runnable onDone) {
    this.metrics = metrics;
    this.routedLost = routedLost;
    this.client = client;
    this.method = method;
    this.narUrl = narUrl;
    this.plan = plan;
    this.upstreams = upstreams;
    this.registry = registry;
    this.onDone = onDone;
    this.forward = new DefaultHttpHeaders();
    String range = requestHeaders.get(HttpHeaderNames.RANGE);
    if (range != null) {
      forward.set(HttpHeaderNames.RANGE, range);
    }
  }

  void start() {
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
      int status = failedSome ? 502 : 404;
      String msg = failedSome ? "no upstream could serve " + narUrl : "no upstream has " + narUrl;
      client.writeAndFlush(Responses.text(status, msg, method.equals(HttpMethod.HEAD)));
      finished();
      return;
    }
    current = order.get(index);
    passing = false;
    upstreams.send(current, method, "/" + narUrl, forward, this);
  }

  @Override
  public void onHeaders(HttpResponse r, Exchange ex) {
    exchange = ex;
    if (closed) {
      ex.abort();
      return;
    }
    int s = r.status().code();
    if (s == 404 || s == 410 || s == 403) {
      registry.alive(current);
      if (current == plan.routed()) {
        routedLost.run();
      }
      return; // drain the small error body, then try the next upstream in onComplete
    }
    if (s >= 500) {
      registry.failure(current, FailureKind.STATUS_5XX, "NAR status " + s);
      failedSome = true;
      return;
    }
    passing = true;
    started = true;
    HttpResponse out = new DefaultHttpResponse(HttpVersion.HTTP_1_1, r.status());
    copy(r.headers(), out.headers(), HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.CONTENT_LENGTH,
        HttpHeaderNames.CONTENT_RANGE, HttpHeaderNames.LOCATION, HttpHeaderNames.LAST_MODIFIED,
        HttpHeaderNames.ETAG, HttpHeaderNames.ACCEPT_RANGES);
    if (!r.headers().contains(HttpHeaderNames.CONTENT_LENGTH) && !method.equals(HttpMethod.HEAD)) {
      HttpUtil.setTransferEncodingChunked(out, true);
    }
    out.headers().set(Responses.X_UPSTREAM, current.host());
    out.headers().set(Responses.X_ROUTE, current == plan.routed() ? "nar-route" : "fallback");
    client.writeAndFlush(out);
    registry.success(current, ex.elapsedNanos() / 1e6);
  }

  @Override
  public void onContent(ByteBuf content) {
    if (!passing || closed) {
      content.release();
      return;
    }
    current.stats().countNarBytes(content.readableBytes());
    client.writeAndFlush(new DefaultHttpContent(content));
    if (!client.isWritable()) {
      exchange.pauseWhile(() -> !client.isWritable());
    }
  }

  @Override
  public void onComplete() {
    if (closed) {
      return;
    }
    if (!passing) {
      next();
      return;
    }
    client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    finished();
  }

  @Override
  public void onError(UpstreamException error, boolean headersSeen) {
    if (closed) {
      return;
    }
    registry.failure(current, error.kind(), "NAR " + error.kind().label() + ": " + error.getMessage());
    if (started) {
      log.atWarn().setMessage("NAR stream broke after the response started, aborting client")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name())
          .addKeyValue("error", error.getMessage()).log();
      closed = true;
      client.close();
      finished();
      return;
    }
    failedSome = true;
    if (error.kind() == FailureKind.TIMEOUT || error.kind() == FailureKind.CONNECT) {
      log.atInfo().setMessage("NAR upstream failed, trying next")
          .addKeyValue("nar_url", narUrl)
          .addKeyValue("upstream", current.name())
          .addKeyValue("error", error.getMessage()).log();
    }
    next();
  }

  /** The client channel drained below its low-water mark: read from the upstream again. */
  void clientWritable() {
    Exchange ex = exchange;
    if (ex != null && !closed) {
      ex.resume();
    }
  }

  /** The client went away: stop the upstream transfer. */
  void clientClosed() {
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
