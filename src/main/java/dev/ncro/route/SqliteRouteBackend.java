package dev.ncro.route;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sqlite.SQLiteConnection;

/**
 * Routes in one SQLite file (WAL), the default backend: nothing to run beside ncro.
 *
 * <p>Design notes (figures in docs/benchmarks.md, "scale"). Lookups go to a pool of read-only
 * connections ({@link SqliteReaders}): WAL lets them run beside the writer and each other, where one
 * shared connection under one lock serialised every warm miss of the memory cache behind every
 * write. Writes go to one writer connection under one lock (SQLite serialises writers anyway), and
 * {@link #upsertAll} writes a batch in one transaction: one commit per batch instead of per route.
 * Statements are prepared once per connection. The row count is kept in a field so the LRU bound is
 * checked without a scan; the initial count and {@code PRAGMA quick_check} (both read the whole
 * table) run after start on a background thread, so start-up does not grow with the store.
 * Recency writes ({@link #touch}) only move {@code last_used} forward by more than
 * {@link #RECENCY_GRANULARITY}: eviction order needs no finer grain, and a warm hit then costs no
 * page write at all.
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
 *   <li>a damaged file (no SQLite header, shorter than its header says, or SQLite says "not a
 *       database" or "malformed" while reading the schema) is renamed to
 *       {@code <db>.corrupt-<UTC time>}, with its {@code -wal}/{@code -shm}, logged at warn with
 *       both paths and the reason, and ncro starts with an empty database. The sidecars must move
 *       too: SQLite would replay a stale WAL into the new file;
 *   <li>damage inside the pages is found by {@code PRAGMA quick_check} in the background right
 *       after start (it reads every page: 146 MiB for 100 000 routes), or by a lookup that meets
 *       it: the connections are closed, the file is moved aside the same way and ncro continues
 *       with an empty database. Until then lookups of damaged pages fail, and a failed lookup is a
 *       race, never a wrong answer;
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
  private static final Logger log = LoggerFactory.getLogger(SqliteRouteBackend.class);
  /** {@link #touch} leaves {@code last_used} alone when it is less than this much older. */
  static final Duration RECENCY_GRANULARITY = ReadUses.GRANULARITY;
  /** Touches written per transaction: a long flush must not hold route writes back. */
  private static final int TOUCH_CHUNK = 2000;

  private final Path path;
  private final int maxEntries;
  private final Clock clock;
  private final int readerCount;
  /** Uses found by {@link #find} that the next {@link #touch} writes. */
  private final ReadUses readUses = new ReadUses();
  /** Guards the writer, {@link #count} and the switch to a fresh file. */
  private final ReentrantLock lock = new ReentrantLock();

  private final CompletableFuture<Void> counted = new CompletableFuture<>();
  private final AtomicBoolean recovering = new AtomicBoolean();
  private final Thread checker;
  private volatile Writer writer;
  private volatile SqliteReaders readers;
  private volatile Connection checking;
  private volatile boolean closed;
  private int count;
  /**
   * Writes run so far, counted after each: a reader whose snapshot predates the count starts a new
   * one before its lookup ({@link SqliteReaders}).
   */
  private volatile long commits;

  /** The writer connection and its statements, prepared once. */
  private static final class Writer {
    final Connection c;
    final PreparedStatement exists;
    final PreparedStatement upsert;
    final PreparedStatement delete;
    final PreparedStatement touch;
    final PreparedStatement evict;

    Writer(Connection c) throws SQLException {
      this.c = c;
      exists = c.prepareStatement("SELECT 1 FROM routes WHERE hash = ?");
      upsert = c.prepareStatement(RouteSchema.UPSERT);
      delete = c.prepareStatement("DELETE FROM routes WHERE hash = ?");
      touch =
          c.prepareStatement("UPDATE routes SET last_used = ? WHERE hash = ? AND last_used < ?");
      evict = c.prepareStatement(
          "DELETE FROM routes WHERE hash IN (SELECT hash FROM routes ORDER BY last_used ASC LIMIT ?)");
    }
  }

  private SqliteRouteBackend(Path path, Connection db, int maxEntries, Clock clock, int readerCount)
      throws SQLException {
    this.path = path;
    this.maxEntries = maxEntries;
    this.clock = clock;
    this.readerCount = readerCount;
    this.writer = new Writer(db);
    this.readers = SqliteReaders.open(path, readerCount);
    this.checker = Thread.ofPlatform().name("ncro-route-check").daemon(true).unstarted(this::check);
  }

  /**
   * Opens (creating when missing) the database at {@code path}; see the class comment for what
   * happens to a file that is not usable. Throws {@link RouteStoreException}, its message starting
   * with the path, when the location itself is the problem.
   */
  public static SqliteRouteBackend open(Path path, int maxEntries, Clock clock)
      throws RouteStoreException {
    return open(path, maxEntries, clock, Math.max(2, Runtime.getRuntime().availableProcessors()));
  }

  /** As {@link #open(Path, int, Clock)}, with {@code readers} read-only connections for lookups. */
  static SqliteRouteBackend open(Path path, int maxEntries, Clock clock, int readers)
      throws RouteStoreException {
    Connection c = RouteDatabase.open(path, clock);
    SqliteRouteBackend b;
    try {
      b = new SqliteRouteBackend(path, c, maxEntries, clock, readers);
    } catch (SQLException e) {
      try {
        c.close();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw new RouteStoreException(
          path + ": cannot read the route database: " + e.getMessage(), e);
    }
    b.checker.start();
    return b;
  }

  @Override
  public Optional<Route> find(String hash) {
    return read(r -> {
      r.find.setString(1, hash);
      try (ResultSet rs = r.find.executeQuery()) {
        if (!rs.next()) {
          return Optional.empty();
        }
        Route route = RouteSchema.read(rs);
        readUses.read(hash, rs.getLong(11), clock.millis());
        return Optional.of(route);
      }
    });
  }

  @Override
  public boolean recordsUsesOnRead() {
    return true;
  }

  @Override
  public Optional<Route> findByNarUrl(String narUrl) {
    return read(r -> {
      r.byNarUrl.setString(1, narUrl);
      return first(r.byNarUrl);
    });
  }

  @Override
  public List<Route> recentLive(long nowMillis, int limit) {
    return read(r -> {
      List<Route> out = new ArrayList<>();
      r.recentLive.setLong(1, nowMillis);
      r.recentLive.setInt(2, limit);
      try (ResultSet rs = r.recentLive.executeQuery()) {
        while (rs.next()) {
          out.add(RouteSchema.read(rs));
        }
      }
      return out;
    });
  }

  @Override
  public void upsert(Route route) {
    upsertAll(List.of(route));
  }

  /** What one {@link #upsertAll} transaction did to the row count. */
  private record Written(int added, int evicted) {}

  /** Inserts or replaces every route in one transaction, then evicts above the bound. */
  @Override
  public void upsertAll(List<Route> routes) {
    counted.join(); // the bound needs the count: the first writes after start wait for it
    write(w -> {
      long now = clock.millis();
      Written written = Transaction.run(w.c, () -> {
        int added = 0;
        for (Route route : routes) {
          w.exists.setString(1, route.hash());
          boolean existed;
          try (ResultSet rs = w.exists.executeQuery()) {
            existed = rs.next();
          }
          RouteSchema.bind(w.upsert, route, now);
          w.upsert.executeUpdate();
          if (!existed) {
            added++;
          }
        }
        int evicted = 0;
        if (count + added > maxEntries) {
          w.evict.setInt(1, count + added - maxEntries);
          evicted = w.evict.executeUpdate();
        }
        return new Written(added, evicted);
      });
      count += written.added() - written.evicted();
      return null;
    });
  }

  @Override
  public void delete(String hash) {
    write(w -> {
      w.delete.setString(1, hash);
      count -= w.delete.executeUpdate();
      return null;
    });
  }

  /**
   * Moves {@code last_used} forward, but only where it is more than {@link #RECENCY_GRANULARITY}
   * behind: the common case (a route used again within minutes) reads an index page and writes
   * nothing.
   */
  @Override
  public void touch(List<Touch> given) {
    List<Touch> touched = new ArrayList<>(given);
    readUses.drainInto(touched);
    long grain = RECENCY_GRANULARITY.toMillis();
    for (int from = 0; from < touched.size(); from += TOUCH_CHUNK) {
      List<Touch> chunk = touched.subList(from, Math.min(touched.size(), from + TOUCH_CHUNK));
      write(w -> {
        return Transaction.run(w.c, () -> {
          for (Touch t : chunk) {
            w.touch.setLong(1, t.atMillis());
            w.touch.setString(2, t.hash());
            w.touch.setLong(3, t.atMillis() - grain);
            w.touch.executeUpdate();
          }
          return null;
        });
      });
    }
  }

  /** How many routes are stored; right after start, waits for the background count. */
  @Override
  public int count() {
    counted.join();
    lock.lock();
    try {
      return count;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void close() {
    closed = true;
    Connection c = checking;
    if (c != null) {
      interrupt(c);
    }
    boolean interrupted = false;
    while (checker.isAlive()) {
      try {
        checker.join();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    lock.lock();
    try {
      readers.retire();
      writer.c.close();
    } catch (SQLException e) {
      throw new IllegalStateException("closing route database: " + e.getMessage(), e);
    } finally {
      lock.unlock();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** True once the background {@code quick_check} after open has finished (for tests). */
  boolean checked() {
    return !checker.isAlive();
  }

  /**
   * The background work after open: the row count (under the write lock, so no write is missed),
   * then {@code PRAGMA quick_check} on a connection of its own; damage found means a fresh file.
   */
  private void check() {
    try {
      lock.lock();
      try {
        try (Statement st = writer.c.createStatement();
            ResultSet rs = st.executeQuery("SELECT count(*) FROM routes")) {
          count = rs.next() ? rs.getInt(1) : 0;
        }
      } finally {
        counted.complete(null);
        lock.unlock();
      }
      Optional<String> problem;
      try (Connection c = RouteDatabase.openReader(path)) {
        checking = c;
        if (closed) {
          return;
        }
        problem = RouteDatabase.quickCheck(c);
      } finally {
        checking = null;
      }
      problem.ifPresent(this::recover);
    } catch (SQLException e) {
      if (closed) {
        return;
      }
      if (damaged(e)) {
        recover(e.getMessage());
      } else {
        log.atWarn()
            .setMessage("route database check failed")
            .addKeyValue("path", path)
            .addKeyValue("error", e.getMessage())
            .log();
      }
    } catch (RuntimeException e) {
      log.atError()
          .setMessage("route database check failed")
          .addKeyValue("path", path)
          .addKeyValue("error", String.valueOf(e))
          .log();
    } finally {
      counted.complete(null);
    }
  }

  /**
   * Closes every connection (waiting for lookups in flight), moves the damaged file aside and
   * continues on a fresh one. Routes in the memory layer above stay; those only on disk are lost,
   * which costs races, not wrong answers.
   */
  private void recover(String reason) {
    if (!recovering.compareAndSet(false, true)) {
      return;
    }
    lock.lock();
    try {
      if (closed) {
        return;
      }
      readers.retire();
      try {
        writer.c.close();
      } catch (SQLException e) {
        log.atDebug()
            .setMessage("closing damaged route database")
            .addKeyValue("error", e.getMessage())
            .log();
      }
      Connection fresh = RouteDatabase.replaceDamaged(path, reason, clock);
      writer = new Writer(fresh);
      readers = SqliteReaders.open(path, readerCount);
      count = 0;
    } catch (RouteStoreException | SQLException e) {
      log.atError()
          .setMessage("route database damaged and could not be replaced; routes are not persisted")
          .addKeyValue("path", path)
          .addKeyValue("error", e.getMessage())
          .log();
    } finally {
      recovering.set(false);
      lock.unlock();
    }
  }

  private static boolean damaged(SQLException e) {
    int primary = e.getErrorCode() & 0xff;
    return primary == 11 /* SQLITE_CORRUPT */ || primary == 26 /* SQLITE_NOTADB */;
  }

  private void onFailure(SQLException e) {
    if (damaged(e) && !closed && !recovering.get()) {
      Thread.ofPlatform()
          .name("ncro-route-recover")
          .daemon(true)
          .start(() -> recover(e.getMessage()));
    }
  }

  private static void interrupt(Connection c) {
    try {
      c.unwrap(SQLiteConnection.class).getDatabase().interrupt();
    } catch (SQLException e) {
      // closing anyway
    }
  }

  private static Optional<Route> first(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? Optional.of(RouteSchema.read(rs)) : Optional.empty();
    }
  }

  private <T> T read(SqlWork<SqliteReaders.Reader, T> work) {
    SqliteReaders.Reader r;
    try {
      r = borrow();
    } catch (SQLException e) {
      onFailure(e);
      throw new RouteStoreException.Unchecked("route database: " + e.getMessage(), e);
    }
    try {
      return work.run(r);
    } catch (SQLException e) {
      onFailure(e);
      throw new RouteStoreException.Unchecked("route database: " + e.getMessage(), e);
    } finally {
      r.giveBack();
    }
  }

  /** A reader of the current pool; waits out a switch to a fresh file. */
  private SqliteReaders.Reader borrow() throws SQLException {
    try {
      for (; ; ) {
        SqliteReaders pool = readers;
        SqliteReaders.Reader r = pool.borrow(commits);
        if (r != null) {
          return r;
        }
        lock.lock(); // a switch holds it: wait for the new pool
        lock.unlock();
        if (readers == pool) {
          throw new RouteStoreException.Unchecked("route database: closed", null);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RouteStoreException.Unchecked(
          "route database: interrupted waiting for a connection", e);
    }
  }

  /**
   * Runs one write under the lock. The write's own outcome is what the caller sees: a failure to
   * end the idle readers' snapshots afterwards is added to the write's error, or, after a write that
   * committed, reported (damage detection, one warning) without turning that write into an error.
   */
  private <T> T write(SqlWork<Writer, T> work) {
    lock.lock();
    try {
      SQLException failure = null;
      T result = null;
      try {
        result = work.run(writer);
      } catch (SQLException e) {
        failure = e;
      } finally {
        commits++; // under the lock: the only writer of the field
        failure = endIdleSnapshots(failure);
      }
      if (failure != null) {
        onFailure(failure);
        throw new RouteStoreException.Unchecked("route database: " + failure.getMessage(), failure);
      }
      return result;
    } finally {
      lock.unlock();
    }
  }

  /** Returns the write's failure, with this step's own added to it if both failed. */
  private SQLException endIdleSnapshots(SQLException writeFailure) {
    try {
      readers.endIdleSnapshots();
    } catch (SQLException e) {
      if (writeFailure != null) {
        writeFailure.addSuppressed(e);
      } else {
        onFailure(e);
        log.warn(
            "route database: a reader's snapshot could not end after a write: {}", e.getMessage());
      }
    }
    return writeFailure;
  }

  @FunctionalInterface
  private interface SqlWork<C, T> {
    T run(C connection) throws SQLException;
  }
}
