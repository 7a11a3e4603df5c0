package dev.ncro.config;

import dev.ncro.access.AccessPolicy;
import java.time.Duration;

/**
 * The client-facing HTTP server. {@code readTimeout} bounds how long a client may take to send
 * a request's headers (and how long an idle keep-alive connection is kept); {@code writeTimeout}
 * is an idle timeout on writes: a client that accepts no bytes for that long is cut, while a long
 * download that keeps making progress is never cut. {@code listen} is null when the file says
 * {@code listen: ""}: ncro then serves only the sockets systemd hands over (socket activation).
 * {@code access}: who may use it ({@code server.allow}, {@code clients}, {@code admin_allow},
 * {@code trusted_proxies}). {@code maxHops}: a request whose {@code X-Ncro-Hop} is at least this is
 * answered from ncro's own store only (loop safety, see README); {@code wantMassQuery}: the
 * {@code WantMassQuery} ncro advertises in {@code /nix-cache-info}.
 */
public record ServerConfig(
    ListenAddress listen,
    Duration readTimeout,
    Duration writeTimeout,
    int cachePriority,
    AccessPolicy access,
    int maxHops,
    boolean wantMassQuery,
    boolean narSplice) {
  public static final int DEFAULT_MAX_HOPS = 1;

  /** The shape before the splice relay: {@code nar_splice} false, as in the embedded default. */
  public ServerConfig(
      ListenAddress listen,
      Duration readTimeout,
      Duration writeTimeout,
      int cachePriority,
      AccessPolicy access,
      int maxHops,
      boolean wantMassQuery) {
    this(listen, readTimeout, writeTimeout, cachePriority, access, maxHops, wantMassQuery, false);
  }

  /** The same with {@code nar_splice} set. */
  public ServerConfig withNarSplice(boolean on) {
    return new ServerConfig(
        listen, readTimeout, writeTimeout, cachePriority, access, maxHops, wantMassQuery, on);
  }

  /** The shape before loop safety: {@code max_hops} 1, {@code want_mass_query} true. */
  public ServerConfig(
      ListenAddress listen,
      Duration readTimeout,
      Duration writeTimeout,
      int cachePriority,
      AccessPolicy access) {
    this(listen, readTimeout, writeTimeout, cachePriority, access, DEFAULT_MAX_HOPS, true);
  }

  /** Open to anyone who can connect: the shape before access control existed. */
  public ServerConfig(
      ListenAddress listen, Duration readTimeout, Duration writeTimeout, int cachePriority) {
    this(listen, readTimeout, writeTimeout, cachePriority, AccessPolicy.OPEN);
  }
}
