package dev.ncro.route;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Concurrent lookups by key coalesced into shared queries, as a DataLoader does: a lookup that
 * arrives while fewer than {@code queries} queries are running starts one at once (no added latency
 * when idle); lookups that arrive while they all run wait, and the next query takes every one of
 * them (up to {@code maxBatch}) in one round trip.
 *
 * <p>Why: with 64 clients missing memory at once, one query per lookup meant 64 connections'
 * worth of round trips, pool hand-offs and database process wake-ups per batch of answers on a
 * 2-core machine (docs/decisions.md §11). A query that fails completes every lookup it carried
 * exceptionally: each caller then races, never gets another key's answer.
 *
 * @param <K> the key (a store-path hash)
 * @param <V> the answer for one key; a key absent from the query's map completes with {@code null}
 */
final class LookupBatcher<K, V> {
  /** One shared query: the answers for {@code keys} (distinct), absent keys left out. */
  @FunctionalInterface
  interface Query<K, V> {
    Map<K, V> run(List<K> keys) throws Exception;
  }

  private record Waiting<K, V>(K key, CompletableFuture<V> answer) {}

  private final int queries;
  private final int maxBatch;
  private final Executor executor;
  private final Query<K, V> query;
  private final ConcurrentLinkedQueue<Waiting<K, V>> waiting = new ConcurrentLinkedQueue<>();
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicInteger queued = new AtomicInteger();

  LookupBatcher(int queries, int maxBatch, Executor executor, Query<K, V> query) {
    if (queries < 1 || maxBatch < 1) {
      throw new IllegalArgumentException("queries and maxBatch must be at least 1");
    }
    this.queries = queries;
    this.maxBatch = maxBatch;
    this.executor = executor;
    this.query = query;
  }

  /** The answer for {@code key}: {@code null} when absent, exceptional when its query failed. */
  CompletableFuture<V> lookup(K key) {
    CompletableFuture<V> answer = new CompletableFuture<>();
    waiting.add(new Waiting<>(key, answer));
    queued.incrementAndGet();
    startIfIdle();
    return answer;
  }

  /** Lookups waiting for a query to take them (not those whose query is running). */
  int waiting() {
    return queued.get();
  }

  /**
   * Starts a runner when fewer than {@code queries} run. No lookup is left behind: a runner that
   * finds the queue empty decrements {@link #running} and then looks at the queue again, so either
   * it sees a lookup added meanwhile or that lookup's caller sees a free slot.
   */
  private void startIfIdle() {
    while (!waiting.isEmpty()) {
      int n = running.get();
      if (n >= queries) {
        return;
      }
      if (running.compareAndSet(n, n + 1)) {
        try {
          executor.execute(this::run);
        } catch (RuntimeException e) { // executor shut down: nobody will answer the waiting
          running.decrementAndGet();
          failAll(e);
        }
        return;
      }
    }
  }

  private void run() {
    try {
      List<Waiting<K, V>> batch = new ArrayList<>();
      while (true) {
        batch.clear();
        for (Waiting<K, V> w = null; batch.size() < maxBatch && (w = waiting.poll()) != null; ) {
          batch.add(w);
        }
        if (batch.isEmpty()) {
          return;
        }
        queued.addAndGet(-batch.size());
        answer(batch);
      }
    } finally {
      running.decrementAndGet();
      startIfIdle();
    }
  }

  private void answer(List<Waiting<K, V>> batch) {
    List<K> keys = batch.stream().map(Waiting::key).distinct().toList();
    Map<K, V> found;
    try {
      found = query.run(keys);
    } catch (Exception | Error e) {
      for (Waiting<K, V> w : batch) {
        w.answer().completeExceptionally(e);
      }
      return;
    }
    for (Waiting<K, V> w : batch) {
      w.answer().complete(found.get(w.key()));
    }
  }

  private void failAll(RuntimeException e) {
    for (Waiting<K, V> w; (w = waiting.poll()) != null; ) {
      queued.decrementAndGet();
      w.answer().completeExceptionally(e);
    }
  }
}
