package dev.ncro.limit;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * At most {@code limit} asynchronous tasks at a time; the rest wait in arrival order. Nothing is
 * ever rejected and no thread blocks: a waiting task is a queue entry, started by the completion
 * that frees its slot. The queue's length is bounded by whoever submits (for ncro: one narinfo
 * race per distinct hash in flight, at most one per client connection; see README "Race limits").
 *
 * <p>Why FIFO and not a plain semaphore race: under a burst, a barging waiter could wait forever
 * behind newer arrivals, and a race that waits forever is a Nix client that hangs.
 */
public final class FifoLimiter {
  private final int limit;
  private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
  private int active;

  /** A task waiting for a slot. */
  private record Waiter(
      Supplier<? extends CompletableFuture<?>> task, CompletableFuture<Object> out) {}

  /** The caller measures the wait: its task runs when the slot is granted. */
  public FifoLimiter(int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("limit must be at least 1, got " + limit);
    }
    this.limit = limit;
  }

  /**
   * Runs {@code task} once a slot is free (at once when one is); the slot is held until the future
   * it returns completes, and the returned future completes the same way. A task that returns
   * null had nothing left to do by the time its turn came (its race was already won): it gives the
   * slot up at once and the returned future completes with null.
   */
  @SuppressWarnings("unchecked")
  public <T> CompletableFuture<T> submit(Supplier<CompletableFuture<T>> task) {
    Waiter w = new Waiter(task, new CompletableFuture<>());
    boolean now;
    synchronized (this) {
      now = active < limit && queue.isEmpty();
      if (now) {
        active++;
      } else {
        queue.addLast(w);
      }
    }
    if (now && !start(w)) {
      release();
    }
    return (CompletableFuture<T>) w.out;
  }

  /** Starts {@code w} in the slot it was given; false when it no longer holds it (returned null, threw, or finished at once). */
  private boolean start(Waiter w) {
    CompletableFuture<?> running;
    try {
      running = w.task.get();
    } catch (RuntimeException e) {
      w.out.completeExceptionally(e);
      return false;
    }
    if (running == null) {
      w.out.complete(null);
      return false;
    }
    if (running.isDone()) { // finished already: no recursion through release() for a run of these
      running.whenComplete((v, err) -> {
        if (err != null) {
          w.out.completeExceptionally(err);
        } else {
          w.out.complete(v);
        }
      });
      return false;
    }
    running.whenComplete((v, err) -> {
      release();
      if (err != null) {
        w.out.completeExceptionally(err);
      } else {
        w.out.complete(v);
      }
    });
    return true;
  }

  /** A slot is free: it passes straight to the oldest waiter that still wants it, else it is given back. */
  private void release() {
    while (true) {
      Waiter next;
      synchronized (this) {
        next = queue.pollFirst();
        if (next == null) {
          active--;
          return;
        }
      }
      if (start(next)) {
        return;
      }
    }
  }

  public synchronized int active() {
    return active;
  }

  public synchronized int queued() {
    return queue.size();
  }

  public int limit() {
    return limit;
  }
}
