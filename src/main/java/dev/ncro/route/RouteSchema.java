package dev.ncro.route;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** The routes table: its DDL, pragmas, and the mapping between rows and {@link Route}. */
final class RouteSchema {
  static final String SELECT =
      "SELECT hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at FROM routes";
  static final String UPSERT =
      "INSERT INTO routes (hash, upstream, latency_ms, nar_url, file_hash, nar_hash, nar_size, narinfo, verified_at, expires_at, last_used)"
          + " VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(hash) DO UPDATE SET upstream=excluded.upstream,"
          + " latency_ms=excluded.latency_ms, nar_url=excluded.nar_url, file_hash=excluded.file_hash,"
          + " nar_hash=excluded.nar_hash, nar_size=excluded.nar_size, narinfo=excluded.narinfo,"
          + " verified_at=excluded.verified_at, expires_at=excluded.expires_at, last_used=excluded.last_used";

  private RouteSchema() {}

  static void apply(Connection c) throws SQLException {
    try (Statement st = c.createStatement()) {
      // WAL: readers never block the writer; NORMAL sync: a committed route survives a process
      // crash (kill -9), only the last transactions may be lost on power failure.
      st.execute("PRAGMA journal_mode=WAL");
      st.execute("PRAGMA synchronous=NORMAL");
      st.execute("PRAGMA busy_timeout=5000");
      st.execute(
          "CREATE TABLE IF NOT EXISTS routes ("
              + " hash TEXT PRIMARY KEY, upstream TEXT NOT NULL, latency_ms REAL NOT NULL,"
              + " nar_url TEXT, file_hash TEXT, nar_hash TEXT, nar_size INTEGER NOT NULL,"
              + " narinfo BLOB NOT NULL, verified_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
              + " last_used INTEGER NOT NULL)");
      st.execute("CREATE INDEX IF NOT EXISTS routes_nar_url ON routes(nar_url)");
      st.execute("CREATE INDEX IF NOT EXISTS routes_last_used ON routes(last_used)");
      st.execute("CREATE INDEX IF NOT EXISTS routes_verified_at ON routes(verified_at)");
    }
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
        rs.getString(1), rs.getString(2), rs.getDouble(3), rs.getString(4), rs.getString(5),
        rs.getString(6), rs.getLong(7), rs.getBytes(8), rs.getLong(9), rs.getLong(10));
  }
}
