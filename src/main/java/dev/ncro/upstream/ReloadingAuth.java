package dev.ncro.upstream;

import dev.ncro.config.CredentialFile;
import dev.ncro.config.UpstreamCredentials;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Basic or Bearer credentials from a file that may be replaced while ncro runs. Requests use the
 * last good value through one volatile read: the request path never touches the file system. The
 * {@link CredentialWatcher} calls {@link #refresh()} from its own thread; a change of the file's
 * modification time, size or inode (an atomic rename, a Kubernetes or systemd symlink swap) makes
 * it read the file again through the checks of start-up. A file that is now missing or malformed
 * keeps the previous credentials and is logged once per change, without its content.
 */
final class ReloadingAuth implements RequestAuth {
  private static final Logger log = LoggerFactory.getLogger(ReloadingAuth.class);

  /** What identifies one version of the file; null fields for a file that cannot be seen. */
  private record Stamp(FileTime modified, long size, Object key) {
    static Stamp of(Path p) {
      try {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
        return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
      } catch (IOException e) {
        return new Stamp(null, -1, null);
      }
    }
  }

  private final String upstream;
  private final CredentialFile<UpstreamCredentials> file;
  private volatile UpstreamCredentials credentials;
  private volatile RequestAuth current;
  private Stamp seen; // only the watcher thread reads and writes it

  ReloadingAuth(String upstream, UpstreamCredentials.FromFile c) {
    this.upstream = upstream;
    this.file = c.file();
    this.credentials = c.initial();
    this.current = Upstream.authFor(c.initial());
    // Not stamped here: the file may have changed since the config read it. The first refresh
    // reads it once more and changes nothing when it holds the same secret.
  }

  @Override
  public void authorize(HttpMethod method, String host, String pathAndQuery, HttpHeaders headers) {
    current.authorize(method, host, pathAndQuery, headers);
  }

  @Override
  public String scheme() {
    return current.scheme();
  }

  /** Where the credentials in use came from ("password_file", "netrc_file line 3"...). */
  String source() {
    return credentials.source();
  }

  /**
   * Reads the file again if it changed since the last call. True when requests now carry other
   * credentials than before, so the upstream is worth probing at once (an UNAUTHORIZED upstream
   * comes back only through a probe). Not thread-safe: one watcher thread calls it.
   */
  boolean refresh() {
    Stamp now = Stamp.of(file.path());
    if (now.equals(seen)) {
      return false;
    }
    boolean first = seen == null;
    seen = now;
    UpstreamCredentials next;
    try {
      next = file.read();
    } catch (IOException e) {
      log.atWarn()
          .setMessage(
              "credential file changed but cannot be used; requests keep the previous credentials")
          .addKeyValue("upstream", upstream)
          .addKeyValue("problem", e.getMessage())
          .log();
      return false;
    }
    if (next.equals(credentials)) {
      return false; // touched, or rewritten with the same secret
    }
    credentials = next;
    current = Upstream.authFor(next);
    log.atInfo()
        .setMessage(
            first
                ? "credential file changed since start-up; using what it holds now"
                : "credential file changed; using what it holds now")
        .addKeyValue("upstream", upstream)
        .addKeyValue("file", file.path())
        .addKeyValue("source", next.source())
        .log();
    return true;
  }

  @Override
  public String toString() {
    return "RequestAuth[" + file.field() + ", redacted]";
  }
}
