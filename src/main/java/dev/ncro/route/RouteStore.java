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
 * Routes in SQLite (WAL), with a bounded in-memory cache of recently used routes in front, so a
 * warm narinfo is answered without touching the database.
 *
 * <p>Design notes. One connection guarded by one lock: SQLite serialises writers anyway, each
 * statement takes microseconds, and a single connection keeps ownership obvious. Recency for LRU
 * eviction is tracked in memory and written back in batches by {@link #flushRecency()} (called
 * periodically and at close), so a cache hit never costs a database write. Rows outlive their TTL:
 * an expired route no longer answers narinfo requests, but its NAR URL mapping still sends the NAR
 * to the right upstream; rows leave only by LRU eviction above {@code maxEntries}.
 *
 * <p>Crash safety. WAL journal with {@code synchronous=NORMAL}: every {@link #put} is its own
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
public final class RouteStore implements AutoCloseable {
  private final Connection db;
  private final ReentrantLock lock = new ReentrantLock();
  private final RouteMemoryCache memory;
  private final int maxEntries;
  private final Clock clock;
  private int count;

  private RouteStore(Connection db, int maxEntries, int memoryEntries, Clock clock) throws SQLException {
    this.db = db;
    this.maxEntries = maxEntries;
    this.memory = new RouteMemoryCache(memoryEntries, clock);
    this.clock = clock;
    try (Statement st = db.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM routes")) {
      count = rs.next() ? rs.getInt(1) : 0;
    }
  }

  /**
   * Opens (creating when missing) the database at {@code path}; see the class comment for what
   * happens to a file that is not usable. Throws {@link RouteStoreException}, its message starting
   * with the path, when the location itself is the problem.
   */
  public static RouteStore open(Path path, int maxEntries, int memoryEntries, Clock clock) throws RouteStoreException {
    Connection c = RouteDatabase.open(path, clock);
    try {
      return new RouteStore(c, maxEntries, memoryEntries, clock);
    } catch (SQLException e) {
      try {
        c.close();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw new RouteStoreException(path + ": cannot read the route database: " + e.getMessage(), e);
    }
  }

  /** The route for {@code hash}, live or expired, from memory or the database. */
  public Optional<Route> get(String hash) {
    Route r = memory.get(hash);
    if (r != null) {
      return Optional.of(r);
    }
    return withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(RouteSchema.SELECT + " WHERE hash = ?")) {
        ps.setString(1, hash);
        return first(ps);
      }
    }).map(this::remember);
  }

  /** A route from memory only: the non-blocking fast path for warm narinfo. */
  public Route getCached(String hash) {
    return memory.get(hash);
  }

  /** The route whose narinfo carried NAR URL {@code narUrl} (relative, no leading slash). */
  public Optional<Route> byNarUrl(String narUrl) {
    Route r = memory.byNarUrl(narUrl);
    if (r != null) {
      return Optional.of(r);
    }
    return withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(RouteSchema.SELECT + " WHERE nar_url = ? ORDER BY verified_at DESC LIMIT 1")) {
        ps.setString(1, narUrl);
        return first(ps);
      }
    });
  }

  /** Up to {@code limit} live routes, most recently verified first: what a mesh node announces. */
  public List<Route> recentLive(int limit) {
    long now = clock.millis();
    List<Route> out = new ArrayList<>();
    withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement(
          RouteSchema.SELECT + " WHERE expires_at > ? ORDER BY verified_at DESC LIMIT ?")) {
        ps.setLong(1, now);
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

  /**
   * Makes a route visible to lookups at once, before {@link #put} has written it: the NAR request
   * that follows a narinfo answer within milliseconds must already find its upstream.
   */
  public void cache(Route route) {
    remember(route);
  }

  /** Inserts or replaces a route, then evicts least-recently-used rows above the bound. */
  public void put(Route route) {
    remember(route);
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

  /** Forgets the route for {@code hash} (e.g. its upstream no longer has the NAR). */
  public void invalidate(String hash) {
    memory.remove(hash);
    withDb(() -> {
      try (PreparedStatement ps = db.prepareStatement("DELETE FROM routes WHERE hash = ?")) {
        ps.setString(1, hash);
        count -= ps.executeUpdate();
      }
      return Optional.empty();
    });
  }

  public int count() {
    lock.lock();
    try {
      return count;
    } finally {
      lock.unlock();
    }
  }

  /** Writes in-memory recency (last use of cached routes) back to the database. */
  public void flushRecency() {
    List<RouteMemoryCache.Touch> touched = memory.drainTouched();
    if (touched.isEmpty()) {
      return;
    }
    withDb(() -> {
      db.setAutoCommit(false);
      try (PreparedStatement ps = db.prepareStatement("UPDATE routes SET last_used = ? WHERE hash = ?")) {
        for (RouteMemoryCache.Touch t : touched) {
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
  public void close() {
    flushRecency();
    lock.lock();
    try {
      db.close();
    } catch (SQLException e) {
      throw new IllegalStateException("closing route database: " + e.getMessage(), e);
    } finally {
      lock.unlock();
    }
  }

  private Route remember(Route r) {
    memory.put(r);
    return r;
  }

  private void evict(int n) throws SQLException {
    List<String> victims = new ArrayList<>(n);
    try (PreparedStatement ps = db.prepareStatement("SELECT hash FROM routes ORDER BY last_used ASC LIMIT ?")) {
      ps.setInt(1, n);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          victims.add(rs.getString(1));
        }
      }
    }
    try (PreparedStatement ps = db.prepareStatement("DELETE FROM routes WHERE hash = ?")) {
      for (String h : victims) {
        memory.remove(h);
        ps.setString(1, h);
        ps.addBatch();
      }
      ps.executeBatch();
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
