package dev.ncro.fleet;

import dev.ncro.config.ConfigLoader;
import dev.ncro.support.Closer;
import dev.ncro.support.NcroHarness;
import dev.ncro.support.Postgres;
import dev.ncro.support.TestKey;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;

/**
 * Test set-up shared by the fleet tests: a database (and its owner role) on a running
 * {@link Postgres}, and ncro nodes started from YAML (the real config path: the password file is
 * read, every field checked) that all use it.
 */
final class PostgresFleet {
  final Postgres pg;
  final String database;
  final String password;
  final Path passwordFile;
  private final Path dir;
  private final Closer open;
  private int nodes;

  PostgresFleet(Postgres pg, String database, Path dir, Closer open) throws Exception {
    this.pg = pg;
    this.database = database;
    this.dir = dir;
    this.open = open;
    this.password = "pw-" + database + "-" + Long.toHexString(System.nanoTime());
    pg.createOwnedDatabase(database, password);
    this.passwordFile = dir.resolve(database + ".password");
    Files.writeString(passwordFile, password + "\n");
  }

  /** The {@code cache:} section of a node on this database, with {@code extra} lines in it. */
  String cacheYaml(String extra) {
    return "cache:\n  db_path: \"" + dir.resolve("unused-" + nodes + ".db")
        + "\"\n  probe_interval: 1h\n"
        + "  store: postgresql\n  postgresql:\n    url: \"" + pg.url(database, database) + "\"\n"
        + "    password_file: \"" + passwordFile + "\"\n    pool_size: 4\n" + extra;
  }

  /** A node in front of {@code upstreams} (each signed by {@code key}). */
  NcroHarness node(List<URI> upstreams, TestKey key) throws Exception {
    return node(upstreams, key.publicKey(), "");
  }

  /** A node in front of {@code upstreams} (each signed by {@code publicKey}), {@code cacheExtra} in its cache section. */
  NcroHarness node(List<URI> upstreams, String publicKey, String cacheExtra) throws Exception {
    StringBuilder yaml = new StringBuilder("server:\n  listen: \"127.0.0.1:0\"\n")
        .append(cacheYaml(cacheExtra))
        .append("timeouts:\n  connect: 2s\n  first_byte: 3s\n  stall: 3s\n")
        .append("upstreams:\n");
    for (int i = 0; i < upstreams.size(); i++) {
      yaml.append("  - url: \"")
          .append(upstreams.get(i))
          .append("\"\n    priority: ")
          .append(10 * (i + 1))
          .append("\n    public_key: \"")
          .append(publicKey)
          .append("\"\n");
    }
    nodes++;
    NcroHarness h =
        NcroHarness.start(ConfigLoader.load(yaml.toString(), "node-" + nodes + ".yaml", Map.of()));
    return open.keep(h);
  }

  /** Ends every session of this fleet's role, as a failover or the pool's max lifetime would. */
  void dropSessions() throws SQLException {
    pg.sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + database
            + "'");
  }

  /** Whether the shared table holds a route for {@code hash} (what every node can read). */
  boolean hasRoute(String hash) {
    return exists("SELECT 1 FROM ncro_routes WHERE hash = ?", hash);
  }

  boolean hasNegative(String hash) {
    return exists("SELECT 1 FROM ncro_negatives WHERE hash = ?", hash);
  }

  int routeCount() throws SQLException {
    try (Connection c = pg.connect(database);
        PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM ncro_routes");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private boolean exists(String sql, String hash) {
    try (Connection c = pg.connect(database);
        PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, hash);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException e) {
      return false; // the server is stopped in some tests: not there (yet)
    }
  }

  static String text(byte[] body) {
    return new String(body, StandardCharsets.UTF_8);
  }
}
