package dev.ncro.upstream;

import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One request/response on one pooled upstream connection. It owns the connection until the
 * response ends: then the connection goes back to the pool (keep-alive) or is closed. It enforces
 * the first-byte and stall timeouts, and lets the consumer apply backpressure by pausing reads.
 *
 * <p>All state is confined to the connection's event loop; the public methods may be called from
 * any thread and hop onto it.
 */
public final class Exchange {
  private final Channel channel;
  private final ConnectionPool pool;
  private final ResponseListener listener;
  private final Duration firstByte;
  private final Duration stall;
  private final boolean reused;
  /**
   * False for HEAD: some upstreams (nix-serve under Starman) send a body after a HEAD reply, which
   * would be read as the answer to the connection's next request. Such a connection is closed.
   */
  private final boolean reusable;
  private final Runnable retryOnFreshConnection;
  private final long startNanos = System.nanoTime();
  private HttpResponse response;
  private boolean finished;
  private boolean paused;
  private long lastProgressNanos = startNanos;
  private ScheduledFuture<?> watchdog;

  Exchange(
      Channel channel, ConnectionPool pool, ResponseListener listener, Duration firstByte,
      Duration stall, boolean reused, boolean reusable, Runnable retryOnFreshConnection) {
    this.reusable = reusable;
    this.channel = channel;
    this.pool = pool;
    this.listener = listener;
    this.firstByte = firstByte;
    this.stall = stall;
    this.reused = reused;
    this.retryOnFreshConnection = retryOnFreshConnection;
  }

  /** Nanos since the request was handed to the connection. */
  public long elapsedNanos() {
    return System.nanoTime() - startNanos;
  }

  /**
   * Backpressure from a slow consumer: stops reading the body if {@code blocked} still holds when
   * checked on this connection's event loop. The re-check matters when the consumer lives on another
   * event loop: its "writable again" signal may overtake this request, and pausing after it would
   * never be undone.
   */
  public void pauseWhile(BooleanSupplier blocked) {
    Runnable pause = () -> {
      if (finished || paused || !blocked.getAsBoolean()) {
        return;
      }
      paused = true;
      channel.config().setAutoRead(false);
    };
    if (channel.eventLoop().inEventLoop()) {
      pause.run(); // now, so the read loop in progress stops after this read, not after its last
    } else {
      channel.eventLoop().execute(pause);
    }
  }

  /** Reads the body again after {@link #pauseWhile}. */
  public void resume() {
    channel.eventLoop().execute(() -> {
      if (finished || !paused) {
        return;
      }
      paused = false;
      lastProgressNanos = System.nanoTime();
      channel.config().setAutoRead(true);
      channel.read();
    });
  }

  /** Gives up on the response: the connection is closed and the listener hears nothing more. */
  public void abort() {
    channel.eventLoop().execute(() -> {
      if (!finished) {
        finish();
        channel.close();
      }
    });
  }

  void start() {
    long period = Math.max(20, Math.min(firstByte.toMillis(), stall.toMillis()) / 5);
    watchdog = channel.eventLoop().scheduleAtFixedRate(this::checkTimeouts, period, period, TimeUnit.MILLISECONDS);
  }

  private void checkTimeouts() {
    if (finished) {
      return;
    }
    long now = System.nanoTime();
    if (response == null && now - startNanos > firstByte.toNanos()) {
      failAndClose(new UpstreamException(FailureKind.TIMEOUT, "no response within " + firstByte.toMillis() + " ms"));
    } else if (response != null && !paused && now - lastProgressNanos > stall.toNanos()) {
      failAndClose(new UpstreamException(FailureKind.TIMEOUT, "body stalled for " + stall.toMillis() + " ms"));
    }
  }

  void onMessage(Object msg) {
    if (finished) {
      ReferenceCountUtil.release(msg);
      return;
    }
    lastProgressNanos = System.nanoTime();
    if (msg instanceof HttpResponse r) {
      if (r.status().code() == 100) {
        return;
      }
      response = r;
      listener.onHeaders(r, this);
    }
    if (msg instanceof HttpContent c) {
      if (finished) {
        c.release();
        return;
      }
      if (c.content().isReadable()) {
        listener.onContent(c.content());
      } else {
        c.release();
      }
      if (msg instanceof LastHttpContent && !finished) {
        boolean keepAlive = reusable && HttpUtil.isKeepAlive(response);
        finish();
        if (keepAlive) {
          pool.release(channel);
        } else {
          channel.close();
        }
        listener.onComplete();
      }
    }
  }

  void onReadBatchEnd() {
    if (!finished) {
      listener.onReadBatchEnd();
    }
  }

  void onConnectionLost(Throwable cause) {
    if (finished) {
      return;
    }
    if (response == null && reused && retryOnFreshConnection != null) {
      // A pooled keep-alive connection the upstream had already closed: nothing was received,
      // GET/HEAD are idempotent, so try once more on a new connection.
      finish();
      channel.close();
      retryOnFreshConnection.run();
      return;
    }
    FailureKind kind = response == null ? FailureKind.CONNECT : FailureKind.TRUNCATED;
    if (cause instanceof UpstreamException u) {
      kind = u.kind();
    }
    String certificate = UpstreamException.certificateProblem(cause);
    if (certificate != null) {
      failAndClose(new UpstreamException(FailureKind.TLS, certificate, cause));
      return;
    }
    failAndClose(new UpstreamException(kind, response == null
        ? "connection closed before a response" + (cause == null ? "" : ": " + cause.getMessage())
        : "connection closed mid-body" + (cause == null ? "" : ": " + cause.getMessage()), cause));
  }

  private void failAndClose(UpstreamException e) {
    boolean headersSeen = response != null;
    finish();
    channel.close();
    listener.onError(e, headersSeen);
  }

  private void finish() {
    finished = true;
    if (watchdog != null) {
      watchdog.cancel(false);
    }
    if (paused) {
      channel.config().setAutoRead(true);
    }
    ClientConnectionHandler.detach(channel, this);
  }
}
