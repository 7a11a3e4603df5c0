package dev.ncro.route;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/**
 * Removes what the shared tables should no longer hold, on one node at a time: every node runs it
 * on a timer, and the first to take {@code pg_try_advisory_xact_lock} does the work while the
 * others skip (three nodes deleting the same rows at once would only contend for locks).
 *
 * <ul>
 *   <li>routes above {@code cache.max_entries}, least recently used first (the bound is shared:
 *       one fleet, one table);
 *   <li>routes expired longer than {@link #EXPIRED_KEPT}: an expired route still maps its NAR URL
 *       to an upstream, and Nix may ask for a NAR as long as it keeps the narinfo (30 days by
 *       default, {@code narinfo-cache-positive-ttl});
 *   <li>negative entries past their expiry.
 * </ul>
 */
final class PostgresJanitor {
  static final Duration EXPIRED_KEPT = Duration.ofDays(30);

  private PostgresJanitor() {}

  /** What one run did; {@code ran} is false when another node held the lock. */
  record Result(boolean ran, int routes, int evicted, int expired, int negatives) {}

  /**
   * Below this share of {@code max_entries} (by the server's row estimate and what this node wrote
   * since) the table is not counted: eviction cannot be due, and {@code count(*)} reads the whole
   * table (measured: 0.5 to 1 s for 150 000 routes, 95 MB, on the shared 2-core machine).
   */
  static final double COUNT_ABOVE = 0.9;

  /**
   * One run on {@code c} (autocommit on, returned so); {@code atLeast}: how many routes the caller
   * knows of (its last figure plus what it wrote since), which the server's estimate may lag.
   */
  static Result run(Connection c, int maxEntries, long nowMillis, long atLeast)
      throws SQLException {
    return Transaction.run(c, () -> {
      boolean locked;
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT pg_try_advisory_xact_lock(" + PostgresSchema.JANITOR_LOCK + ")")) {
        locked = rs.next() && rs.getBoolean(1);
      }
      if (!locked) {
        return new Result(false, estimate(c), 0, 0, 0);
      }
      int expired;
      try (PreparedStatement ps =
          c.prepareStatement("DELETE FROM ncro_routes WHERE expires_at < ?")) {
        ps.setLong(1, nowMillis - EXPIRED_KEPT.toMillis());
        expired = ps.executeUpdate();
      }
      int negatives;
      try (PreparedStatement ps =
          c.prepareStatement("DELETE FROM ncro_negatives WHERE expires_at <= ?")) {
        ps.setLong(1, nowMillis);
        negatives = ps.executeUpdate();
      }
      int routes = estimate(c);
      if (Math.max(routes, atLeast) >= maxEntries * COUNT_ABOVE) {
        routes = count(c);
      }
      int evicted = 0;
      if (routes > maxEntries) {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM ncro_routes WHERE hash IN"
            + " (SELECT hash FROM ncro_routes ORDER BY last_used ASC, hash LIMIT ?)")) {
          ps.setInt(1, routes - maxEntries);
          evicted = ps.executeUpdate();
        }
        routes -= evicted;
      }
      return new Result(true, routes, evicted, expired, negatives);
    });
  }

  /**
   * The server's running count of live rows ({@code n_live_tup}, kept from every insert and
   * delete, read from memory): what the routes gauge shows between exact counts. It lags a commit
   * by up to a second, and reads 0 after a crash of the server until the next exact count.
   */
  static int estimate(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT n_live_tup FROM pg_stat_user_tables"
            + " WHERE relid = 'ncro_routes'::regclass")) {
      return rs.next() ? (int) Math.min(Integer.MAX_VALUE, rs.getLong(1)) : 0;
    }
  }

  /** The exact number of routes: reads the whole table. */
  static int count(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM ncro_routes")) {
      return rs.next() ? rs.getInt(1) : 0;
    }
  }
}
