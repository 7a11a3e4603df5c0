package dev.ncro.route;

import com.zaxxer.hikari.HikariCredentialsProvider;
import com.zaxxer.hikari.util.Credentials;
import dev.ncro.config.CredentialFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The database password, read again from {@code cache.postgresql.password_file} when the file
 * changes. Secret managers rotate database passwords (Vault's database engine, a cloud's managed
 * rotation): sessions already open stay valid, but the pool opens new ones over time (max
 * lifetime, a failover, a restart of the server), and those need the new password. HikariCP asks
 * this provider for every new connection, on its own thread, so the file is looked at (one
 * {@code stat}) only then, never on a request. A file that is now missing or malformed is logged
 * and the last good password kept.
 *
 * <p>{@link #scrub} hides every password this process has used, so a driver message about a
 * connection made with an old one cannot show it either.
 */
final class PostgresPassword implements HikariCredentialsProvider {
  private static final Logger log = LoggerFactory.getLogger(PostgresPassword.class);
  /** Passwords remembered for {@link #scrub}; rotations are rare, this bounds a flapping file. */
  private static final int REMEMBERED = 16;

  private record Stamp(Object modified, long size, Object key) {}

  private final String user;
  private final CredentialFile<String> file;
  private final List<String> used = new CopyOnWriteArrayList<>();
  private volatile String current;
  private Stamp seen; // guarded by this

  /** {@code file}: null when the password is not read from a file (or there is none). */
  PostgresPassword(String user, String password, CredentialFile<String> file) {
    this.user = user;
    this.file = file;
    this.current = password;
    remember(password);
  }

  @Override
  public synchronized Credentials getCredentials() {
    if (file != null) {
      refresh();
    }
    return Credentials.of(user.isEmpty() ? null : user, current.isEmpty() ? null : current);
  }

  /** The password new connections use now. */
  String current() {
    return current;
  }

  private void refresh() {
    Stamp now;
    try {
      BasicFileAttributes a = Files.readAttributes(file.path(), BasicFileAttributes.class);
      now = new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
    } catch (IOException e) {
      now = new Stamp(null, -1, null);
    }
    if (now.equals(seen)) {
      return;
    }
    boolean first = seen == null;
    seen = now;
    String next;
    try {
      next = file.read();
    } catch (IOException e) {
      log.atWarn()
          .setMessage(
              "database password file changed but cannot be used; keeping the last good password")
          .addKeyValue("problem", e.getMessage())
          .log();
      return;
    }
    if (next.equals(current)) {
      return;
    }
    remember(next);
    current = next;
    log.atInfo()
        .setMessage(
            first
                ? "database password file changed since start-up; new connections use what it holds now"
                : "database password file changed; new connections use what it holds now")
        .addKeyValue("file", file.path())
        .log();
  }

  private void remember(String password) {
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
    return "PostgresPassword[" + (file == null ? "none" : file.field()) + ", redacted]";
  }
}
