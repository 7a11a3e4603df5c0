package dev.ncro.limit;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class FifoLimiterTest {
  @Test
  void holdsAtMostTheLimitAndAdmitsInArrivalOrder() {
    FifoLimiter l = new FifoLimiter(2);
    List<CompletableFuture<Integer>> running = new ArrayList<>();
    List<Integer> started = new ArrayList<>();
    List<CompletableFuture<Integer>> results = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      int n = i;
      results.add(l.submit(() -> {
        started.add(n);
        CompletableFuture<Integer> f = new CompletableFuture<>();
        running.add(f);
        return f;
      }));
    }
    assertThat(started).containsExactly(0, 1);
    assertThat(l.active()).isEqualTo(2);
    assertThat(l.queued()).isEqualTo(3);

    running.get(1).complete(1);
    assertThat(results.get(1)).isCompletedWithValue(1);
    assertThat(started).containsExactly(0, 1, 2);
    running.get(0).completeExceptionally(new IllegalStateException("x"));
    assertThat(results.get(0)).isCompletedExceptionally();
    assertThat(started).containsExactly(0, 1, 2, 3);
    assertThat(l.active()).isEqualTo(2);
    assertThat(l.queued()).isEqualTo(1);
    running.get(2).complete(2);
    running.get(3).complete(3);
    running.get(4).complete(4);
    assertThat(results).allSatisfy(f -> assertThat(f).isDone());
    assertThat(l.active()).isZero();
    assertThat(l.queued()).isZero();
  }

  @Test
  void aTaskWithNothingLeftToDoPassesItsSlotOn() {
    FifoLimiter l = new FifoLimiter(1);
    CompletableFuture<String> first = new CompletableFuture<>();
    l.submit(() -> first);
    CompletableFuture<String> skipped = l.submit(() -> null);
    CompletableFuture<String> thrown = l.submit(() -> {
      throw new IllegalStateException("boom");
    });
    List<String> ran = new ArrayList<>();
    CompletableFuture<String> last = l.submit(() -> {
      ran.add("last");
      return CompletableFuture.completedFuture("done");
    });
    assertThat(l.queued()).isEqualTo(3);
    first.complete("first");
    assertThat(skipped).isCompletedWithValue(null);
    assertThat(thrown).isCompletedExceptionally();
    assertThat(last).isCompletedWithValue("done");
    assertThat(ran).containsExactly("last");
    assertThat(l.active()).isZero();
  }

  @Test
  void aLongQueueOfSkippedTasksDoesNotRecurse() {
    FifoLimiter l = new FifoLimiter(1);
    CompletableFuture<String> first = new CompletableFuture<>();
    l.submit(() -> first);
    for (int i = 0; i < 100_000; i++) {
      l.submit(() -> CompletableFuture.completedFuture("now"));
    }
    first.complete("x");
    assertThat(l.queued()).isZero();
    assertThat(l.active()).isZero();
  }
}
