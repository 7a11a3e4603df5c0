package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncro.support.Await;
import dev.ncro.support.WithPostgres;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL backend on a real server, below the node: memory misses coalesced into shared
 * queries answer each lookup with its own row (or a miss, never another hash's route), a failing
 * query turns its lookups into misses (races) and the store recovers, and the batched writes
 * (one statement per run of deletions or uses, multi-row upserts) land as the queue said.
 */
class PostgresRouteBackendIT extends WithPostgres {
  private String database;
  private PostgresRouteBackend backend;

  @BeforeEach
  void open() throws Exception {
    database = newDatabaseName("backend");
    String password = "pw-" + database;
    pg.createOwnedDatabase(database, password);
    backend = PostgresRouteBackend.open(
        new PostgresSettings(
            "jdbc:postgresql://127.0.0.1:" + pg.port() + "/" + database,
            "postgresql://" + database + "@127.0.0.1:" + pg.port() + "/" + database,
            database,
            password,
            null,
            Map.of("sslmode", "disable"),
            4),
        1_000_000,
        Clock.systemUTC());
    assertThat(backend.state()).isEqualTo(StoreStatus.State.UP);
  }

  @AfterEach
  void close() {
    backend.close();
  }

  private static String hash(String kind, int i) {
    return String.format("%s%029d", kind, i);
  }

  private static Route route(String hash, long verifiedAt) {
    return new Route(
        hash,
        "http://up-" + hash.charAt(hash.length() - 1),
        1.5,
        "nar/" + hash + ".nar.xz",
        "sha256:f" + hash,
        "sha256:n" + hash,
        100 + hash.hashCode() % 1000,
        ("StorePath: /nix/store/" + hash + "-x\n").getBytes(StandardCharsets.UTF_8),
        verifiedAt,
        verifiedAt + 3_600_000);
  }

  /** Rows as another node would have written them. */
  private void insert(List<Route> routes, List<String> negatives, long lastUsed)
      throws SQLException {
    try (Connection c = pg.connect(database)) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO ncro_routes ("
          + PostgresSchema.COLUMNS + ", last_used) VALUES (?,?,?,?,?,?,?,?,?,?,?)")) {
        for (Route r : routes) {
          // The routes table's columns, in the order both stores share (last_used last).
          RouteSchema.bind(ps, r, lastUsed);
          ps.addBatch();
        }
        ps.executeBatch();
      }
      try (PreparedStatement ps =
          c.prepareStatement("INSERT INTO ncro_negatives (hash, expires_at) VALUES (?, ?)")) {
        for (String h : negatives) {
          ps.setString(1, h);
          ps.setLong(2, System.currentTimeMillis() + 3_600_000);
          ps.addBatch();
        }
        ps.executeBatch();
      }
    }
  }

  private long lastUsed(String hash) throws SQLException {
    try (Connection c = pg.connect(database);
        PreparedStatement ps =
            c.prepareStatement("SELECT last_used FROM ncro_routes WHERE hash = ?")) {
      ps.setString(1, hash);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : -1;
      }
    }
  }

  private long verifiedAt(String hash) throws SQLException {
    try (Connection c = pg.connect(database);
        PreparedStatement ps =
            c.prepareStatement("SELECT verified_at FROM ncro_routes WHERE hash = ?")) {
      ps.setString(1, hash);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : -1;
      }
    }
  }

  private static void assertSame(Route got, Route want) {
    assertThat(got.hash()).isEqualTo(want.hash());
    assertThat(got.upstream()).isEqualTo(want.upstream());
    assertThat(got.narUrl()).isEqualTo(want.narUrl());
    assertThat(got.fileHash()).isEqualTo(want.fileHash());
    assertThat(got.narHash()).isEqualTo(want.narHash());
    assertThat(got.narSize()).isEqualTo(want.narSize());
    assertThat(got.narinfo()).isEqualTo(want.narinfo());
    assertThat(got.verifiedAtMillis()).isEqualTo(want.verifiedAtMillis());
    assertThat(got.expiresAtMillis()).isEqualTo(want.expiresAtMillis());
  }

  @Test
  void concurrentMemoryMissesAreEachAnsweredWithTheirOwnRowNeverAnothers() throws Exception {
    long now = System.currentTimeMillis();
    List<Route> routes = new ArrayList<>();
    List<String> negatives = new ArrayList<>();
    for (int i = 0; i < 64 * 20; i++) {
      routes.add(route(hash("r", i), now - i));
    }
    for (int i = 0; i < 64 * 5; i++) {
      negatives.add(hash("n", i));
    }
    insert(routes, negatives, now);

    AtomicInteger wrong = new AtomicInteger();
    AtomicInteger answered = new AtomicInteger();
    List<CompletableFuture<Void>> callers = new ArrayList<>();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < 64; c++) {
        int caller = c;
        callers.add(CompletableFuture.runAsync(
            () -> {
              for (int i = 0; i < 20; i++) {
                Route want = routes.get(caller * 20 + i);
                Optional<Route> got = backend.find(want.hash());
                if (got.isPresent()) {
                  answered.incrementAndGet();
                  if (!got.get().hash().equals(want.hash())
                      || !got.get().upstream().equals(want.upstream())
                      || got.get().verifiedAtMillis() != want.verifiedAtMillis()) {
                    wrong.incrementAndGet();
                  }
                }
                if (i < 5) {
                  String negative = negatives.get(caller * 5 + i);
                  if (backend.find(negative).isPresent()
                      || backend.find(hash("absent", caller * 20 + i)).isPresent()) {
                    wrong.incrementAndGet();
                  }
                }
              }
            },
            clients));
      }
      for (CompletableFuture<Void> c : callers) {
        c.get(120, TimeUnit.SECONDS);
      }
    }
    assertThat(wrong).hasValue(0);
    // A lookup slower than READ_TIMEOUT (a busy machine) is a counted miss, never a wrong answer.
    assertThat(answered.get() + backend.failedReads()).isGreaterThanOrEqualTo(routes.size());
    // Each row, its fields intact, and the negative entry learned by the same lookup.
    for (int i = 0; i < routes.size(); i += 97) {
      Route want = routes.get(i);
      Await.until(
          "the lookup of " + want.hash(), () -> backend.find(want.hash()).isPresent());
      assertSame(backend.find(want.hash()).orElseThrow(), want);
    }
    String negative = negatives.get(7);
    Await.until("the negative entry is learned", () -> {
      backend.find(negative);
      return backend.negatives().learned(negative) > System.currentTimeMillis();
    });
    assertThat(backend.state()).isEqualTo(StoreStatus.State.UP);
  }

  @Test
  void aFailingQueryMakesItsLookupsMissesAndTheStoreAnswersAgainOnceItIsFixed() throws Exception {
    long now = System.currentTimeMillis();
    List<Route> routes = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      routes.add(route(hash("r", i), now));
    }
    insert(routes, List.of(), now);
    Await.until("the store answers", () -> backend.find(routes.get(0).hash()).isPresent());

    // Every lookup query now fails in the database (42P01, undefined table).
    pg.sql(database, "ALTER TABLE ncro_negatives RENAME TO ncro_negatives_away");
    List<CompletableFuture<Optional<Route>>> lookups = new ArrayList<>();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Route r : routes) {
        lookups.add(CompletableFuture.supplyAsync(() -> backend.find(r.hash()), clients));
      }
      for (CompletableFuture<Optional<Route>> f : lookups) {
        assertThat(f.get(60, TimeUnit.SECONDS)).isEmpty();
      }
    }
    assertThat(backend.failedReads()).isGreaterThan(0);
    // The worker reconnects (the schema itself is intact) and the next lookup fails again.
    Await.until("the store reports the failing lookup", () -> {
      backend.find(routes.get(1).hash());
      return backend.state() == StoreStatus.State.DOWN
          && backend.reason().contains("ncro_negatives");
    });

    pg.sql(database, "ALTER TABLE ncro_negatives_away RENAME TO ncro_negatives");
    for (Route r : routes) {
      Await.until(
          "the store answers " + r.hash() + " again",
          () -> backend.find(r.hash()).isPresent());
      assertSame(backend.find(r.hash()).orElseThrow(), r);
    }
    assertThat(backend.state()).isEqualTo(StoreStatus.State.UP);
  }

  @Test
  void aSlowLookupIsAMissButADatabaseThatStopsAnsweringIsReportedDown() throws Exception {
    long now = System.currentTimeMillis();
    Route r = route(hash("h", 1), now);
    insert(List.of(r), List.of(), now);
    Await.until("the store answers", () -> backend.find(r.hash()).isPresent());
    long failedBefore = backend.failedReads();
    // Another session holds the table: lookups block in the database (a hung server, for them).
    try (Connection holder = pg.connect(database)) {
      holder.setAutoCommit(false);
      holder.createStatement().execute("LOCK TABLE ncro_routes IN ACCESS EXCLUSIVE MODE");
      // The first lookup gives up after READ_TIMEOUT: a counted miss.
      assertThat(backend.find(r.hash())).isEmpty();
      assertThat(backend.failedReads()).isEqualTo(failedBefore + 1);
      // Once no query has answered for UNRESPONSIVE, the store is down and says why.
      Await.until("the store is reported down", () -> {
        backend.find(r.hash());
        return backend.state() == StoreStatus.State.DOWN
            && backend.reason().startsWith("no lookup answered for");
      });
      holder.rollback();
    }
    Await.until("the store answers again", () -> backend.find(r.hash()).isPresent());
    assertSame(backend.find(r.hash()).orElseThrow(), r);
  }

  @Test
  void aUseIsWrittenOnlyWhenTheRowsLastUseIsOlderThanTheGrain() throws Exception {
    long now = System.currentTimeMillis();
    Route stale = route(hash("s", 1), now);
    Route recent = route(hash("s", 2), now);
    insert(List.of(stale), List.of(), now - 3_600_000);
    insert(List.of(recent), List.of(), now - 60_000);
    // A flush as large as the memory layer's pending bound: more uses than the write queue has
    // entries, which must neither be dropped nor crowd out a route written after them.
    List<RouteBackend.Touch> flush = new ArrayList<>();
    for (int i = 0; i < RouteMemoryCache.MAX_TOUCHED - 3; i++) {
      flush.add(new RouteBackend.Touch(hash("u", i), now));
    }
    flush.add(new RouteBackend.Touch(recent.hash(), now));
    flush.add(new RouteBackend.Touch(stale.hash(), now - 5));
    flush.add(new RouteBackend.Touch(stale.hash(), now));
    backend.touch(flush);
    Route after = route(hash("s", 3), now);
    backend.upsert(after);
    Await.until("the stale row's use is written", () -> {
      try {
        return lastUsed(stale.hash()) == now;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    });
    // Same statement: the recent row was left alone (within
    // SqliteRouteBackend.RECENCY_GRANULARITY).
    assertThat(lastUsed(recent.hash())).isEqualTo(now - 60_000);
    Await.until("the route queued after the uses is written", () -> {
      try {
        return verifiedAt(after.hash()) == now;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    });
    assertThat(backend.droppedWrites()).isZero();
  }

  @Test
  void aLookupRecordsTheUseOfAStaleRowOnlyAndTheNextFlushWritesIt() throws Exception {
    long now = System.currentTimeMillis();
    Route stale = route(hash("q", 1), now);
    Route fresh = route(hash("q", 2), now);
    insert(List.of(stale), List.of(), now - 3_600_000);
    insert(List.of(fresh), List.of(), now - 60_000);
    assertThat(backend.recordsUsesOnRead()).isTrue();
    assertThat(backend.find(stale.hash())).isPresent();
    assertThat(backend.find(fresh.hash())).isPresent();
    backend.touch(List.of()); // the store's periodic flush, with nothing from the memory layer
    Await.until("the stale row's use is written", () -> {
      try {
        return lastUsed(stale.hash()) >= now;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    });
    assertThat(lastUsed(fresh.hash()))
        .as("a use within the grain writes nothing")
        .isEqualTo(now - 60_000);
  }

  @Test
  void repeatedWritesOfOneHashInABatchKeepTheNewestAndDeletionsLand() throws Exception {
    // Verified recently: the janitor deletes routes expired for more than 30 days.
    long t = System.currentTimeMillis();
    String h = hash("w", 1);
    String gone = hash("w", 2);
    List<Route> many = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      many.add(route(hash("m", i), t + 1000 + i));
    }
    backend.upsertAll(many);
    backend.upsert(route(h, t + 100));
    backend.upsert(route(h, t + 300));
    backend.upsert(route(h, t + 200));
    backend.upsert(route(gone, t + 100));
    backend.negatives().added(h, Long.MAX_VALUE - 1);
    backend.negatives().added(h, Long.MAX_VALUE - 2);
    backend.delete(gone);
    backend.delete(gone);
    String last = hash("w", 3);
    backend.upsert(route(last, t + 1));
    Await.until("the queue is written", () -> {
      try {
        return verifiedAt(last) == t + 1;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    });
    assertThat(verifiedAt(h)).isEqualTo(t + 300);
    assertThat(verifiedAt(gone)).isEqualTo(-1);
    for (int i = 0; i < many.size(); i += 37) {
      assertThat(verifiedAt(many.get(i).hash())).isEqualTo(t + 1000 + i);
    }
    try (Connection c = pg.connect(database);
        ResultSet rs = c.createStatement()
            .executeQuery("SELECT expires_at FROM ncro_negatives WHERE hash = '" + h + "'")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getLong(1)).isEqualTo(Long.MAX_VALUE - 1);
    }
    assertThat(backend.droppedWrites()).isZero();
    assertSame(backend.find(h).orElseThrow(), route(h, t + 300));
  }
}
