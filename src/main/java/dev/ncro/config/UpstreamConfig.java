package dev.ncro.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * One binary cache ncro routes to. {@code url} has no trailing slash; {@code publicKeys} are Nix
 * keys ({@code name:base64}) — when non-empty, a narinfo from this upstream counts only if one of
 * its signatures verifies against one of them. {@code caFile} (null for none) holds PEM
 * certificates trusted for this upstream in addition to the system's; {@code credentials} were read
 * from their files at start-up (see {@link UpstreamCredentials}). {@code s3} is set for an
 * {@code s3://} upstream (then {@code url} is its canonical name, {@link S3Location#canonical()},
 * and its credentials come from the AWS chain, not {@code credentials}), null for HTTP(S).
 * {@code filters} decide which store paths this upstream may serve ({@link PathFilters}).
 * {@code maxInflight} bounds the narinfo requests in flight to it (NAR streams and probes do not
 * count, see README); more wait in a FIFO queue. {@code warmConnections} idle connections are kept
 * open to it ahead of demand, at most {@code maxInflight} (README "Warm connections").
 */
public record UpstreamConfig(
    URI url,
    int priority,
    List<String> publicKeys,
    Path caFile,
    UpstreamCredentials credentials,
    S3Location s3,
    PathFilters filters,
    int maxInflight,
    int warmConnections) {
  public static final int DEFAULT_MAX_INFLIGHT = 16;
  /**
   * See README "Warm connections" for the measurement behind it. At most {@link
   * #DEFAULT_MAX_INFLIGHT}: more would never be used at once.
   */
  public static final int DEFAULT_WARM_CONNECTIONS = 16;

  /** Whether {@code url} names a {@code file://} binary cache (a directory). */
  public static boolean isLocal(String url) {
    return url.regionMatches(true, 0, "file:", 0, 5);
  }

  /** The directory of a {@code file://} cache, or null for any other kind. */
  public Path localDir() {
    return "file".equals(url.getScheme()) ? Path.of(url.getPath()) : null;
  }

  public UpstreamConfig {
    publicKeys = List.copyOf(publicKeys);
    credentials = credentials == null ? UpstreamCredentials.NONE : credentials;
    filters = filters == null ? PathFilters.NONE : filters;
  }

  /** The same upstream with {@code filters}. */
  public UpstreamConfig withFilters(PathFilters filters) {
    return new UpstreamConfig(
        url, priority, publicKeys, caFile, credentials, s3, filters, maxInflight, warmConnections);
  }

  /** This upstream with another in-flight limit (and warm connections at most that many). */
  public UpstreamConfig withMaxInflight(int n) {
    return new UpstreamConfig(
        url,
        priority,
        publicKeys,
        caFile,
        credentials,
        s3,
        filters,
        n,
        Math.min(warmConnections, n));
  }

  /** This upstream with {@code n} warm connections (0: none). */
  public UpstreamConfig withWarmConnections(int n) {
    return new UpstreamConfig(
        url, priority, publicKeys, caFile, credentials, s3, filters, maxInflight, n);
  }

  /**
   * An HTTP(S) upstream without path filters, with the default in-flight limit and warm
   * connections; the {@code with…} methods change one setting each.
   */
  public UpstreamConfig(
      URI url,
      int priority,
      List<String> publicKeys,
      Path caFile,
      UpstreamCredentials credentials) {
    this(url, priority, publicKeys, caFile, credentials, null);
  }

  /** As the HTTP(S) constructor, with {@code s3} for an {@code s3://} upstream (null for none). */
  public UpstreamConfig(
      URI url,
      int priority,
      List<String> publicKeys,
      Path caFile,
      UpstreamCredentials credentials,
      S3Location s3) {
    this(
        url,
        priority,
        publicKeys,
        caFile,
        credentials,
        s3,
        PathFilters.NONE,
        DEFAULT_MAX_INFLIGHT,
        DEFAULT_WARM_CONNECTIONS);
  }

  /** A public cache trusted through the system's certificates only. */
  public UpstreamConfig(URI url, int priority, List<String> publicKeys) {
    this(url, priority, publicKeys, null, UpstreamCredentials.NONE);
  }

  /** An S3 upstream, named by its canonical URL. */
  public static UpstreamConfig s3(S3Location s3, int priority, List<String> publicKeys) {
    return new UpstreamConfig(
        s3.canonical(), priority, publicKeys, null, UpstreamCredentials.NONE, s3);
  }

  /**
   * The canonical form upstreams are compared in (duplicates in the config, names in gossip):
   * lower-case scheme and host, explicit port only when given, no trailing slash. An {@code s3://}
   * URL is compared in its own canonical form ({@link S3Location#canonical()}).
   */
  public static URI normalize(URI u) {
    if (S3Location.isS3(u.toString())) {
      return S3Location.parse(u.toString()).canonical();
    }
    if (isLocal(u.toString())) {
      try {
        // file:///dir, the directory normalized ("//", "/./", a trailing "/" dropped).
        return new URI("file", "", Path.of(u.getPath()).normalize().toString(), null);
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    }
    String p = u.getRawPath() == null ? "" : u.getRawPath().replaceAll("/+$", "");
    String port = u.getPort() < 0 ? "" : ":" + u.getPort();
    return URI.create(u.getScheme().toLowerCase(Locale.ROOT) + "://"
        + u.getHost().toLowerCase(Locale.ROOT) + port + p);
  }
}
