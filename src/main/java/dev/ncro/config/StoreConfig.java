package dev.ncro.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Where routes persist ({@code cache.store}): one SQLite file per node (the default, nothing to run
 * beside ncro), or one PostgreSQL database shared by every node of a fleet.
 */
public sealed interface StoreConfig {
  /** The default: {@code cache.db_path}, this node's alone. */
  StoreConfig SQLITE = new Sqlite();

  /** The name {@code cache.store} gives this kind: {@code sqlite} or {@code postgresql}. */
  String kind();

  record Sqlite() implements StoreConfig {
    @Override
    public String kind() {
      return "sqlite";
    }
  }

  /**
   * {@code cache.postgresql}. {@code hosts} are {@code host:port} (several: pgjdbc tries them in
   * order, for a primary with standbys); {@code properties} are pgjdbc connection properties
   * translated from the URL's query ({@code sslmode}, ...). The password comes only from
   * {@code password_file}: the URL may not carry one, so no driver message that quotes the URL can
   * leak it. {@link #toString} leaves the password out.
   */
  record Postgresql(
      List<String> hosts,
      String database,
      String user,
      Map<String, String> properties,
      Path passwordFile,
      String password,
      int poolSize)
      implements StoreConfig {
    public Postgresql {
      hosts = List.copyOf(hosts);
      properties = Map.copyOf(properties);
    }

    @Override
    public String kind() {
      return "postgresql";
    }

    /** The JDBC URL, without user or password (they go as connection properties). */
    public String jdbcUrl() {
      return "jdbc:postgresql://" + String.join(",", hosts) + "/" + database;
    }

    /** The database as operators write it, for logs and {@code /status}: no secret in it. */
    public String display() {
      StringBuilder s = new StringBuilder("postgresql://");
      if (!user.isEmpty()) {
        s.append(user).append('@');
      }
      s.append(String.join(",", hosts)).append('/').append(database);
      String ssl = properties.get("sslmode");
      if (ssl != null) {
        s.append("?sslmode=").append(ssl);
      }
      return s.toString();
    }

    @Override
    public String toString() {
      return "Postgresql[" + display() + ", password_file=" + passwordFile + ", pool_size="
          + poolSize + "]";
    }
  }
}
