package dev.ncro.route;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The writes queued for the shared database, and how one batch of them is applied: in queue order,
 * consecutive writes of one kind sent together (one statement over arrays for deletions and uses;
 * one JDBC batch, which pgjdbc rewrites into multi-row inserts, for routes and negative entries),
 * all in one transaction. Within such a run there is one row per hash, ordered by hash, so two
 * nodes writing overlapping batches lock rows in the same order and do not deadlock.
 */
final class PostgresWrites {
  private PostgresWrites() {}

  sealed interface Write {}

  /** A route learned by this node; an older one never replaces a newer one from another node. */
  record Upsert(Route route, long atMillis) implements Write {}

  /** A route invalidated by this node (its upstream answered the NAR with 404). */
  record Delete(String hash) implements Write {}

  /**
   * Last uses of routes served from memory, for LRU eviction across the fleet: up to
   * {@link #TOUCH_CHUNK} of one recency flush in one queue entry. Measured: after a round of
   * PostgreSQL-only hits a flush held up to 65 536 uses; one entry each overflowed the 10 000-entry
   * queue, dropping them and any route written meanwhile.
   */
  record Touches(List<RouteBackend.Touch> touched) implements Write {}

  /** A path absent from every upstream, until {@code untilMillis}. */
  record Negative(String hash, long untilMillis) implements Write {}

  /** Uses per {@link Touches} entry at most. */
  static final int TOUCH_CHUNK = 5000;

  /** How many writes {@code writes} stands for (a {@link Touches} entry counts each use): for the dropped-writes count. */
  static long count(List<Write> writes) {
    long n = 0;
    for (Write w : writes) {
      n += w instanceof Touches t ? t.touched().size() : 1;
    }
    return n;
  }

  private static final String UPSERT =
      "INSERT INTO ncro_routes (" + PostgresSchema.COLUMNS + ", last_used)"
          + " VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (hash) DO UPDATE SET upstream = excluded.upstream,"
          + " latency_ms = excluded.latency_ms, nar_url = excluded.nar_url, file_hash = excluded.file_hash,"
          + " nar_hash = excluded.nar_hash, nar_size = excluded.nar_size, narinfo = excluded.narinfo,"
          + " verified_at = excluded.verified_at, expires_at = excluded.expires_at,"
          + " last_used = greatest(ncro_routes.last_used, excluded.last_used)"
          + " WHERE ncro_routes.verified_at <= excluded.verified_at";
  private static final String FOUND = "DELETE FROM ncro_negatives WHERE hash = ANY(?::text[])";
  private static final String DELETE = "DELETE FROM ncro_routes WHERE hash = ANY(?::text[])";
  /**
   * Every touch of a batch in one statement, and a row written only when its {@code last_used} is
   * more than {@link SqliteRouteBackend#RECENCY_GRANULARITY} behind, as in SQLite: measured, a
   * round of random hits over 25 000 routes left 25 000 touches, sent as one UPDATE each that wrote
   * each row (and its index) while the next round ran.
   */
  private static final String TOUCH = "UPDATE ncro_routes r SET last_used = t.at"
      + " FROM unnest(?::text[], ?::bigint[]) AS t(hash, at)"
      + " WHERE r.hash = t.hash AND r.last_used < t.at - "
      + SqliteRouteBackend.RECENCY_GRANULARITY.toMillis();

  private static final String NEGATIVE =
      "INSERT INTO ncro_negatives (hash, expires_at) VALUES (?, ?)"
          + " ON CONFLICT (hash) DO UPDATE SET expires_at = greatest(ncro_negatives.expires_at, excluded.expires_at)";

  /** Applies {@code batch} in one transaction on {@code c} (autocommit on, returned so). */
  static void apply(Connection c, List<Write> batch) throws SQLException {
    Transaction.run(c, () -> {
      int i = 0;
      while (i < batch.size()) {
        Class<?> kind = batch.get(i).getClass();
        int end = i;
        while (end < batch.size() && batch.get(end).getClass() == kind) {
          end++;
        }
        List<Write> run = batch.subList(i, end);
        applyRun(c, kind == Touches.class ? run : latestPerHash(run));
        i = end;
      }
      return null;
    });
  }

  private static void applyRun(Connection c, List<Write> run) throws SQLException {
    switch (run.get(0)) {
      case Upsert u -> {
        try (PreparedStatement ps = c.prepareStatement(UPSERT)) {
          for (Write w : run) {
            Upsert up = (Upsert) w;
            RouteSchema.bind(ps, up.route(), up.atMillis());
            ps.addBatch();
          }
          ps.executeBatch();
        }
        // Found after all: a negative entry another node wrote earlier is wrong now.
        hashes(c, FOUND, run);
      }
      case Delete d -> hashes(c, DELETE, run);
      case Touches t -> {
        // One row per hash (the latest use), ordered by hash, in one statement.
        TreeMap<String, Long> latest = new TreeMap<>();
        for (Write w : run) {
          for (RouteBackend.Touch u : ((Touches) w).touched()) {
            latest.merge(u.hash(), u.atMillis(), Math::max);
          }
        }
        try (PreparedStatement ps = c.prepareStatement(TOUCH)) {
          ps.setArray(1, c.createArrayOf("text", latest.keySet().toArray()));
          ps.setArray(2, c.createArrayOf("bigint", latest.values().toArray()));
          ps.executeUpdate();
        }
      }
      case Negative n -> {
        try (PreparedStatement ps = c.prepareStatement(NEGATIVE)) {
          for (Write w : run) {
            ps.setString(1, ((Negative) w).hash());
            ps.setLong(2, ((Negative) w).untilMillis());
            ps.addBatch();
          }
          ps.executeBatch();
        }
      }
    }
  }

  private static void hashes(Connection c, String sql, List<Write> run) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setArray(
          1, c.createArrayOf("text", run.stream().map(PostgresWrites::hash).toArray()));
      ps.executeUpdate();
    }
  }

  /**
   * One write per hash of a run of one kind (the newest route, the latest use, the longest negative
   * entry), ordered by hash: a multi-row {@code INSERT ... ON CONFLICT DO UPDATE} refuses to touch
   * a row twice, and two nodes writing overlapping runs lock rows in the same order.
   */
  static List<Write> latestPerHash(List<Write> run) {
    TreeMap<String, Write> one = new TreeMap<>();
    for (Write w : run) {
      one.merge(hash(w), w, PostgresWrites::later);
    }
    return new ArrayList<>(one.values());
  }

  private static Write later(Write a, Write b) {
    return switch (a) {
      case Upsert x ->
        x.route().verifiedAtMillis() > ((Upsert) b).route().verifiedAtMillis() ? a : b;
      case Negative x -> x.untilMillis() > ((Negative) b).untilMillis() ? a : b;
      case Delete x -> a;
      case Touches x -> throw new IllegalArgumentException("uses are merged by applyRun");
    };
  }

  private static String hash(Write w) {
    return switch (w) {
      case Upsert u -> u.route().hash();
      case Delete d -> d.hash();
      case Negative n -> n.hash();
      case Touches t -> throw new IllegalArgumentException("uses carry many hashes");
    };
  }
}
