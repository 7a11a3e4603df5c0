package dev.ncro.upstream;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollChannelConfig;
import io.netty.channel.epoll.EpollMode;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.internal.PlatformDependent;
import java.lang.reflect.Field;
import java.util.Queue;

/**
 * Moves the rest of one response body from an upstream connection to a client connection inside
 * the kernel, with Netty's epoll {@code spliceTo} (socket → pipe → socket, splice(2)): no byte
 * enters user space, which removes both of the copy relay's copies (docs/decisions.md §13).
 *
 * <p>The body goes in chunks of {@link #CHUNK} bytes, one {@code spliceTo} each, so that the count
 * of bytes handed to the client is known exactly at any moment: completed chunks, plus what the
 * chunk in flight has moved into the pipe. Netty does not report the latter; it is read from its
 * queued task's {@code len} field (reflection, checked once at class load: without it splice is
 * never offered and the copy relay runs). The exact count is what lets a body that breaks
 * mid-splice be resumed from another upstream at the right byte, as the copy relay does.
 *
 * <p>Netty's conditions, checked by {@link #refusal}: both channels epoll stream channels on the
 * same event loop, level-triggered (set here, and left so: once a channel has had a splice queue,
 * Netty skips its edge-triggered re-read bookkeeping), and no TLS on either side (a TLS body must
 * be decrypted or encrypted in user space). Confined to that one event loop.
 */
final class BodySplice {
  /** Bytes per {@code spliceTo}: the granularity of the progress the stall watchdog and metrics see between settles. */
  static final int CHUNK = 8 << 20;

  /** What a splice reports to its {@link Exchange}. All calls on the event loop. */
  interface Events {
    /** {@code n} more body bytes went into the client's pipe (they reach the client in order). */
    void progress(long n);

    /** The whole body was handed to the client. */
    void completed();

    /** A chunk failed: the upstream closed or broke, or the client went away. */
    void failed(Throwable cause);
  }

  private static final Field QUEUE;
  private static final Field LEN;
  private static final String UNAVAILABLE;

  static {
    Field queue = null;
    Field len = null;
    String why = null;
    try {
      queue = AbstractEpollStreamChannel.class.getDeclaredField("spliceQueue");
      Class<?> task = Class.forName(AbstractEpollStreamChannel.class.getName() + "$SpliceInTask");
      len = task.getDeclaredField("len");
      if (!Queue.class.isAssignableFrom(queue.getType()) || len.getType() != int.class) {
        why = "this Netty's splice task has another shape";
      } else if (!walkable()) {
        why = "this Netty's splice queue cannot be walked";
      } else {
        queue.setAccessible(true);
        len.setAccessible(true);
      }
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      why = "this Netty's splice progress cannot be read: " + e;
    }
    QUEUE = queue;
    LEN = len;
    UNAVAILABLE = why;
  }

  /** Whether a queue of the kind Netty keeps splice tasks in can be iterated (see {@link #lastQueued}). */
  private static boolean walkable() {
    Queue<Object> probe = PlatformDependent.newMpscQueue();
    probe.add(Boolean.TRUE);
    probe.add(Boolean.FALSE);
    Object last = null;
    for (Object o : probe) {
      last = o;
    }
    return last == Boolean.FALSE;
  }

  private final AbstractEpollStreamChannel from;
  private final AbstractEpollStreamChannel to;
  private final Events events;
  private final ChannelFutureListener clientClosed;
  /** Body bytes not yet handed to a chunk. */
  private long remaining;
  /** Body bytes of the chunks completed. */
  private long done;
  /** Bytes already reported through {@link Events#progress}. */
  private long reported;
  /** Length of the chunk in flight, 0 between chunks. */
  private int chunk;
  /** Netty's task for the chunk in flight (its {@code len} falls as bytes enter the pipe), or null. */
  private Object task;

  private boolean stopped;

