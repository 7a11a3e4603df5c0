package dev.ncro.upstream;

import dev.ncro.config.PathFilters;
import dev.ncro.config.UpstreamConfig;
import dev.ncro.config.UpstreamCredentials;
import dev.ncro.limit.FifoLimiter;
import dev.ncro.narinfo.NarInfo;
import dev.ncro.narinfo.NarInfoException;
import dev.ncro.narinfo.NixPublicKey;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * One configured binary cache together with its live measurements. The configuration part is
 * immutable; latency and health live in a {@link UpstreamStats} that many threads update.
 *
 * <p>Its name is the configured URL; the requests go to {@link #endpoint()}, which for an HTTP(S)
 * cache is that same URL and for an {@code s3://} bucket the plain HTTP(S) URL of its keys, each
 * request signed by its {@link RequestAuth}. Everything past the request line (pooling, redirects,
 * streaming, timeouts, metrics) is one code path for both.
 *
 * <p>The fallback cache ({@code fallback_cache}) is an {@code Upstream} too, marked by
 * {@link #isFallback()}: the same client, auth, checks and health, but it is never among the
 * registry's racing upstreams ({@link UpstreamRegistry#all()}).
 */
public final class Upstream {
  private final UpstreamConfig config;
  private final List<NixPublicKey> keys;
  private final UpstreamStats stats;
  private final URI endpoint;
  private final RequestAuth auth;
  private final String origin;
  private final boolean fallback;
  private final FifoLimiter inflight;
  private final String discoveredAs;

  public Upstream(UpstreamConfig config, double latencyAlpha) {
    this(config, latencyAlpha, authFor(config));
  }

  /** The hook for an upstream's configured Basic or Bearer credentials, read again when from a file. */
  static RequestAuth authFor(UpstreamConfig config) {
    return config.credentials() instanceof UpstreamCredentials.FromFile f
        ? new ReloadingAuth(config.url().toString(), f)
        : authFor(config.credentials());
  }

  /** The hook for credentials as they are now. */
  static RequestAuth authFor(UpstreamCredentials c) {
    return switch (c) {
      case UpstreamCredentials.None n -> RequestAuth.NONE;
      case UpstreamCredentials.Basic b -> RequestAuth.basic(b.username(), b.password());
      case UpstreamCredentials.Bearer b -> RequestAuth.bearer(b.token());
      case UpstreamCredentials.FromFile f -> authFor(f.initial());
    };
  }

  /** {@code auth} authorizes every request to this upstream's own origin (never a redirect target elsewhere). */
  public Upstream(UpstreamConfig config, double latencyAlpha, RequestAuth auth) {
    this(config, latencyAlpha, auth, false, null, null);
  }

  /** The fallback cache: asked only when no regular upstream has a path (see {@link UpstreamRegistry#fallback()}). */
  public static Upstream fallback(UpstreamConfig config, double latencyAlpha, RequestAuth auth) {
    return new Upstream(config, latencyAlpha, auth, true, null, null);
  }

  /**
   * A {@code file://} cache, reached at {@code endpoint} of the {@link LocalCacheServer} that serves
   * its directory, with that server's {@code auth}; {@code fallback}: it is the fallback cache.
   */
  public static Upstream local(
      UpstreamConfig config,
      double latencyAlpha,
      URI endpoint,
      RequestAuth auth,
      boolean fallback) {
    return new Upstream(config, latencyAlpha, auth, fallback, null, endpoint);
  }

  private Upstream(
      UpstreamConfig config,
      double latencyAlpha,
      RequestAuth auth,
      boolean fallback,
      String discoveredAs,
      URI localEndpoint) {
    this.fallback = fallback;
    this.discoveredAs = discoveredAs;
    this.config = config;
    this.auth = auth;
    this.keys = config.publicKeys().stream().map(NixPublicKey::parse).toList();
    this.stats = new UpstreamStats(latencyAlpha);
    this.endpoint = localEndpoint != null
        ? localEndpoint
        : config.s3() == null ? config.url() : config.s3().httpBase();
    this.origin = Origin.of(endpoint);
    this.inflight = new FifoLimiter(config.maxInflight());
  }

  /**
   * Bounds the narinfo requests (race legs) in flight to this upstream at {@code max_inflight};
   * more wait in arrival order. NAR streams and probes do not take a slot (README "Race limits").
   */
  public FifoLimiter inflight() {
    return inflight;
  }

  /** Idle connections kept open to it ahead of demand ({@code warm_connections}, README "Warm connections"). */
  public int warmConnections() {
    return config.warmConnections();
  }

  /**
   * A cache found on the LAN by mDNS ({@code discovery}), announced as the service instance
   * {@code instance}; it has no credentials and trusts only {@code config.publicKeys()}.
   */
  public static Upstream discovered(UpstreamConfig config, double latencyAlpha, String instance) {
    return new Upstream(config, latencyAlpha, RequestAuth.NONE, false, instance, null);
  }

  /** Found by mDNS rather than configured: it comes and goes with its announcements. */
  public boolean discovered() {
    return discoveredAs != null;
  }

  /** The mDNS service instance that announced it, or null for a configured upstream. */
  public String discoveredAs() {
    return discoveredAs;
  }

  /** The configured URL (canonical form): the upstream's identity. */
  public URI url() {
    return config.url();
  }

  /** The HTTP(S) URL requests are sent to (for S3: the bucket's, path- or virtual-hosted style). */
  public URI endpoint() {
    return endpoint;
  }

  /** How the status page shows it: the URL, or for S3 {@code s3://bucket} and its endpoint. */
  public String display() {
    return config.s3() == null ? name() : config.s3().display();
  }

  /** The canonical name used in the route store, logs and metric labels: the URL text. */
  public String name() {
    return config.url().toString();
  }

  /** Host (with port when not default), for the {@code X-Ncro-Upstream} header; "local" for a {@code file://} cache. */
  public String host() {
    if (config.localDir() != null) {
      return "local";
    }
    int port = endpoint.getPort();
    return port < 0 ? endpoint.getHost() : endpoint.getHost() + ":" + port;
  }

  /** The request-authorization hook (see {@link RequestAuth}); {@link RequestAuth#NONE} without credentials. */
  public RequestAuth auth() {
    return auth;
  }

  /** Extra PEM certificates trusted for this upstream, or null for system trust only. */
  public Path caFile() {
    return config.caFile();
  }

  /** Where its credentials came from ("none", "password_file", "netrc_file line 3"...); never the secret. */
  public String credentialSource() {
    return auth instanceof ReloadingAuth r ? r.source() : config.credentials().source();
  }

  /**
   * False while its credential file's last change could not be used: requests carry the last
   * good credentials, but a restart would fail on the file.
   */
  public boolean credentialFileUsable() {
    return !credentialFileState().equals("unusable");
  }

  /**
   * For {@code /status}: "none" without a credential file, "ok", or "unusable" while its last
   * change could not be used (see {@link #credentialFileUsable()}).
   */
  public String credentialFileState() {
    if (!(auth instanceof ReloadingAuth r)) {
      return "none";
    }
    return r.usable() ? "ok" : "unusable";
  }

  /** Scheme, host and port (always explicit): where its credentials may be sent, and nowhere else. */
  public String origin() {
    return origin;
  }

  public int priority() {
    return config.priority();
  }

  public List<NixPublicKey> keys() {
    return keys;
  }

  /** Which store paths it may serve; {@link PathFilters#NONE} for all. */
  public PathFilters filters() {
    return config.filters();
  }

  /**
   * Whether its filters admit the store path of a stored narinfo {@code body} (one that does not
   * parse: no). For routes stored before the filters were configured. Parsing happens only for an
   * upstream that has filters: 7 µs for an 867-byte narinfo with 12 references and three rules
   * (measured on the shared 2-core machine at load average 17, so an upper figure).
   */
  public boolean admitsStored(byte[] body) {
    if (config.filters().isEmpty()) {
      return true;
    }
    if (body == null) {
      return false;
    }
    try {
      return config.filters().admits(NarInfo.parse(body));
    } catch (NarInfoException e) {
      return false;
    }
  }

  /** Whether this is the fallback cache rather than a regular (racing) upstream. */
  public boolean isFallback() {
    return fallback;
  }

  public UpstreamStats stats() {
    return stats;
  }

  /**
   * Not DOWN and not refusing us (unauthorized, certificate problem): its stored routes still
   * answer, and it counts for {@code /health}.
   */
  public boolean usable() {
    return stats.usable();
  }

  /**
   * Worth a request now: usable, not suspended after a timeout or refused connection, and not
   * throttled after a 429 ({@link Throttle}).
   */
  public boolean available() {
    return stats.available();
  }

  /** The upstream URL for a request path that starts with '/', keeping any base path. */
  public String resolve(String path) {
    String base = endpoint.getRawPath();
    return (base == null ? "" : base) + path;
  }

  @Override
  public String toString() {
    return name();
  }

  static Optional<Upstream> byName(List<Upstream> all, String name) {
    for (Upstream u : all) { // a loop, not a stream: this runs on every warm hit
      if (u.name().equals(name)) {
        return Optional.of(u);
      }
    }
    return Optional.empty();
  }
}
