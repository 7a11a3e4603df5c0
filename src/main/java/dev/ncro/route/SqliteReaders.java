package dev.ncro.route;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * A fixed pool of read-only connections to one SQLite file, each with its lookups prepared once.
 * WAL lets readers run beside the writer and each other, so a lookup waits for neither a write nor
 * another lookup (measured: one connection under one lock held random hits over 100 000 routes to
 * 5 000 req/s with a p99 of 0.3 to 0.9 s; docs/benchmarks.md). A borrower that finds every
 * connection in use parks (virtual threads) until one comes back, in arrival order.
 *
 * <p>Each connection keeps its read transaction (its WAL snapshot) from one lookup to the next until
 * a write commits. Starting a transaction costs a lookup two {@code fcntl} calls on the WAL index
 * and an {@code fstat}, and a changed file resets the connection's page cache; with nothing written
 * in between, neither buys anything. The backend counts its commits ({@link #borrow(long)} gets the
 * count): a connection whose snapshot is older than the last commit starts a new one before the
 * lookup, so every lookup still sees every write committed before it began, and the writer ends
 * the snapshots of idle connections after each commit ({@link #endIdleSnapshots}), so none holds
 * the WAL back from a checkpoint while nobody reads. Measured: docs/benchmarks.md, "Twelfth
 * session".
 *
 * <p>{@link #retire} takes every connection back (waiting for lookups in flight) and closes them,
 * for {@link SqliteRouteBackend}'s switch to a fresh file; a borrower still waiting on a retired pool
 * gets {@code null} and asks the backend's current pool instead.
 */
final class SqliteReaders {
  /** One connection and its statements; used by one borrower at a time. */
  static final class Reader {
    final Connection connection;
    final PreparedStatement find;
    final PreparedStatement byNarUrl;
    final PreparedStatement recentLive;
    private SqliteReaders pool;
    private boolean closed;
    /** The commit count when this connection's snapshot began; -1 without a snapshot. */
    private long snapshotOf = -1;

    private Reader(Connection c) throws SQLException {
      connection = c;
      c.setAutoCommit(false); // a deferred BEGIN: the snapshot starts at the first read
      find = c.prepareStatement(RouteSchema.SELECT_WITH_LAST_USED + " WHERE hash = ?");
      byNarUrl = c.prepareStatement(
          RouteSchema.SELECT + " WHERE nar_url = ? ORDER BY verified_at DESC LIMIT 1");
      recentLive = c.prepareStatement(
          RouteSchema.SELECT + " WHERE expires_at > ? ORDER BY verified_at DESC LIMIT ?");
    }

    /** Returns this connection to its pool. */
    void giveBack() {
      pool.idle.offer(this);
    }

    /**
     * Makes the next query read a snapshot that holds every commit counted up to {@code commits}.
     * The count is read before the query, so a commit racing with it only makes the next borrower
     * start a snapshot it did not need.
     */
    private void readAtLeast(long commits) throws SQLException {
      if (snapshotOf != commits) {
        endSnapshot();
        snapshotOf = commits;
      }
    }

    /** Ends the read transaction (sqlite-jdbc begins the next one, deferred, at once). */
    private void endSnapshot() throws SQLException {
      if (snapshotOf != -1) {
        connection.commit();
        snapshotOf = -1; // only once ended: a failed end is tried again at the next borrow
      }
    }
  }

  private final ArrayBlockingQueue<Reader> idle;
  private final List<Reader> all;

  private SqliteReaders(List<Reader> readers) {
    this.all = readers;
    // Fair: lookups get a connection in arrival order. With barging, a parked lookup could be
    // overtaken again and again by new arrivals under load (500 clients on 2 busy cores).
    this.idle = new ArrayBlockingQueue<>(readers.size(), true, readers);
    readers.forEach(r -> r.pool = this);
  }

  /** {@code size} read-only connections to {@code path}, which must hold ncro's schema already. */
  static SqliteReaders open(Path path, int size) throws SQLException {
    List<Reader> readers = new ArrayList<>(size);
    try {
      for (int i = 0; i < size; i++) {
        Connection c = RouteDatabase.openReader(path);
        try {
          readers.add(new Reader(c));
        } catch (SQLException e) {
          c.close();
          throw e;
        }
      }
    } catch (SQLException e) {
      for (Reader r : readers) {
        closeQuietly(r, e);
      }
      throw e;
    }
    return new SqliteReaders(readers);
  }

  /**
   * A connection of this pool whose next query sees every write among the first {@code commits}
   * commits, or {@code null} when the pool has been retired.
   */
  Reader borrow(long commits) throws InterruptedException, SQLException {
    Reader r = idle.take();
    if (r.closed) {
      idle.offer(r); // wake the next waiter: it must go elsewhere too
      return null;
    }
    try {
      r.readAtLeast(commits);
    } catch (SQLException e) {
      r.giveBack();
      throw e;
    }
    return r;
  }

  /**
   * Ends the snapshot of every connection nobody is using, after a commit: an idle connection's old
   * snapshot would keep a checkpoint from restarting the WAL until its next lookup. Connections in
   * use end theirs at their next {@link #borrow}.
   */
  void endIdleSnapshots() throws SQLException {
    List<Reader> taken = new ArrayList<>(all.size());
    idle.drainTo(taken);
    SQLException failed = null;
    for (Reader r : taken) {
      try {
        if (!r.closed) {
          r.endSnapshot();
        }
      } catch (SQLException e) {
        failed = e;
      } finally {
        idle.offer(r);
      }
    }
    if (failed != null) {
      throw failed;
    }
  }

  int size() {
    return all.size();
  }

  /** Waits for every connection to come back, closes them all, and turns away later borrowers. */
  void retire() {
    List<Reader> taken = new ArrayList<>(all.size());
    boolean interrupted = false;
    while (taken.size() < all.size()) {
      try {
        taken.add(idle.take());
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    for (Reader r : taken) {
      closeQuietly(r, null);
      r.closed = true;
    }
    idle.addAll(taken);
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(Reader r, Exception failing) {
    try {
      r.connection.close();
    } catch (SQLException e) {
      if (failing != null) {
        failing.addSuppressed(e);
      }
    }
  }
}
