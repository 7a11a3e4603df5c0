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

  /** One run on {@code c} (autocommit on, returned so). */
  static Result run(Connection c, int maxEntries, long nowMillis) throws SQLException {
    c.setAutoCommit(false);
    try {
      boolean locked;
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT pg_try_advisory_xact_lock(" + PostgresSchema.JANITOR_LOCK + ")")) {
        locked = rs.next() && rs.getBoolean(1);
      }
      if (!locked) {
        c.commit();
        return new Result(false, count(c), 0, 0, 0);
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
      int routes = count(c);
      int evicted = 0;
      if (routes > maxEntries) {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM ncro_routes WHERE hash IN"
            + " (SELECT hash FROM ncro_routes ORDER BY last_used ASC, hash LIMIT ?)")) {
          ps.setInt(1, routes - maxEntries);
          evicted = ps.executeUpdate();
        }
        routes -= evicted;
      }
      c.commit();
      return new Result(true, routes, evicted, expired, negatives);
    } catch (SQLException e) {
      try {
        c.rollback();
      } catch (SQLException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    } finally {
      c.setAutoCommit(true);
    }
  }

  static int count(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM ncro_routes")) {
      return rs.next() ? rs.getInt(1) : 0;
    }
  }
}
