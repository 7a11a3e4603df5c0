package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reader connections keep their snapshot between lookups until a write commits (SqliteReaders): a
 * lookup must still see every write committed before it began, and an idle reader must not keep a
 * checkpoint from emptying the WAL.
 */
class SqliteReadersTest {
  @TempDir
  Path dir;

  @Test
  void aSnapshotIsKeptUntilTheCommitCountMovesPastIt() throws Exception {
    Path db = dir.resolve("routes.db");
    try (Connection writer = RouteDatabase.open(db, Clock.systemUTC())) {
      insert(writer, "a");
      SqliteReaders pool = SqliteReaders.open(db, 1);
      try {
        SqliteReaders.Reader r = pool.borrow(0);
        assertThat(count(r)).isEqualTo(1);
        r.giveBack();

        insert(writer, "b"); // committed, but the pool is not told: its snapshot is kept
        r = pool.borrow(0);
        assertThat(count(r)).as("the same snapshot, read again").isEqualTo(1);
        r.giveBack();

        r = pool.borrow(1); // one commit later: a new snapshot
        assertThat(count(r)).isEqualTo(2);
        r.giveBack();
      } finally {
        pool.retire();
      }
    }
  }

  @Test
  void everyLookupSeesTheWritesBeforeIt() throws Exception {
    Path db = dir.resolve("routes.db");
    try (SqliteRouteBackend b = SqliteRouteBackend.open(db, 100, Clock.systemUTC(), 1)) {
      assertThat(b.find(hash(1))).isEmpty(); // the reader's snapshot begins here
      b.upsert(route(hash(1)));
      assertThat(b.find(hash(1))).map(Route::hash).contains(hash(1));
      b.delete(hash(1));
      assertThat(b.find(hash(1))).isEmpty();
      b.upsertAll(List.of(route(hash(2)), route(hash(3))));
      assertThat(b.find(hash(3))).map(Route::hash).contains(hash(3));
      assertThat(b.findByNarUrl("nar/" + hash(2) + ".nar.xz")).map(Route::hash).contains(hash(2));
    }
  }

  @Test
  void anIdleReaderDoesNotHoldTheWalBackFromACheckpoint() throws Exception {
    Path db = dir.resolve("routes.db");
    try (SqliteRouteBackend b = SqliteRouteBackend.open(db, 1000, Clock.systemUTC(), 2)) {
      b.upsert(route(hash(1)));
      assertThat(b.find(hash(1))).isPresent(); // snapshots begin on a reader
      assertThat(b.find(hash(1))).isPresent();
      for (int i = 2; i < 50; i++) {
        b.upsert(route(hash(i))); // written to the WAL while nobody reads
      }
      try (Connection other = DriverManager.getConnection("jdbc:sqlite:" + db);
          Statement st = other.createStatement();
          ResultSet rs = st.executeQuery("PRAGMA wal_checkpoint(TRUNCATE)")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getInt(1)).as("busy: a reader still uses the WAL").isZero();
        assertThat(rs.getInt(2)).as("frames left in the WAL").isZero();
      }
      assertThat(b.find(hash(49))).isPresent();
    }
  }

  @Test
  void aReaderThatCannotEndItsSnapshotFailsAloneAndStaysInThePool() throws Exception {
    Path db = dir.resolve("routes.db");
    try (Connection writer = RouteDatabase.open(db, Clock.systemUTC())) {
      insert(writer, "a");
      SqliteReaders pool = SqliteReaders.open(db, 2);
      try {
        SqliteReaders.Reader broken = pool.borrow(0);
        SqliteReaders.Reader good = pool.borrow(0);
        assertThat(count(broken)).isEqualTo(1); // both hold a snapshot
        assertThat(count(good)).isEqualTo(1);
        broken.connection.close();
        broken.giveBack();
        good.giveBack();
        insert(writer, "b");

        assertThatThrownBy(pool::endIdleSnapshots).isInstanceOf(SQLException.class);
        // The failed end was not taken as done: the next borrow for a later commit tries it again
        // and fails, rather than handing out the broken reader as if its old snapshot had ended.
        // The other reader's snapshot did end, and it sees the new row.
        int refused = 0;
        for (int i = 0; i < 2; i++) {
          SqliteReaders.Reader r;
          try {
            r = pool.borrow(1);
          } catch (SQLException e) {
            refused++;
            continue;
          }
          try { // given back even when an assertion fails: retire() below waits for it
            assertThat(r).isSameAs(good);
            assertThat(count(r)).isEqualTo(2);
          } finally {
            r.giveBack();
          }
        }
        assertThat(refused).as("the broken reader, refused once").isEqualTo(1);
      } finally {
        pool.retire();
      }
    }
  }

  private static void insert(Connection writer, String hash) throws SQLException {
    try (var ps = writer.prepareStatement(RouteSchema.UPSERT)) {
      RouteSchema.bind(ps, route(hash), 0);
      ps.executeUpdate();
    }
  }

  private static int count(SqliteReaders.Reader r) throws SQLException {
    try (Statement st = r.connection.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM routes")) {
      return rs.next() ? rs.getInt(1) : -1;
    }
  }

  private static Route route(String hash) {
    return TestRoutes.route(hash, System.currentTimeMillis(), 60_000);
  }

  private static String hash(int i) {
    return TestRoutes.hash(i);
  }
}
