package dev.ncro.route;

import static dev.ncro.route.TestRoutes.hash;
import static dev.ncro.route.TestRoutes.route;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ncro.support.MutableClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RouteStoreTest {
  @TempDir
  Path dir;

  @Test
  void putGetAndSurviveReopen() throws Exception {
    MutableClock clock = new MutableClock();
    Path db = dir.resolve("sub/routes.db");
    try (RouteStore s = RouteStore.open(db, 100, 10, clock)) {
      s.put(route(hash(1), clock.millis(), 60_000));
      assertThat(s.count()).isEqualTo(1);
    }
    try (RouteStore s = RouteStore.open(db, 100, 10, clock)) {
      Route r = s.get(hash(1)).orElseThrow();
      assertThat(r.upstream()).isEqualTo("http://up");
      assertThat(r.narinfo()).asString(StandardCharsets.UTF_8).startsWith("StorePath:");
      assertThat(s.byNarUrl("nar/" + hash(1) + ".nar.xz")).isPresent();
      assertThat(s.count()).isEqualTo(1);
    }
  }

  @Test
  void usesWalJournal() throws Exception {
    Path db = dir.resolve("routes.db");
    try (RouteStore s = RouteStore.open(db, 100, 10, new MutableClock())) {
      s.put(route(hash(1), 0, 1));
    }
    try (var c = DriverManager.getConnection("jdbc:sqlite:" + db);
        ResultSet rs = c.createStatement().executeQuery("PRAGMA journal_mode")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("wal");
    }
  }

  @Test
  void ttlDecidesLivenessButExpiredRowsKeepTheirNarMapping() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 100, 10, clock)) {
      s.put(route(hash(1), clock.millis(), 1_000));
      assertThat(s.get(hash(1)).orElseThrow().liveAt(clock.millis())).isTrue();
      clock.advance(1_000);
      assertThat(s.get(hash(1)).orElseThrow().liveAt(clock.millis())).isFalse();
      assertThat(s.byNarUrl("nar/" + hash(1) + ".nar.xz")).isPresent();
    }
  }

  @Test
  void evictsLeastRecentlyUsedAboveMaxEntries() throws Exception {
    MutableClock clock = new MutableClock();
    long step = SqliteRouteBackend.RECENCY_GRANULARITY.toMillis() + 1;
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 3, 1, clock)) {
      for (int i = 1; i <= 3; i++) {
        clock.advance(step);
        s.put(route(hash(i), clock.millis(), 60_000_000));
      }
      clock.advance(step);
      s.get(hash(1)); // hash(1) becomes the most recently used
      s.flushRecency();
      clock.advance(step);
      s.put(route(hash(4), clock.millis(), 60_000_000));
      assertThat(s.count()).isEqualTo(3);
      // (the database's bound, checked below the memory layer)
      assertThat(s.backend().find(hash(2))).isEmpty();
      assertThat(s.backend().find(hash(1))).isPresent();
      assertThat(s.backend().find(hash(3))).isPresent();
      assertThat(s.backend().find(hash(4))).isPresent();
    }
  }

  @Test
  void aUseWithinTheRecencyGranularityWritesNothing() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 3, 1, clock)) {
      for (int i = 1; i <= 3; i++) {
        clock.advance(10);
        s.put(route(hash(i), clock.millis(), 60_000));
      }
      clock.advance(10);
      s.get(hash(1)); // used again 30 ms after it was written: last_used is fresh enough
      s.flushRecency();
      clock.advance(10);
      s.put(route(hash(4), clock.millis(), 60_000));
      assertThat(s.backend().find(hash(1))).as("still the oldest last_used").isEmpty();
      assertThat(s.backend().find(hash(2))).isPresent();
    }
  }

  @Test
  void concurrentPutsAreAllWritten() throws Exception {
    MutableClock clock = new MutableClock();
    Path db = dir.resolve("r.db");
    try (RouteStore s = RouteStore.open(db, 10_000, 10, clock)) {
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        int base = t * 100;
        threads.add(Thread.ofVirtual().start(() -> {
          for (int i = 0; i < 100; i++) {
            s.put(route(hash(base + i), clock.millis(), 60_000));
          }
        }));
      }
      for (Thread t : threads) {
        t.join();
      }
      assertThat(s.count()).isEqualTo(1600);
    }
    try (RouteStore s = RouteStore.open(db, 10_000, 10, clock)) {
      assertThat(s.count()).isEqualTo(1600);
      for (int i = 0; i < 1600; i += 97) {
        assertThat(s.get(hash(i))).as("route %d", i).isPresent();
      }
    }
  }

  @Test
  void aLookupAfterADeleteSeesTheDeleteOnEveryReader() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 100, 1, clock)) {
      s.put(route(hash(1), clock.millis(), 60_000));
      s.put(route(hash(2), clock.millis(), 60_000));
      for (int i = 0; i < 8; i++) { // every pooled reader has read the row (and returned it)
        assertThat(s.backend().find(hash(1))).isPresent();
        assertThat(s.backend().findByNarUrl("nar/" + hash(1) + ".nar.xz")).isPresent();
      }
      s.invalidate(hash(1));
      for (int i = 0; i < 8; i++) {
        assertThat(s.backend().find(hash(1))).as("reader %d", i).isEmpty();
        assertThat(s.backend().findByNarUrl("nar/" + hash(1) + ".nar.xz")).isEmpty();
      }
      assertThat(s.get(hash(1))).isEmpty();
    }
  }

  @Test
  void aLookupThatReadTheRowBeforeAnInvalidationDoesNotCacheIt() throws Exception {
    MutableClock clock = new MutableClock();
    Path path = dir.resolve("r.db");
    Route r = route(hash(1), clock.millis(), 60_000);
    try (RouteStore s = RouteStore.open(path, 100, 10, clock)) {
      s.put(r);
    }
    // A backend whose find returns the row as read before the delete committed.
    try (SqliteRouteBackend real = SqliteRouteBackend.open(path, 100, clock);
        RouteStore s = new RouteStore(
            new RouteBackend() {
              public Optional<Route> find(String h) {
                return Optional.of(r);
              }

              public Optional<Route> findByNarUrl(String u) {
                return real.findByNarUrl(u);
              }

              public List<Route> recentLive(long now, int limit) {
                return real.recentLive(now, limit);
              }

              public void upsert(Route x) {
                real.upsert(x);
              }

              public void delete(String h) {
                real.delete(h);
              }

              public void touch(List<Touch> t) {
                real.touch(t);
              }

              public int count() {
                return real.count();
              }

              public void close() {}
            },
            10,
            clock)) {
      clock.advance(5);
      s.invalidate(hash(1));
      assertThat(s.get(hash(1))).as("the stale row is not served").isEmpty();
      assertThat(s.get(hash(1)))
          .as("nor at a second read, which the doorkeeper admits")
          .isEmpty();
      assertThat(s.getCached(hash(1))).as("nor cached").isNull();
    }
  }

  @Test
  void aNewRouteIsLeftToTheDatabaseUntilReadAgainAndReplacesAStaleOneInMemory() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("n.db"), 100, 10, clock)) {
      Route first = route(hash(1), clock.millis(), 1_000);
      s.cache(first);
      assertThat(s.getCached(hash(1))).as("visible before its write").isSameAs(first);
      s.put(first);
      // Learned once, used once so far: the database keeps it, memory is for routes in use.
      assertThat(s.getCached(hash(1))).as("written: left to the database").isNull();
      assertThat(s.get(hash(1))).map(Route::hash).contains(hash(1));
      assertThat(s.get(hash(1))).map(Route::hash).contains(hash(1));
      assertThat(s.getCached(hash(1))).as("read again soon: in memory").isNotNull();

      // It expires and is raced again: the new route replaces the stale one in memory at once
      // (left there, the stale one would be found first, and raced, at every lookup).
      clock.advance(2_000);
      Route again = route(hash(1), clock.millis(), 60_000);
      s.cache(again);
      assertThat(s.getCached(hash(1))).isSameAs(again);
      assertThat(s.byNarUrl(again.narUrl())).containsSame(again);
      s.put(again);
      assertThat(s.getCached(hash(1))).isSameAs(again);
    }
  }

  @Test
  void aDatabaseReadEntersMemoryAtItsSecondRead() throws Exception {
    MutableClock clock = new MutableClock();
    Path path = dir.resolve("r.db");
    Route r = route(hash(1), clock.millis(), 60_000);
    try (RouteStore s = RouteStore.open(path, 100, 10, clock)) {
      s.put(r);
    }
    try (RouteStore s = RouteStore.open(path, 100, 10, clock)) {
      assertThat(s.get(hash(1))).map(Route::hash).contains(hash(1));
      assertThat(s.getCached(hash(1))).as("read once: left to the database").isNull();
      assertThat(s.get(hash(1))).map(Route::hash).contains(hash(1));
      assertThat(s.getCached(hash(1))).as("read again soon: in memory").isNotNull();
    }
  }

  @Test
  void aFailedWriteReachesTheCaller() throws Exception {
    MutableClock clock = new MutableClock();
    RouteStore s = RouteStore.open(dir.resolve("r.db"), 10, 10, clock);
    s.close();
    assertThatThrownBy(() -> s.put(route(hash(1), clock.millis(), 60_000)))
        .isInstanceOf(RouteStoreException.Unchecked.class);
  }

  @Test
  void replacingARouteDoesNotGrowTheCount() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 10, 10, clock)) {
      s.put(route(hash(1), clock.millis(), 1));
      s.put(route(hash(1), clock.millis(), 2));
      assertThat(s.count()).isEqualTo(1);
      s.invalidate(hash(1));
      assertThat(s.count()).isZero();
      assertThat(s.get(hash(1))).isEmpty();
      assertThat(s.byNarUrl("nar/" + hash(1) + ".nar.xz")).isEmpty();
    }
  }

  @Test
  void aWriteQueuedBeforeAnInvalidationDoesNotBringTheRouteBack() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 10, 10, clock)) {
      Route r = route(hash(1), clock.millis(), 60_000);
      s.cache(r); // the narinfo answer: visible at once, written later off the request path
      clock.advance(5);
      s.invalidate(hash(1)); // the NAR 404 arrives before the queued write ran
      s.put(r); // the queued write
      assertThat(s.get(hash(1))).isEmpty();
      assertThat(s.count()).isZero();
      s.cache(r); // a late cache() of the same answer is dropped as well
      assertThat(s.getCached(hash(1))).isNull();
      clock.advance(5);
      Route fresh = route(hash(1), clock.millis(), 60_000); // a new race after the invalidation
      s.cache(fresh);
      s.put(fresh);
      assertThat(s.get(hash(1))).get().usingRecursiveComparison().isEqualTo(fresh);
      assertThat(s.count()).isEqualTo(1);
    }
  }

  @Test
  void tombstonesExpire() throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("r.db"), 10, 10, clock)) {
      Route r = route(hash(1), clock.millis(), 60_000_000);
      s.invalidate(hash(1));
      clock.advance(RouteStore.TOMBSTONE_TTL.toMillis() + 1);
      s.put(r); // verified before the invalidation, but the tombstone is long gone
      assertThat(s.get(hash(1))).isPresent();
    }
  }

  @Test
  void unusablePathIsAClearError() throws Exception {
    Path file = dir.resolve("plain-file");
    Files.writeString(file, "x");
    assertThatThrownBy(() -> RouteStore.open(file.resolve("routes.db"), 10, 10, new MutableClock()))
        .isInstanceOf(RouteStoreException.class)
        .hasMessageContaining(file.toString());
  }

  @Test
  void negativeCacheExpires() {
    MutableClock clock = new MutableClock();
    NegativeCache n = new NegativeCache(Duration.ofSeconds(10), 100, clock);
    n.add(hash(1));
    assertThat(n.contains(hash(1))).isTrue();
    clock.advance(10_000);
    assertThat(n.contains(hash(1))).isFalse();
  }

  @Test
  void negativeCacheStaysBounded() {
    MutableClock clock = new MutableClock();
    NegativeCache n = new NegativeCache(Duration.ofSeconds(10), 10, clock);
    for (int i = 0; i < 100; i++) {
      clock.advance(1);
      n.add(hash(i));
    }
    assertThat(n.size()).isLessThanOrEqualTo(10);
    assertThat(n.contains(hash(99))).isTrue();
  }

  @Test
  void aRouteMadeVisibleBeforeItsWriteIsFoundEvenWhenMemoryDropsItAndGoneAfterAnInvalidation()
      throws Exception {
    MutableClock clock = new MutableClock();
    try (RouteStore s = RouteStore.open(dir.resolve("u.db"), 10_000, 2, clock)) {
      Route fresh = route(hash(1), clock.millis(), 60_000);
      s.cache(fresh);
      // A memory layer of 2 routes sees a thousand others (a burst of races) before the write.
      for (int i = 2; i < 1_000; i++) {
        s.cache(route(hash(i), clock.millis(), 60_000));
      }
      assertThat(s.getCached(hash(1))).isSameAs(fresh);
      assertThat(s.byNarUrl(fresh.narUrl())).containsSame(fresh);
      s.put(fresh);
      assertThat(s.get(hash(1))).isPresent();
      assertThat(s.byNarUrl(fresh.narUrl())).isPresent();

      Route pending = route(hash(5000), clock.millis(), 60_000);
      s.cache(pending);
      s.invalidate(hash(5000));
      assertThat(s.getCached(hash(5000))).isNull();
      assertThat(s.byNarUrl(pending.narUrl())).isEmpty();
    }
  }

  @Test
  void aDatabaseReadRecordsItsUseOnlyWhenTheStoredOneIsStale() throws Exception {
    MutableClock clock = new MutableClock();
    Path db = dir.resolve("uses.db");
    try (RouteStore s = RouteStore.open(db, 100, 10, clock)) {
      RouteBackend b = s.backend();
      b.upsert(route(hash(1), clock.millis(), 60_000_000));
      b.upsert(route(hash(2), clock.millis(), 60_000_000));
      long written = clock.millis();
      clock.advance(SqliteRouteBackend.RECENCY_GRANULARITY.toMillis() + 1);
      b.find(hash(1)); // stale: recorded
      b.touch(List.of());
      clock.advance(1_000);
      b.find(hash(1)); // fresh again: nothing to record
      b.touch(List.of());
      try (var c = DriverManager.getConnection("jdbc:sqlite:" + db);
          ResultSet rs = c.createStatement()
              .executeQuery("SELECT hash, last_used FROM routes ORDER BY hash")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getLong(2))
            .isEqualTo(written + SqliteRouteBackend.RECENCY_GRANULARITY.toMillis() + 1);
        assertThat(rs.next()).isTrue();
        assertThat(rs.getLong(2)).as("never read").isEqualTo(written);
      }
    }
  }
}
