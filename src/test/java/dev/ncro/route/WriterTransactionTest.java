package dev.ncro.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The writer's transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE). A deferred
 * transaction reads first (does the route exist?) and asks for the lock only at its first write,
 * and SQLite then fails at once, whatever the busy timeout: SQLITE_BUSY if the lock is held at that
 * instant (a reader holds it briefly after a torn WAL-index read; seen once in a 1 000 000-route
 * fill, a route lost), SQLITE_BUSY_SNAPSHOT if another connection committed in between (what this
 * test provokes, deterministically).
 */
class WriterTransactionTest {
  @TempDir
  Path dir;

  @Test
  void anotherConnectionCannotCommitInsideTheWritersTransaction() throws Exception {
    Path db = dir.resolve("routes.db");
    try (Connection writer = RouteDatabase.open(db, Clock.systemUTC());
        Connection other = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      try (Statement st = other.createStatement()) {
        st.execute("PRAGMA busy_timeout=100");
        st.execute("CREATE TABLE other(x)");
      }
      Transaction.run(writer, () -> {
        try (Statement st = writer.createStatement()) {
          st.executeQuery("SELECT count(*) FROM routes").close(); // the read comes first
          // Another writer (an operator's sqlite3, a second process by mistake) tries to commit
          // now: it waits for the lock and gives up, instead of invalidating this transaction.
          assertThatThrownBy(() -> {
                try (Statement o = other.createStatement()) {
                  o.execute("INSERT INTO other VALUES (1)");
                }
              })
              .isInstanceOf(SQLException.class)
              .hasMessageContaining("SQLITE_BUSY");
          st.executeUpdate("UPDATE routes SET last_used = last_used");
        }
        return null;
      });
      // The lock is released at commit: the other connection writes now.
      try (Statement o = other.createStatement()) {
        assertThat(o.executeUpdate("INSERT INTO other VALUES (2)")).isEqualTo(1);
      }
    }
  }
}
