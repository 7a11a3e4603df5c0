package dev.ncro.route;

import dev.ncro.config.CredentialFile;
import java.util.Map;

/**
 * How to reach the shared route database: pgjdbc's URL (no credentials in it), the user, the
 * password (from {@code cache.postgresql.password_file}; empty for trust or certificate
 * authentication) and the file it came from (null if none), to follow its rotation, pgjdbc
 * connection properties ({@code sslmode}, ...) and the pool size. {@code display} is what logs and
 * {@code /status} show. {@link #toString} leaves the password out.
 */
public record PostgresSettings(
    String jdbcUrl,
    String display,
    String user,
    String password,
    CredentialFile<String> passwordFile,
    Map<String, String> properties,
    int poolSize) {
  public PostgresSettings {
    properties = Map.copyOf(properties);
  }

  @Override
  public String toString() {
    return "PostgresSettings[" + display + ", user=" + user + ", pool_size=" + poolSize + "]";
  }
}