  private BodySplice(
      AbstractEpollStreamChannel from,
      AbstractEpollStreamChannel to,
      long length,
      Events events,
      Runnable onClientClosed) {
    this.from = from;
    this.to = to;
    this.remaining = length;
    this.events = events;
    // Synchronously on the loop, before the upstream is read again: Netty closes the client's pipe
    // in doClose, and a chunk still queued would splice into a descriptor number the kernel may
    // already have handed to another file. The request handler hears of the close only later.
    this.clientClosed = f -> onClientClosed.run();
  }

  /** Why a splice from {@code upstream} to {@code client} cannot be done, or null when it can. */
  static String refusal(Channel upstream, Channel client) {
    if (UNAVAILABLE != null) {
      return UNAVAILABLE;
    }
    if (!(upstream instanceof AbstractEpollStreamChannel)
        || !(client instanceof AbstractEpollStreamChannel)) {
      return "not both epoll channels";
    }
    if (upstream.eventLoop() != client.eventLoop()) {
      return "the channels are on different event loops";
    }
    if (upstream.pipeline().get(SslHandler.class) != null
        || client.pipeline().get(SslHandler.class) != null) {
      return "TLS";
    }
    if (!upstream.isActive() || !client.isActive()) {
      return "a channel is closed";
    }
    return null;
  }

  /** Starts splicing {@code length} body bytes; the caller checked {@link #refusal} first. */
  static BodySplice start(
      Channel upstream, Channel client, long length, Events events, Runnable onClientClosed) {
    BodySplice s = new BodySplice(
        (AbstractEpollStreamChannel) upstream,
        (AbstractEpollStreamChannel) client,
        length,
        events,
        onClientClosed);
    ((EpollChannelConfig) upstream.config()).setEpollMode(EpollMode.LEVEL_TRIGGERED);
    ((EpollChannelConfig) client.config()).setEpollMode(EpollMode.LEVEL_TRIGGERED);
    client.closeFuture().addListener(s.clientClosed);
    s.nextChunk();
    return s;
  }

  private void nextChunk() {
    if (stopped) {
      return;
    }
    int n = (int) Math.min(remaining, CHUNK);
    remaining -= n;
    chunk = n;
    ChannelPromise p = from.newPromise();
    from.spliceTo(to, n, p);
    task = lastQueued();
    p.addListener((ChannelFutureListener) this::chunkDone);
  }

  /**
   * The task just queued: the last in Netty's splice queue. Only this splice queues tasks on the
   * upstream connection; the one before it, if any, is the finished chunk's, which Netty removes
   * only after {@link #chunkDone} returns. Iterating is safe here: the event loop is the queue's
   * only consumer.
   */
  private Object lastQueued() {
    try {
      Object last = null;
      Queue<?> q = (Queue<?>) QUEUE.get(from);
      if (q != null) {
        for (Object t : q) {
          last = t;
        }
      }
      return last;
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(e); // made accessible in the static initialiser
    }
  }

  private void chunkDone(ChannelFuture f) {
    if (stopped) {
      return;
    }
    if (!f.isSuccess()) {
      settle();
      stop();
      events.failed(f.cause());
      return;
    }
    done += chunk;
    chunk = 0;
    task = null;
    settle();
    if (remaining == 0) {
      stop();
      events.completed();
      return;
    }
    // Now, from inside this listener, so the queue is never empty between chunks: Netty's read
    // loop goes on after a finished task (at once when the upstream has half-closed), and with no
    // task queued it reads the next body bytes into user space, where SpliceGuard can only fail
    // the exchange.
    nextChunk();
  }

  /** Body bytes in the client's pipe or beyond, exactly. */
  long spliced() {
    long inFlight = 0;
    if (task != null) {
      try {
        inFlight = chunk - LEN.getInt(task);
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
    return done + inFlight;
  }

  /** Reports the bytes spliced since the last report; returns how many. */
  long settle() {
    long now = spliced();
    long delta = now - reported;
    if (delta > 0) {
      reported = now;
      events.progress(delta);
    }
    return Math.max(0, delta);
  }

  /** No more events: the exchange is over (completed, failed or aborted). */
  void stop() {
    if (!stopped) {
      stopped = true;
      to.closeFuture().removeListener(clientClosed);
    }
  }
}
