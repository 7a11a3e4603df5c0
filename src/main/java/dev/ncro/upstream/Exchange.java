package dev.ncro.upstream;

import io.netty.channel.Channel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpObject;
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
 *
 * <p>Latency is timed by the kernel where it can be ({@link #latencyNanos}): from when the request
 * left for the socket to when the response's bytes reached it, not to when this event loop got
 * round to reading them. Measured during a burst on 2 busy cores (bench/cold), answers sat 60 to
 * 76 ms in the socket before the loop read them (a GC pause, another thread's time slice): timed
 * at the read, a 10 ms cache looked like a 70 ms one, and a later read of an earlier answer let a
 * farther cache win the race.
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
  /** When the request was handed to the kernel; 0 until then. */
  private volatile long sentNanos;
  /** When the response headers reached the socket (kernel time where known); 0 until then. */
  private volatile long arrivalNanos;

  private HttpResponse response;
  private boolean finished;
  private boolean paused;
  private long lastProgressNanos = startNanos;
  private ScheduledFuture<?> watchdog;
  /** The rest of the body is being spliced to a client ({@link #spliceTo}); null otherwise. */
  private BodySplice splice;

  Exchange(
      Channel channel,
      ConnectionPool pool,
      ResponseListener listener,
      Duration firstByte,
      Duration stall,
      boolean reused,
      boolean reusable,
      Runnable retryOnFreshConnection) {
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

  /** The request's bytes went to the kernel (the write completed): the upstream's clock starts now. */
  void requestWritten() {
    sentNanos = System.nanoTime();
  }

  /**
   * Request sent to response headers received, by the kernel's receive time: the upstream's own
   * latency (network and server), without the time the answer waited for this event loop, nor
   * the time the request waited to be written. Before the headers: the time so far.
   */
  public long latencyNanos() {
    long sent = sentNanos == 0 ? startNanos : sentNanos;
    long arrived = arrivalNanos == 0 ? System.nanoTime() : arrivalNanos;
    return Math.max(0, arrived - sent);
  }

  /** When the response headers reached the socket ({@link System#nanoTime} scale); 0 before they did. */
  public long arrivalNanos() {
    return arrivalNanos;
  }

  /**
   * The kernel's receive time of the bytes just read: TCP_INFO's {@code last_data_recv} (epoll
   * only) says how many milliseconds ago the socket last received data. It counts in jiffies (4
   * ms on this kernel, HZ=250), so an answer read in the same tick keeps the read time, which is
   * then the more precise of the two; never before the request was sent.
   */
  private long kernelArrival(long readNanos) {
    if (!(channel instanceof EpollSocketChannel epoll) || !channel.isActive()) {
      return readNanos;
    }
    long agoMillis;
    try {
      agoMillis = epoll.tcpInfo().lastDataRecv();
    } catch (RuntimeException e) {
      return readNanos;
    }
    if (agoMillis <= 0 || agoMillis > 60_000) {
      return readNanos;
    }
    long sent = sentNanos == 0 ? startNanos : sentNanos;
    return Math.max(sent, readNanos - agoMillis * 1_000_000);
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

  /**
   * Gives up on the response: the connection is closed and the listener hears nothing more. On this
   * connection's own event loop it takes effect at once, like {@link #pauseWhile}: a listener that
   * aborts from {@code onHeaders} must not get the {@code onComplete} of a short body that arrived
   * in the same read (it would take that for its own next step and start a second attempt).
   */
  public void abort() {
    Runnable abort = () -> {
      if (!finished) {
        finish();
        channel.close();
      }
    };
    if (channel.eventLoop().inEventLoop()) {
      abort.run();
    } else {
      channel.eventLoop().execute(abort);
    }
  }

  /**
   * Why the rest of this response's body cannot be spliced to {@code client} ({@link BodySplice}),
   * or null when it can: epoll on both sides, one event loop, no TLS. Call on this connection's
   * event loop.
   */
  public String spliceRefusal(Channel client) {
    if (finished || response == null || splice != null) {
      return "the exchange is not streaming a body";
    }
    if (!HttpUtil.isKeepAlive(response)) {
      // Its FIN follows the body at once; Netty's splice closes a half-closed channel after one
      // pipe-full (64 KiB) and drops what is still in the socket, where the copy relay reads on.
      return "the upstream closes the connection after this response";
    }
    return BodySplice.refusal(channel, client);
  }

  /** Reading is paused by backpressure ({@link #pauseWhile}): no splice may start until it resumes. */
  public boolean readsPaused() {
    return paused;
  }

  /**
   * Hands the rest of the body, exactly {@code length} bytes, to {@code client} by splice(2): no
   * more {@code onContent}; the listener hears {@link ResponseListener#onSpliced} as bytes go, then
   * {@code onComplete} or {@code onError} as before. The first-byte/stall watchdog goes on,
   * counting spliced bytes as progress and a full client pipe as a pause. The HTTP codec is
   * replaced by a {@link SpliceGuard} first (a byte read past the splice fails the exchange), and
   * by a fresh codec after the last byte: the connection goes back to the pool only then. Call on
   * this connection's event loop after {@link #spliceRefusal} said null, and after the client got
   * everything written on before.
   */
  public void spliceTo(Channel client, long length) {
    if (paused || spliceRefusal(client) != null || length <= 0) {
      throw new IllegalStateException("splice not possible: " + spliceRefusal(client));
    }
    ConnectionPool.guardSplice(channel);
    if (finished) {
      return; // the old decoder held undecoded bytes (see onMessage): the exchange failed
    }
    splice = BodySplice.start(
        channel,
        client,
        length,
        new BodySplice.Events() {
          @Override
          public void progress(long n) {
            lastProgressNanos = System.nanoTime();
            listener.onSpliced(n);
          }

          @Override
          public void completed() {
            if (!finished) {
              ConnectionPool.renewCodec(channel);
              bodyEnded();
            }
          }

          @Override
          public void failed(Throwable cause) {
            spliceFailed(client, cause);
          }
        },
        this::abort);
  }

  private void spliceFailed(Channel client, Throwable cause) {
    if (finished) {
      return;
    }
    if (!client.isActive()) { // the client went away: its handler tells the listener
      finish();
      channel.close();
      return;
    }
    if (cause instanceof UpstreamException u) {
      failAndClose(u);
      return;
    }
    failAndClose(new UpstreamException(
        FailureKind.TRUNCATED,
        "connection closed mid-body (splice)"
            + (cause == null || cause.getMessage() == null ? "" : ": " + cause.getMessage()),
        cause));
  }

  void start() {
    long period = Math.max(20, Math.min(firstByte.toMillis(), stall.toMillis()) / 5);
    watchdog = channel
        .eventLoop()
        .scheduleAtFixedRate(this::checkTimeouts, period, period, TimeUnit.MILLISECONDS);
  }

  private void checkTimeouts() {
    if (finished) {
      return;
    }
    if (splice != null) {
      splice.settle(); // progress moves lastProgressNanos
      if (!channel.config().isAutoRead()) { // Netty paused the upstream: the client's pipe is full
        lastProgressNanos = System.nanoTime();
      }
    }
    long now = System.nanoTime();
    if (response == null && now - startNanos > firstByte.toNanos()) {
      failAndClose(new UpstreamException(
          FailureKind.TIMEOUT, "no response within " + firstByte.toMillis() + " ms"));
    } else if (response != null && !paused && now - lastProgressNanos > stall.toNanos()) {
      failAndClose(new UpstreamException(
          FailureKind.TIMEOUT, "body stalled for " + stall.toMillis() + " ms"));
    }
  }

  void onMessage(Object msg) {
    if (finished) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (!(msg instanceof HttpObject)) {
      // Only a removed decoder's leftovers (renewCodec) arrive undecoded; its content state
      // consumes every byte it is given, so this never happens, and must not pass silently if it
      // did: those would be body bytes the splice skipped.
      ReferenceCountUtil.release(msg);
      failAndClose(new UpstreamException(
          FailureKind.PROTOCOL, "undecoded bytes left when the response decoder was replaced"));
      return;
    }
    if (((HttpObject) msg).decoderResult().isFailure()) {
      // A malformed head or chunk: the decoder ends the message with a failed part, which must not
      // pass for the end of the body (a truncated NAR would be handed out as complete).
      Throwable cause = ((HttpObject) msg).decoderResult().cause();
      ReferenceCountUtil.release(msg);
      failAndClose(new UpstreamException(
          FailureKind.PROTOCOL, "malformed response: " + printable(cause), cause));
      return;
    }
    lastProgressNanos = System.nanoTime();
    if (msg instanceof HttpResponse r) {
      if (r.status().code() == 100) {
        return;
      }
      response = r;
      arrivalNanos = kernelArrival(lastProgressNanos);
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
        bodyEnded();
      }
    }
  }

  /** A decoder's complaint for a log line: it may quote the upstream's bytes, so short and printable. */
  private static String printable(Throwable cause) {
    String m = cause == null || cause.getMessage() == null ? "undecodable" : cause.getMessage();
    m = m.length() > 160 ? m.substring(0, 160) + "..." : m;
    return m.replaceAll("[^\\x20-\\x7e]", "?");
  }

  /** The whole body was consumed: the connection goes back to the pool (keep-alive) or is closed. */
  private void bodyEnded() {
    boolean keepAlive = reusable && HttpUtil.isKeepAlive(response);
    finish();
    if (keepAlive) {
      pool.release(channel);
    } else {
      channel.close();
    }
    listener.onComplete();
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
    failAndClose(new UpstreamException(
        kind,
        response == null
            ? "connection closed before a response"
                + (cause == null ? "" : ": " + cause.getMessage())
            : "connection closed mid-body" + (cause == null ? "" : ": " + cause.getMessage()),
        cause));
  }

  private void failAndClose(UpstreamException e) {
    boolean headersSeen = response != null;
    if (splice != null && !finished) {
      splice.settle(); // the listener must know exactly how many bytes the client got
    }
    finish();
    channel.close();
    listener.onError(e, headersSeen);
  }

  private void finish() {
    finished = true;
    if (splice != null) {
      splice.stop();
    }
    if (watchdog != null) {
      watchdog.cancel(false);
    }
    if (paused) {
      channel.config().setAutoRead(true);
    }
    ClientConnectionHandler.detach(channel, this);
  }
}
