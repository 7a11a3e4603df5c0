package dev.ncro.upstream;

import dev.ncro.config.FollowedFile;
import dev.ncro.config.UpstreamCredentials;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;

/**
 * Basic or Bearer credentials from a file that may be replaced while ncro runs
 * ({@link FollowedFile}). Requests use the last good value through one volatile read: the request
 * path never touches the file system. The {@link CredentialWatcher} calls {@link #refresh()} from
 * the housekeeping thread.
 */
final class ReloadingAuth implements RequestAuth {
  private final FollowedFile<UpstreamCredentials> file;
  private volatile RequestAuth current;

  ReloadingAuth(String upstream, UpstreamCredentials.FromFile c) {
    this.file = new FollowedFile<>("upstream " + upstream, c.file(), c.initial());
    this.current = Upstream.authFor(c.initial());
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
    return file.current().source();
  }

  /** False while the file's last change could not be used ({@link FollowedFile#usable()}). */
  boolean usable() {
    return file.usable();
  }

  /**
   * Reads the file again if it changed. True when requests now carry other credentials than
   * before, so the upstream is worth probing at once (an UNAUTHORIZED upstream comes back only
   * through a probe).
   */
  boolean refresh() {
    if (!file.refresh()) {
      return false;
    }
    current = Upstream.authFor(file.current());
    return true;
  }

  @Override
  public String toString() {
    return "RequestAuth[" + file.file().field() + ", redacted]";
  }
}
