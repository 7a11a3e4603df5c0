package dev.ncro.route;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** The routes table: its DDL, pragmas, how a file is recognised as ncro's, and the mapping between rows and {@link Route}. */
final class RouteSchema {
  static final String SELECT =
      "SELECT hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at FROM routes";
  /** {@link #SELECT} plus {@code last_used} as column 11, for lookups that decide recency. */
  static final String SELECT_WITH_LAST_USED =
      "SELECT hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at, last_used FROM routes";

  static final String UPSERT =
      "INSERT INTO routes (hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at, last_used)"
          + " VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(hash) DO UPDATE SET upstream=excluded.upstream,"
          + " latency_ms=excluded.latency_ms, nar_url=excluded.nar_url, file_hash=excluded.file_hash,"
          + " nar_hash=excluded.nar_hash, nar_size=excluded.nar_size, narinfo=excluded.narinfo,"
          + " verified_at=excluded.verified_at, expires_at=excluded.expires_at, last_used=excluded.last_used";

  private RouteSchema() {}

  /** {@code PRAGMA application_id} of an ncro route database: "ncro" in ASCII. */
  static final int APPLICATION_ID = 0x6e63726f;
  /** {@code PRAGMA user_version}: the version of this schema, for future migrations. */
  static final int VERSION = 1;
  /** The columns of the routes table, in order. */
  static final List<String> COLUMNS = List.of(
      "hash",
      "upstream",
      "latency_ms",
      "nar_url",
      "file_hash",
      "nar_hash",
      "nar_size",
      "narinfo",
      "verified_at",
      "expires_at",
      "last_used");

  /** What an opened database file holds, judged before anything is written to it. */
  sealed interface Fit {
    /** No tables yet (a new or empty file): ncro may create its own. */
    record Empty() implements Fit {}

    /** ncro's routes table, as this version writes it. */
    record Ours() implements Fit {}

    /** A route database ncro can recognise but not use (another schema): replaceable, it is a cache. */
    record Incompatible(String reason) implements Fit {}

    /** Another application's database: never touched. */
    record Foreign(String reason) implements Fit {}
  }

  /**
   * Judges the database behind {@code c}. An application id of ncro's (or none, for files written
   * before ncro set one) with exactly the routes table is ours; a routes table with other columns
   * is an incompatible ncro database; any other application id, or tables of other names, belong
   * to someone else.
   */
  static Fit inspect(Connection c) throws SQLException {
    int appId = intPragma(c, "application_id");
    if (appId != 0 && appId != APPLICATION_ID) {
      return new Fit.Foreign(
          String.format("its application_id is 0x%08x, not ncro's 0x%08x", appId, APPLICATION_ID));
    }
    Set<String> tables = new TreeSet<>();
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")) {
      while (rs.next()) {
        tables.add(rs.getString(1));
      }
    }
    if (tables.isEmpty()) {
      return new Fit.Empty();
    }
    if (!tables.equals(Set.of("routes"))) {
      String listed = abbreviate(String.join(", ", tables), 200);
      if (appId == 0) {
        return new Fit.Foreign("it holds tables of another application (" + listed + ")");
      }
      return new Fit.Incompatible("unexpected tables (" + listed + ")");
    }
    List<String> columns = new ArrayList<>();
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("PRAGMA table_info(routes)")) {
      while (rs.next()) {
        columns.add(rs.getString("name"));
      }
    }
    if (!columns.equals(COLUMNS)) {
      return new Fit.Incompatible(
          "its routes table has columns (" + abbreviate(String.join(", ", columns), 300)
              + "), expected (" + String.join(", ", COLUMNS) + ")");
    }
    return new Fit.Ours();
  }

  /**
   * Creates what is missing and stamps the file as ncro's, in one write transaction: this is also
   * the proof that the file is writable (SQLite silently opens a write-protected file read-only).
   */
  static void apply(Connection c) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute("PRAGMA busy_timeout=5000");
      // NORMAL sync in WAL mode: a committed route survives a process crash (kill -9); only the
      // last transactions may be lost on power failure, and the file stays consistent either way.
      st.execute("PRAGMA synchronous=NORMAL");
      Transaction.run(c, () -> {
        st.execute("CREATE TABLE IF NOT EXISTS routes ("
            + " hash TEXT PRIMARY KEY, upstream TEXT NOT NULL, latency_ms REAL NOT NULL,"
            + " nar_url TEXT, file_hash TEXT, nar_hash TEXT, nar_size INTEGER NOT NULL,"
            + " narinfo BLOB NOT NULL, verified_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
            + " last_used INTEGER NOT NULL)");
        st.execute("CREATE INDEX IF NOT EXISTS routes_nar_url ON routes(nar_url)");
        st.execute("CREATE INDEX IF NOT EXISTS routes_last_used ON routes(last_used)");
        st.execute("CREATE INDEX IF NOT EXISTS routes_verified_at ON routes(verified_at)");
        st.execute("PRAGMA application_id=" + APPLICATION_ID);
        st.execute("PRAGMA user_version=" + VERSION);
        return null;
      });
    }
  }

  static int intPragma(Connection c, String name) throws SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("PRAGMA " + name)) {
      return rs.next() ? rs.getInt(1) : 0;
    }
  }

  static String abbreviate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }

  static void bind(PreparedStatement ps, Route r, long nowMillis) throws SQLException {
    ps.setString(1, r.hash());
    ps.setString(2, r.upstream());
    ps.setDouble(3, r.latencyMs());
    ps.setString(4, r.narUrl());
    ps.setString(5, r.fileHash());
    ps.setString(6, r.narHash());
    ps.setLong(7, r.narSize());
    ps.setBytes(8, r.narinfo());
    ps.setLong(9, r.verifiedAtMillis());
    ps.setLong(10, r.expiresAtMillis());
    ps.setLong(11, nowMillis);
  }

  static Route read(ResultSet rs) throws SQLException {
    return new Route(
        rs.getString(1),
        rs.getString(2),
        rs.getDouble(3),
        rs.getString(4),
        rs.getString(5),
        rs.getString(6),
        rs.getLong(7),
        rs.getBytes(8),
        rs.getLong(9),
        rs.getLong(10));
  }
}
