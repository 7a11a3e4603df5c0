package dev.ncro.route;

import com.zaxxer.hikari.HikariCredentialsProvider;
import com.zaxxer.hikari.util.Credentials;
import dev.ncro.config.CredentialFile;
import dev.ncro.config.FollowedFile;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The database password, read again from {@code cache.postgresql.password_file} when the file
 * changes. Secret managers rotate database passwords (Vault's database engine, a cloud's managed
 * rotation): sessions already open stay valid, but the pool opens new ones over time (max
 * lifetime, a failover, a restart of the server), and those need the new password. HikariCP asks
 * this provider for every new connection, on its own thread, so the file is looked at (one
 * {@code stat}, {@link FollowedFile}) only then, never on a request. A file that is now missing or
 * malformed is logged and the last good password kept.
 *
 * <p>{@link #scrub} hides every password this process has used, so a driver message about a
 * connection made with an old one cannot show it either.
 */
final class PostgresPassword implements HikariCredentialsProvider {
  /** Passwords remembered for {@link #scrub}; rotations are rare, this bounds a flapping file. */
  private static final int REMEMBERED = 16;

  private final String user;
  private final String fixed;
  private final FollowedFile<String> file;
  private final List<String> used = new CopyOnWriteArrayList<>();

  /** {@code file}: null when the password is not read from a file (or there is none). */
  PostgresPassword(String user, String password, CredentialFile<String> file) {
    this.user = user;
    this.fixed = password;
    this.file = file == null ? null : new FollowedFile<>("cache.postgresql", file, password);
    remember(password);
  }

  @Override
  public Credentials getCredentials() {
    String password = current();
    if (file != null && file.refresh()) {
      password = file.current();
      remember(password);
    }
    return Credentials.of(user.isEmpty() ? null : user, password.isEmpty() ? null : password);
  }

  /** False while the password file's last change could not be used (the last good one stays). */
  boolean usable() {
    return file == null || file.usable();
  }

  /** The password new connections use now. */
  String current() {
    return file == null ? fixed : file.current();
  }

  private synchronized void remember(String password) {
    if (!password.isEmpty() && !used.contains(password)) {
      used.add(password);
      if (used.size() > REMEMBERED) {
        used.remove(0);
      }
    }
  }

  /** {@code message} with every password used so far replaced: for text from the driver. */
  String scrub(String message) {
    if (message == null) {
      return "";
    }
    String m = message;
    for (String p : used) {
      m = m.replace(p, "********");
    }
    return m;
  }

  @Override
  public String toString() {
    return "PostgresPassword[" + (file == null ? "none" : file.file().field()) + ", redacted]";
  }
}
