package dev.ncro.config;

import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a {@link CredentialFile} holds, kept current: {@link #refresh()} looks at the file (one
 * {@code stat}) and reads it again only when its modification time, size or inode changed (a
 * rewrite, a file renamed over it, a Kubernetes or systemd symlink swap). Readers take
 * {@link #current()}, a volatile read, and never touch the file system. A file that is now missing
 * or malformed is logged once per change, without its content, and the last good value kept.
 *
 * <p>Used for every secret ncro may have rotated under it: upstream credentials, the database
 * password, client credentials.
 */
public final class FollowedFile<T> {
  private static final Logger log = LoggerFactory.getLogger(FollowedFile.class);

  private final String owner;
  private final CredentialFile<T> file;
  private volatile T current;
  private volatile boolean usable = true;
  private FileStamp seen; // guarded by this

  /**
   * {@code owner}: whose file it is, for the log ("upstream https://...", "cache.postgresql");
   * {@code initial}: what start-up read. The file is not stamped now: it may have changed since,
   * so the first {@link #refresh()} reads it once more (and changes nothing if it is the same).
   */
  public FollowedFile(String owner, CredentialFile<T> file, T initial) {
    this.owner = owner;
    this.file = file;
    this.current = initial;
  }

  public T current() {
    return current;
  }

  public CredentialFile<T> file() {
    return file;
  }

  /**
   * False while the file's last change could not be used (missing, empty, malformed): ncro runs on
   * the last good value, but a restart would now fail. {@code ncro_credential_files_unusable}.
   */
  public boolean usable() {
    return usable;
  }

  /** Reads the file again if it changed; true when {@link #current()} now holds something else. */
  public synchronized boolean refresh() {
    FileStamp now = FileStamp.of(file.path());
    if (now.equals(seen)) {
      return false;
    }
    boolean first = seen == null;
    seen = now;
    T next;
    try {
      next = file.read();
    } catch (IOException e) {
      usable = false;
      log.atWarn()
          .setMessage("credential file changed but cannot be used; keeping the last good value")
          .addKeyValue("for", owner)
          .addKeyValue("problem", e.getMessage())
          .log();
      return false;
    }
    usable = true;
    if (next.equals(current)) {
      return false; // touched, or rewritten with the same secret
    }
    current = next;
    log.atInfo()
        .setMessage(
            first
                ? "credential file changed since start-up; using what it holds now"
                : "credential file changed; using what it holds now")
        .addKeyValue("for", owner)
        .addKeyValue("file", file.path())
        .log();
    return true;
  }

  @Override
  public String toString() {
    return "FollowedFile[" + owner + ", " + file + "]";
  }
}
