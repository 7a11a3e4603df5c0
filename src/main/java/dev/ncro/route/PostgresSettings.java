package dev.ncro.route;

import java.util.Map;

/**
 * How to reach the shared route database: pgjdbc's URL (no credentials in it), the user, the
 * password (from {@code cache.postgresql.password_file}; empty for trust or certificate
 * authentication), pgjdbc connection properties ({@code sslmode}, ...) and the pool size.
 * {@code display} is what logs and {@code /status} show. {@link #toString} leaves the password out.
 */
public record PostgresSettings(
    String jdbcUrl,
    String display,
    String user,
    String password,
    Map<String, String> properties,
    int poolSize) {
  public PostgresSettings {
    properties = Map.copyOf(properties);
  }

  /** {@code message} with every occurrence of the password replaced: for text from the driver. */
  public String scrub(String message) {
    if (message == null) {
      return "";
    }
    return password.isEmpty() ? message : message.replace(password, "********");
  }

  @Override
  public String toString() {
    return "PostgresSettings[" + display + ", user=" + user + ", pool_size=" + poolSize + "]";
  }
}
