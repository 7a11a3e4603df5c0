package dev.ncro.route;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Routes in one SQLite file (WAL), the default backend: nothing to run beside ncro.
 *
 * <p>Design notes. One connection guarded by one lock: SQLite serialises writers anyway, each
 * statement takes microseconds, and a single connection keeps ownership obvious. The row count is
 * kept in a field so the LRU bound is checked without a scan.
 *
 * <p>Crash safety. WAL journal with {@code synchronous=NORMAL}: every {@link #upsert} is its own
 * transaction, and a committed transaction survives the process being killed at any instant
 * ({@code kill -9}); SQLite replays the WAL at the next open. A power failure may lose the last
 * few commits but never leaves a damaged file.
 *
 * <p>What {@link #open} does with the file at {@code db_path}. Routes are a cache: losing them costs
 * a race per store path (and NAR requests fall back to latency order), never a wrong answer, while
 * refusing to start leaves every Nix client without its substituter. So:
 * <ul>
 *   <li>a damaged file (SQLite says "not a database" or "malformed", or {@code PRAGMA quick_check},
 *       run at every start, finds a problem) is renamed to {@code <db>.corrupt-<UTC time>}, with its
 *       {@code -wal}/{@code -shm}, logged at warn with both paths and the reason, and ncro starts
 *       with an empty database. The sidecars must move too: SQLite would replay a stale WAL into
 *       the new file;
 *   <li>a healthy route database of another schema (a {@code routes} table with other columns) is
 *       likewise renamed, to {@code <db>.incompatible-<UTC time>};
 *   <li>a healthy SQLite database that is not ncro's (another {@code application_id}, or tables of
 *       other names) is never touched: start-up fails, naming the path. ncro stamps its own files
 *       with {@code application_id} 0x6e63726f ("ncro");
 *   <li>a location that cannot work (the path is a directory, its parent is a file or cannot be
 *       created, the file or directory is not writable, the file is locked, an I/O error) fails
 *       start-up with a {@link RouteStoreException} naming the path: replacing the file would not
 *       help, and running without persistence would silently break NAR URLs handed out before a
 *       restart.
 * </ul>
 */
public final class SqliteRouteBackend implements RouteBackend {
  private final Connection db;
  private final ReentrantLock lock = new ReentrantLock();
  private final int maxEntries;
  private final Clock clock;
  private int count;

  private SqliteRouteBackend(Connection db, int maxEntries, Clock clock) throws SQLException {
    this.db = db;
    this.maxEntries = maxEntries;
    this.clock = clock;
    count = countRows();
  }

  /**
   * Opens (creating when missing) the database at {@code path}; see the class comment for what
   * happens to a file that is not usable. Throws {@link RouteStoreException}, its message starting
   * with the path, when the location itself is the problem.
   */
  public static SqliteRouteBackend open(Path path, int maxEntries, Clock clock) throws RouteStoreException {
    Connection c = RouteDatabase.open(path, clock);
    try {
      return new SqliteRouteBackend(c, maxEntries, clock);
    } catch (SQLException e) {
      try {
        c.close();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw new RouteStoreException(path + ": cannot read the route database: " + e.getMessage(), e);
    }
  }

  @Override
  public Optional<Route> find(String hash) {
    return withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(RouteSchema.SELECT + " WHERE hash = ?")) {
        ps.setString(1, hash);
        return first(ps);
      }
    });
  }

  @Override
  public Optional<Route> findByNarUrl(String narUrl) {
    return withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(RouteSchema.SELECT + " WHERE nar_url = ? ORDER BY verified_at DESC LIMIT 1")) {
        ps.setString(1, narUrl);
        return first(ps);
      }
    });
  }

  @Override
  public List<Route> recentLive(long nowMillis, int limit) {
    List<Route> out = new ArrayList<>();
    withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(
          RouteSchema.SELECT + " WHERE expires_at > ? ORDER BY verified_at DESC LIMIT ?")) {
        ps.setLong(1, nowMillis);
        ps.setInt(2, limit);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(RouteSchema.read(rs));
          }
        }
      }
      return Optional.empty();
    });
    return out;
  }

  @Override
  public void upsert(Route route) {
    withDb(() -> {
      boolean existed;
      try (PreparedStatement ps = db.prepareStatement("SELECT 1 FROM routes WHERE hash = ?")) {
        ps.setString(1, route.hash());
        try (ResultSet rs = ps.executeQuery()) {
          existed = rs.next();
        }
      }
      try (PreparedStatement ps = db.prepareStatement(RouteSchema.UPSERT)) {
        RouteSchema.bind(ps, route, clock.millis());
        ps.executeUpdate();
      }
      if (!existed) {
        count++;
      }
      if (count > maxEntries) {
        evict(count - maxEntries);
      }
      return Optional.empty();
    });
  }

  @Override
  public void delete(String hash) {
    withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement("DELETE FROM routes WHERE hash = ?")) {
        ps.setString(1, hash);
        count -= ps.executeUpdate();
      }
      return Optional.empty();
    });
  }

  @Override
  public void touch(List<Touch> touched) {
    withDb(() -> {
      db.setAutoCommit(false);
      try (PreparedStatement ps = db.prepareStatement("UPDATE routes SET last_used = ? WHERE hash = ?")) {
        for (Touch t : touched) {
          ps.setLong(1, t.atMillis());
          ps.setString(2, t.hash());
          ps.addBatch();
        }
        ps.executeBatch();
        db.commit();
      } finally {
        db.setAutoCommit(true);
      }
      return Optional.empty();
    });
  }

  @Override
  public int count() {
    lock.lock();
    try {
      return count;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void close() {
    lock.lock();
    try {
      db.close();
    } catch (SQLException e) {
      throw new IllegalStateException("closing route database: " + e.getMessage(), e);
    } finally {
      lock.unlock();
    }
  }

  /** Deletes the {@code n} least recently used rows. */
  private void evict(int n) throws SQLException {
    try (PreparedStatement ps = db.prepareStatement(
        "DELETE FROM routes WHERE hash IN (SELECT hash FROM routes ORDER BY last_used ASC LIMIT ?)")) {
      ps.setInt(1, n);
      ps.executeUpdate();
    }
    count = countRows();
  }

  private int countRows() throws SQLException {
    try (Statement st = db.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM routes")) {
      return rs.next() ? rs.getInt(1) : 0;
    }
  }

  private static Optional<Route> first(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? Optional.of(RouteSchema.read(rs)) : Optional.empty();
    }
  }

  private Optional<Route> withDb(SqlWork work) {
    lock.lock();
    try {
      return work.run();
    } catch (SQLException e) {
      throw new RouteStoreException.Unchecked("route database: " + e.getMessage(), e);
    } finally {
      lock.unlock();
    }
  }

  @FunctionalInterface
  private interface SqlWork {
    Optional<Route> run() throws SQLException;
  }
}
