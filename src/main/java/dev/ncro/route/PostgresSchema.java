package dev.ncro.route;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * ncro's tables in a PostgreSQL database, versioned: {@code ncro_schema} holds one row (application
 * {@code ncro}, schema version), and {@link #ensure} creates the tables in an empty database or
 * applies the migrations a database of an older version lacks, under an advisory lock so nodes
 * starting together do it once.
 *
 * <p>A database that holds anything else (tables but no {@code ncro_schema}, another application's
 * row, a newer version) is refused with a message naming what was found: unlike a SQLite file,
 * a shared database is never ncro's to replace.
 */
final class PostgresSchema {
  /** Advisory lock keys: "ncro" in ASCII, plus one for the janitor. */
  static final long SCHEMA_LOCK = 0x6e63726fL;

  static final long JANITOR_LOCK = 0x6e63726f_01L;
  static final String APPLICATION = "ncro";

  /** Migration {@code i} takes the schema from version {@code i} to {@code i + 1}. */
  private static final List<List<String>> MIGRATIONS = List.of(List.of(
      "CREATE TABLE ncro_schema (id integer PRIMARY KEY CHECK (id = 1), application text NOT NULL,"
          + " version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
      "CREATE TABLE ncro_routes (hash text PRIMARY KEY, upstream text NOT NULL, latency_ms double precision NOT NULL,"
          + " nar_url text, file_hash text, nar_hash text, nar_size bigint NOT NULL, narinfo bytea NOT NULL,"
          + " verified_at bigint NOT NULL, expires_at bigint NOT NULL, last_used bigint NOT NULL)",
      "CREATE INDEX ncro_routes_nar_url ON ncro_routes (nar_url)",
      "CREATE INDEX ncro_routes_last_used ON ncro_routes (last_used)",
      "CREATE INDEX ncro_routes_verified_at ON ncro_routes (verified_at)",
      "CREATE INDEX ncro_routes_expires_at ON ncro_routes (expires_at)",
      "CREATE TABLE ncro_negatives (hash text PRIMARY KEY, expires_at bigint NOT NULL)",
      "CREATE INDEX ncro_negatives_expires_at ON ncro_negatives (expires_at)",
      "INSERT INTO ncro_schema (id, application, version) VALUES (1, 'ncro', 0)"));

  static final int VERSION = MIGRATIONS.size();

  static final String COLUMNS =
      "hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at";

  private PostgresSchema() {}

  /** The database holds something ncro must not touch; the message says what. */
  static final class Refused extends Exception {
    Refused(String message) {
      super(message);
    }
  }

  /**
   * Creates or migrates ncro's tables on {@code c} (autocommit on, returned so), one transaction.
   * Returns the version found before (0 for an empty database).
   */
  static int ensure(Connection c) throws SQLException, Refused {
    return Transaction.run(c, () -> {
      try (Statement st = c.createStatement()) {
        st.execute("SELECT pg_advisory_xact_lock(" + SCHEMA_LOCK + ")");
      }
      int found = inspect(c);
      try (Statement st = c.createStatement()) {
        for (int v = found; v < VERSION; v++) {
          for (String sql : MIGRATIONS.get(v)) {
            st.execute(sql);
          }
          st.execute(
              "UPDATE ncro_schema SET version = " + (v + 1) + ", updated_at = now() WHERE id = 1");
        }
      }
      return found;
    });
  }

  /** The schema version of ncro's tables in {@code c}'s database, 0 when it is empty. */
  private static int inspect(Connection c) throws SQLException, Refused {
    String where = currentSchema(c);
    boolean ours;
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT to_regclass('ncro_schema') IS NOT NULL")) {
      ours = rs.next() && rs.getBoolean(1);
    }
    if (!ours) {
      List<String> tables = new ArrayList<>();
      try (PreparedStatement ps =
          c.prepareStatement("SELECT table_name FROM information_schema.tables"
              + " WHERE table_schema = current_schema() ORDER BY table_name LIMIT 11")) {
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            tables.add(rs.getString(1));
          }
        }
      }
      if (!tables.isEmpty()) {
        String listed = String.join(", ", tables.subList(0, Math.min(10, tables.size())))
            + (tables.size() > 10 ? ", ..." : "");
        throw new Refused(
            "database " + c.getCatalog() + " (schema " + where
                + ") is not ncro's: it holds tables (" + listed
                + ") and no ncro_schema table; refusing to touch it (give ncro an empty database of its own)");
      }
      return 0;
    }
    try (Statement st = c.createStatement();
        ResultSet rs =
            st.executeQuery("SELECT application, version FROM ncro_schema WHERE id = 1")) {
      if (!rs.next()) {
        throw new Refused(
            "database " + c.getCatalog() + ": table ncro_schema has no row; refusing to touch it");
      }
      String app = rs.getString(1);
      int version = rs.getInt(2);
      if (!APPLICATION.equals(app)) {
        throw new Refused("database " + c.getCatalog() + ": ncro_schema names application \"" + app
            + "\", not ncro; refusing to touch it");
      }
      if (version > VERSION) {
        throw new Refused("database " + c.getCatalog() + " holds ncro schema version " + version
            + ", newer than this ncro's " + VERSION
            + " (upgrade this node, or give it another database)");
      }
      return version;
    } catch (SQLException e) {
      if ("42703".equals(e.getSQLState())
          || "42P01".equals(e.getSQLState())) { // undefined column / table
        throw new Refused("database " + c.getCatalog() + ": table ncro_schema is not ncro's ("
            + e.getMessage() + ")");
      }
      throw e;
    }
  }

  private static String currentSchema(Connection c) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT current_schema()")) {
      return rs.next() ? rs.getString(1) : "?";
    }
  }

  static Route read(ResultSet rs, int first) throws SQLException {
    return new Route(
        rs.getString(first),
        rs.getString(first + 1),
        rs.getDouble(first + 2),
        rs.getString(first + 3),
        rs.getString(first + 4),
        rs.getString(first + 5),
        rs.getLong(first + 6),
        rs.getBytes(first + 7),
        rs.getLong(first + 8),
        rs.getLong(first + 9));
  }
}
