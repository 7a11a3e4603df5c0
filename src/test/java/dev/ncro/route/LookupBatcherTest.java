package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.Await;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The coalescing of memory-miss lookups, with a query function standing in for the database: a
 * lookup alone is sent at once; lookups that arrive while the queries run share the next one; a
 * failing query fails exactly the lookups it carried; every lookup gets its own key's answer.
 */
class LookupBatcherTest {
  private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

  @AfterEach
  void stop() {
    executor.shutdownNow();
  }

  /** A query that answers "v:" + key for keys not starting with "absent", and records its batches. */
  private static final class Recording implements LookupBatcher.Query<String, String> {
    final List<List<String>> batches = new CopyOnWriteArrayList<>();
    volatile CountDownLatch gate = new CountDownLatch(0);
    volatile boolean fail;

    @Override
    public Map<String, String> run(List<String> keys) throws Exception {
      batches.add(keys);
      gate.await();
      if (fail) {
        throw new SQLException("connection lost", "08006");
      }
      Map<String, String> out = new HashMap<>();
      for (String k : keys) {
        if (!k.startsWith("absent")) {
          out.put(k, "v:" + k);
        }
      }
      return out;
    }
  }

  @Test
  void aLookupAloneIsSentAtOnceAndAnsweredWithItsOwnValue() throws Exception {
    Recording q = new Recording();
    LookupBatcher<String, String> b = new LookupBatcher<>(2, 100, executor, q);
    assertThat(b.lookup("a").get(5, TimeUnit.SECONDS)).isEqualTo("v:a");
    assertThat(b.lookup("absent-1").get(5, TimeUnit.SECONDS)).isNull();
    assertThat(q.batches).containsExactly(List.of("a"), List.of("absent-1"));
  }

  @Test
  void lookupsArrivingWhileTheQueryRunsShareTheNextOneAndEachGetsItsOwnAnswer() throws Exception {
    Recording q = new Recording();
    q.gate = new CountDownLatch(1);
    LookupBatcher<String, String> b = new LookupBatcher<>(1, 1000, executor, q);
    CompletableFuture<String> first = b.lookup("k0");
    Await.until("the first query runs", () -> q.batches.size() == 1);
    List<CompletableFuture<String>> rest = new ArrayList<>();
    for (int i = 1; i <= 200; i++) {
      rest.add(b.lookup(i % 10 == 0 ? "absent-" + i : "k" + (i % 50)));
    }
    assertThat(b.waiting()).isEqualTo(200);
    q.gate.countDown();
    assertThat(first.get(5, TimeUnit.SECONDS)).isEqualTo("v:k0");
    for (int i = 1; i <= 200; i++) {
      String answer = rest.get(i - 1).get(5, TimeUnit.SECONDS);
      assertThat(answer).isEqualTo(i % 10 == 0 ? null : "v:k" + (i % 50));
    }
    // Two queries for 201 lookups; the second carried each distinct key once.
    assertThat(q.batches).hasSize(2);
    assertThat(q.batches.get(1)).doesNotHaveDuplicates().hasSize(50 - 5 + 20);
    assertThat(b.waiting()).isZero();
  }

  @Test
  void aBatchIsAtMostMaxBatchKeysAndUpToQueriesRunAtOnce() throws Exception {
    Recording q = new Recording();
    q.gate = new CountDownLatch(1);
    LookupBatcher<String, String> b = new LookupBatcher<>(2, 10, executor, q);
    List<CompletableFuture<String>> all = new ArrayList<>();
    all.add(b.lookup("k0"));
    Await.until("the first query runs", () -> q.batches.size() == 1);
    all.add(b.lookup("k1"));
    Await.until("a second query runs beside it", () -> q.batches.size() == 2);
    for (int i = 2; i < 35; i++) {
      all.add(b.lookup("k" + i));
    }
    assertThat(q.batches).hasSize(2); // no third query while two run
    q.gate.countDown();
    for (int i = 0; i < 35; i++) {
      assertThat(all.get(i).get(5, TimeUnit.SECONDS)).isEqualTo("v:k" + i);
    }
    assertThat(q.batches).allSatisfy(batch -> assertThat(batch).hasSizeLessThanOrEqualTo(10));
    assertThat(q.batches.stream().mapToInt(List::size).sum()).isEqualTo(35);
  }

  @Test
  void aFailingQueryFailsEveryLookupItCarriedAndTheNextQueryAnswersAgain() throws Exception {
    Recording q = new Recording();
    q.gate = new CountDownLatch(1);
    q.fail = true;
    LookupBatcher<String, String> b = new LookupBatcher<>(1, 1000, executor, q);
    CompletableFuture<String> first = b.lookup("k0");
    Await.until("the first query runs", () -> q.batches.size() == 1);
    List<CompletableFuture<String>> carried = new ArrayList<>();
    for (int i = 1; i <= 50; i++) {
      carried.add(b.lookup("k" + i));
    }
    q.gate.countDown();
    assertThatThrownBy(() -> first.get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(SQLException.class);
    for (CompletableFuture<String> f : carried) {
      assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .hasCauseInstanceOf(SQLException.class);
    }
    q.fail = false;
    assertThat(b.lookup("k7").get(5, TimeUnit.SECONDS)).isEqualTo("v:k7");
  }

  @Test
  void manyConcurrentCallersEachGetTheirOwnKeysAnswer() throws Exception {
    Recording q = new Recording();
    LookupBatcher<String, String> b = new LookupBatcher<>(2, 64, executor, q);
    List<CompletableFuture<Boolean>> callers = new ArrayList<>();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < 64; c++) {
        int caller = c;
        callers.add(CompletableFuture.supplyAsync(
            () -> {
              for (int i = 0; i < 200; i++) {
                String key = (i % 7 == 0 ? "absent-" : "k") + caller + "-" + i;
                String want = key.startsWith("absent") ? null : "v:" + key;
                String got = b.lookup(key).join();
                if (want == null ? got != null : !want.equals(got)) {
                  return false;
                }
              }
              return true;
            },
            clients));
      }
      for (CompletableFuture<Boolean> c : callers) {
        assertThat(c.get(60, TimeUnit.SECONDS)).isTrue();
      }
    }
    assertThat(q.batches.stream().mapToInt(List::size).sum()).isEqualTo(64 * 200);
    assertThat(b.waiting()).isZero();
  }

  @Test
  void anExecutorThatRefusesFailsTheWaitingLookupsInsteadOfLosingThem() {
    ExecutorService dead = Executors.newVirtualThreadPerTaskExecutor();
    dead.shutdown();
    LookupBatcher<String, String> b = new LookupBatcher<>(1, 10, dead, new Recording());
    assertThatThrownBy(() -> b.lookup("k").get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class);
    assertThat(b.waiting()).isZero();
  }
}
